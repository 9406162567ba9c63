//! Peers announced to us (`announce_peer`), bounded and expiring.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::id::Id;

pub(crate) struct PeerStore {
    torrents: HashMap<Id, Vec<(SocketAddr, Instant)>>,
    max_torrents: usize,
    max_peers: usize,
    ttl: Duration,
}

impl PeerStore {
    pub(crate) fn new(max_torrents: usize, max_peers: usize, ttl: Duration) -> Self {
        PeerStore {
            torrents: HashMap::new(),
            max_torrents,
            max_peers,
            ttl,
        }
    }

    /// Stores (or refreshes) `peer` for `info_hash`. Returns false when the store is full.
    pub(crate) fn announce(&mut self, info_hash: Id, peer: SocketAddr, now: Instant) -> bool {
        if !self.torrents.contains_key(&info_hash) && self.torrents.len() >= self.max_torrents {
            self.expire(now);
            if self.torrents.len() >= self.max_torrents {
                return false;
            }
        }
        let expires = now + self.ttl;
        let peers = self.torrents.entry(info_hash).or_default();
        if let Some(entry) = peers.iter_mut().find(|(p, _)| *p == peer) {
            entry.1 = expires;
            return true;
        }
        if peers.len() >= self.max_peers {
            // Replace the entry closest to expiry.
            if let Some(oldest) = peers.iter_mut().min_by_key(|(_, at)| *at) {
                *oldest = (peer, expires);
            }
            return true;
        }
        peers.push((peer, expires));
        true
    }

    /// Up to `max` live peers of `info_hash`, of the same address family as `family`.
    pub(crate) fn peers(
        &self,
        info_hash: &Id,
        v6: bool,
        max: usize,
        now: Instant,
    ) -> Vec<SocketAddr> {
        self.torrents
            .get(info_hash)
            .map(|peers| {
                peers
                    .iter()
                    .filter(|(p, at)| *at > now && p.is_ipv6() == v6)
                    .take(max)
                    .map(|(p, _)| *p)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        self.torrents.retain(|_, peers| {
            peers.retain(|(_, at)| *at > now);
            !peers.is_empty()
        });
    }

    pub(crate) fn len(&self) -> usize {
        self.torrents.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_expiring() {
        let now = Instant::now();
        let mut store = PeerStore::new(2, 3, Duration::from_secs(60));
        let peer = |n: u8| SocketAddr::from(([10, 0, 0, n], 6881));
        let (a, b, c) = (Id([1; 20]), Id([2; 20]), Id([3; 20]));
        assert!(store.announce(a, peer(1), now));
        assert!(store.announce(b, peer(1), now));
        assert!(!store.announce(c, peer(1), now), "third torrent refused");
        for n in 2..=5 {
            store.announce(a, peer(n), now + Duration::from_secs(u64::from(n)));
        }
        assert_eq!(store.peers(&a, false, 10, now).len(), 3);
        assert_eq!(store.peers(&a, true, 10, now).len(), 0);
        store.expire(now + Duration::from_secs(61));
        assert!(
            store
                .peers(&b, false, 10, now + Duration::from_secs(61))
                .is_empty()
        );
        assert!(store.announce(c, peer(1), now + Duration::from_secs(61)));
    }
}
