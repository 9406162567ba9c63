//! BEP 11 peer exchange, sans-IO: which peers to tell each connected peer about, and which
//! offered peers to accept.
//!
//! Each peer that advertised `ut_pex` gets, at most once per interval, the addresses of our
//! connected peers it was not told about yet (`added`) and those it was told about that are
//! gone (`dropped`). BEP 11: "peers should not send pex messages more than once per minute" and
//! "a single message should not contain more than 50 added and 50 dropped entries"; the rest
//! follows in later messages. Incoming messages arriving faster than half our interval are
//! ignored, and at most 50 added peers are taken from one.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use swarmfs_proto::PeerKey;
use swarmfs_wire::{Extended, Message, PexError, PexFlags, PexMessage};

/// The extended message id under which we want to receive ut_pex.
pub(crate) const OUR_UT_PEX: u8 = 2;
/// BEP 11's limit of added (and of dropped) entries per message.
pub(crate) const MAX_PER_MESSAGE: usize = 50;

/// One connected peer, as PEX needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LivePeer {
    pub(crate) key: PeerKey,
    /// Where it accepts connections, when known.
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) flags: PexFlags,
}

#[derive(Debug)]
struct PexPeer {
    ext_id: u8,
    /// Addresses this peer was told are connected.
    told: HashSet<SocketAddr>,
    last_sent: Option<Instant>,
    last_received: Option<Instant>,
}

/// PEX state of one torrent.
#[derive(Debug)]
pub(crate) struct Pex {
    interval: Duration,
    peers: HashMap<PeerKey, PexPeer>,
}

impl Pex {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            peers: HashMap::new(),
        }
    }

    /// The peer's extension handshake named `ext_id` for ut_pex (`None`: it does not speak it).
    pub(crate) fn set_peer(&mut self, key: PeerKey, ext_id: Option<u8>) {
        match ext_id {
            Some(ext_id) => {
                self.peers
                    .entry(key)
                    .and_modify(|p| p.ext_id = ext_id)
                    .or_insert(PexPeer {
                        ext_id,
                        told: HashSet::new(),
                        last_sent: None,
                        last_received: None,
                    });
            }
            None => {
                self.peers.remove(&key);
            }
        }
    }

    /// The messages due now, given the connected peers (peers gone from `live` are forgotten).
    pub(crate) fn poll_messages(
        &mut self,
        now: Instant,
        live: &[LivePeer],
    ) -> Vec<(PeerKey, Message)> {
        let keys: HashSet<PeerKey> = live.iter().map(|p| p.key).collect();
        self.peers.retain(|k, _| keys.contains(k));
        let mut out = Vec::new();
        for (key, p) in &mut self.peers {
            if p.last_sent
                .is_some_and(|at| now.duration_since(at) < self.interval)
            {
                continue;
            }
            let own = live.iter().find(|l| l.key == *key).and_then(|l| l.listen);
            let current: HashMap<SocketAddr, PexFlags> = live
                .iter()
                .filter(|l| l.key != *key)
                .filter_map(|l| l.listen.map(|a| (a, l.flags)))
                .filter(|(a, _)| Some(*a) != own)
                .collect();
            let mut msg = PexMessage::default();
            let mut added = 0;
            for (a, f) in &current {
                if added == MAX_PER_MESSAGE {
                    break;
                }
                if p.told.insert(*a) {
                    added += 1;
                    push_added(&mut msg, *a, *f);
                }
            }
            let gone: Vec<SocketAddr> = p
                .told
                .iter()
                .filter(|a| !current.contains_key(a))
                .take(MAX_PER_MESSAGE)
                .copied()
                .collect();
            for a in gone {
                p.told.remove(&a);
                push_dropped(&mut msg, a);
            }
            let empty = msg == PexMessage::default();
            if empty && p.last_sent.is_some() {
                continue;
            }
            p.last_sent = Some(now);
            let mut payload = BytesMut::new();
            msg.encode(&mut payload);
            out.push((
                *key,
                Message::Extended(Extended {
                    id: p.ext_id,
                    payload: payload.freeze(),
                }),
            ));
        }
        out
    }

    /// A ut_pex message from `key`: the added peers to try (at most 50), or nothing when the
    /// peer sends faster than allowed.
    pub(crate) fn receive(
        &mut self,
        key: PeerKey,
        now: Instant,
        payload: &[u8],
    ) -> Result<Vec<SocketAddr>, PexError> {
        let msg = PexMessage::decode(payload)?;
        if let Some(p) = self.peers.get_mut(&key) {
            if p.last_received
                .is_some_and(|at| now.duration_since(at) < self.interval / 2)
            {
                return Ok(Vec::new());
            }
            p.last_received = Some(now);
        }
        Ok(msg
            .added_peers()
            .take(MAX_PER_MESSAGE)
            .map(|(a, _)| a)
            .collect())
    }
}

fn push_added(msg: &mut PexMessage, a: SocketAddr, f: PexFlags) {
    match a {
        SocketAddr::V4(v4) => msg.added.push((v4, f)),
        SocketAddr::V6(v6) => msg.added6.push((v6, f)),
    }
}

fn push_dropped(msg: &mut PexMessage, a: SocketAddr) {
    match a {
        SocketAddr::V4(v4) => msg.dropped.push(v4),
        SocketAddr::V6(v6) => msg.dropped6.push(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn live(n: u64) -> Vec<LivePeer> {
        (0..n)
            .map(|i| LivePeer {
                key: PeerKey(i),
                listen: Some(addr(1000 + i as u16)),
                flags: PexFlags::REACHABLE,
            })
            .collect()
    }

    fn decode(m: &Message) -> (u8, PexMessage) {
        let Message::Extended(e) = m else {
            panic!("not extended: {m:?}");
        };
        (e.id, PexMessage::decode(&e.payload).expect("decodes"))
    }

    #[test]
    fn peers_learn_each_other_once_then_deltas() {
        let mut pex = Pex::new(Duration::from_secs(60));
        let now = Instant::now();
        let peers = live(3);
        pex.set_peer(PeerKey(0), Some(7));
        let out = pex.poll_messages(now, &peers);
        assert_eq!(out.len(), 1);
        let (id, m) = decode(&out[0].1);
        assert_eq!(id, 7);
        let mut added: Vec<SocketAddr> = m.added_peers().map(|(a, _)| a).collect();
        added.sort();
        // Everyone but the peer itself, flagged reachable.
        assert_eq!(added, vec![addr(1001), addr(1002)]);
        assert!(
            m.added_peers()
                .all(|(_, f)| f.contains(PexFlags::REACHABLE))
        );
        // Not again within the interval.
        assert!(
            pex.poll_messages(now + Duration::from_secs(59), &peers)
                .is_empty()
        );
        // After the interval: peer 2 is gone, peer 3 came.
        let mut next = live(4);
        next.remove(2);
        let out = pex.poll_messages(now + Duration::from_secs(60), &next);
        let (_, m) = decode(&out[0].1);
        assert_eq!(
            m.added_peers().map(|(a, _)| a).collect::<Vec<_>>(),
            vec![addr(1003)]
        );
        assert_eq!(m.dropped_peers().collect::<Vec<_>>(), vec![addr(1002)]);
        // Nothing changed: nothing sent.
        assert!(
            pex.poll_messages(now + Duration::from_secs(200), &next)
                .is_empty()
        );
    }

    #[test]
    fn a_message_holds_at_most_fifty_added_the_rest_follows() {
        let mut pex = Pex::new(Duration::from_secs(60));
        let now = Instant::now();
        let peers = live(131);
        pex.set_peer(PeerKey(0), Some(1));
        let mut seen = HashSet::new();
        for round in 0..3u64 {
            let at = now + Duration::from_secs(60 * round);
            let out = pex.poll_messages(at, &peers);
            let (_, m) = decode(&out[0].1);
            assert!(m.added.len() <= MAX_PER_MESSAGE);
            seen.extend(m.added_peers().map(|(a, _)| a));
        }
        assert_eq!(seen.len(), 130);
    }

    #[test]
    fn peers_without_ut_pex_or_gone_get_nothing() {
        let mut pex = Pex::new(Duration::from_secs(60));
        let now = Instant::now();
        pex.set_peer(PeerKey(1), Some(3));
        pex.set_peer(PeerKey(1), None);
        assert!(pex.poll_messages(now, &live(3)).is_empty());
        pex.set_peer(PeerKey(5), Some(3));
        assert!(
            pex.poll_messages(now, &live(3)).is_empty(),
            "key 5 is not connected"
        );
        assert!(pex.peers.is_empty());
    }

    #[test]
    fn incoming_is_bounded_and_rate_limited() {
        let mut pex = Pex::new(Duration::from_secs(60));
        let now = Instant::now();
        pex.set_peer(PeerKey(0), Some(1));
        let mut msg = PexMessage::default();
        for p in 0..200u16 {
            push_added(&mut msg, addr(2000 + p), PexFlags::default());
        }
        let mut bytes = BytesMut::new();
        msg.encode(&mut bytes);
        let got = pex.receive(PeerKey(0), now, &bytes).expect("valid");
        assert_eq!(got.len(), MAX_PER_MESSAGE);
        // A second message 10 s later is a flood: ignored.
        let again = pex.receive(PeerKey(0), now + Duration::from_secs(10), &bytes);
        assert_eq!(again.expect("valid"), Vec::<SocketAddr>::new());
        let later = pex.receive(PeerKey(0), now + Duration::from_secs(31), &bytes);
        assert_eq!(later.expect("valid").len(), MAX_PER_MESSAGE);
        assert!(pex.receive(PeerKey(0), now, b"garbage").is_err());
    }
}
