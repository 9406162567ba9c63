//! The DHT as a discovery source: one [`Dht`] node per engine, shared by every torrent.
//!
//! Per torrent a task runs lookups on a schedule: a `get_peers` lookup whose peers are offered
//! to the torrent as they arrive, then an `announce_peer` with our TCP listen port. The next
//! round comes after the announce interval, or sooner (the retry interval) when the lookup found
//! nobody. Ports received in BEP 5 `port` messages are pinged, which puts answering nodes into
//! the routing table.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use swarmfs_dht::{Dht, Id};
use tokio::sync::watch;

use super::{Discovery, DiscoveryTorrent, PeerSource};
use crate::tasks::Tasks;

/// Most distinct nodes pinged because of `port` messages (then the set is cleared).
const MAX_PINGED: usize = 1024;

/// The engine's DHT node as a [`Discovery`] source.
#[derive(Debug)]
pub(crate) struct DhtDiscovery {
    dht: Dht,
    tasks: Tasks,
    shutdown: watch::Receiver<bool>,
    announce_interval: Duration,
    retry_interval: Duration,
    pinged: Mutex<HashSet<SocketAddr>>,
}

impl DhtDiscovery {
    pub(crate) fn new(
        dht: Dht,
        tasks: Tasks,
        shutdown: watch::Receiver<bool>,
        announce_interval: Duration,
        retry_interval: Duration,
    ) -> Self {
        Self {
            dht,
            tasks,
            shutdown,
            announce_interval,
            retry_interval,
            pinged: Mutex::new(HashSet::new()),
        }
    }

    /// The node.
    pub(crate) fn dht(&self) -> &Dht {
        &self.dht
    }

    /// A peer told us (BEP 5 `port` message) that its DHT node listens at `addr`: ping it, so
    /// that it enters the routing table if it answers. Each address is pinged once.
    pub(crate) fn add_node(&self, addr: SocketAddr) {
        if addr.port() == 0 {
            return;
        }
        {
            let mut pinged = self.pinged.lock().unwrap_or_else(PoisonError::into_inner);
            if pinged.len() >= MAX_PINGED {
                pinged.clear();
            }
            if !pinged.insert(addr) {
                return;
            }
        }
        let dht = self.dht.clone();
        let mut shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                r = dht.ping(addr) => {
                    if let Err(e) = r {
                        tracing::debug!(%addr, error = %e, "dht node from port message did not answer");
                    }
                }
                _ = crate::engine::stopped(&mut shutdown) => {}
            }
        });
    }
}

impl Discovery for DhtDiscovery {
    fn name(&self) -> &'static str {
        "dht"
    }

    fn add_torrent(&self, torrent: DiscoveryTorrent) {
        let dht = self.dht.clone();
        let mut shutdown = self.shutdown.clone();
        let (announce, retry) = (self.announce_interval, self.retry_interval);
        self.tasks.spawn(async move {
            let sink = torrent.sink.clone();
            tokio::select! {
                _ = rounds(dht, torrent, announce, retry) => {}
                _ = sink.closed() => {}
                _ = crate::engine::stopped(&mut shutdown) => {}
            }
        });
    }
}

/// Lookup and announce rounds for one torrent, until the DHT stops.
async fn rounds(dht: Dht, t: DiscoveryTorrent, announce: Duration, retry: Duration) {
    let ih = Id(*t.info_hash.as_bytes());
    if dht.bootstrapped().await.is_err() {
        return;
    }
    loop {
        let Ok(mut peers) = dht.get_peers(ih) else {
            return;
        };
        let mut found = 0usize;
        while let Some(p) = peers.next().await {
            found += 1;
            t.sink.offer(p, PeerSource::Dht);
        }
        match dht.announce_peer(ih, Some(t.listen_port)).await {
            Ok(n) => tracing::debug!(info_hash = %t.info_hash, nodes = n, found, "dht announce"),
            Err(e) => tracing::debug!(info_hash = %t.info_hash, error = %e, "dht announce failed"),
        }
        tokio::time::sleep(if found == 0 { retry } else { announce }).await;
    }
}
