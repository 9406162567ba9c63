//! Peer discovery: every source of candidate peers feeds a torrent through one interface.
//!
//! - A source is anything implementing [`Discovery`]: it is told about each torrent the engine
//!   adds ([`DiscoveryTorrent`]) and offers addresses through the torrent's [`PeerSink`]. The DHT
//!   (BEP 5) and local service discovery (BEP 14) are built-in sources; further ones (a
//!   rendezvous service) are added with [`EngineBuilder::discovery`](crate::EngineBuilder::discovery)
//!   without touching torrent code.
//! - Peer exchange (BEP 11), the magnet's `x.pe` peers and peers added by the user feed the same
//!   queue from inside the torrent.
//! - Each torrent keeps one bounded queue of candidates (de-duplicated across sources, with
//!   exponential backoff for addresses that failed) and dials from it as connection slots free.

mod config;
pub(crate) mod dht;
pub(crate) mod lsd;
pub(crate) mod pex;
pub(crate) mod queue;

use std::fmt;
use std::net::SocketAddr;

use swarmfs_metainfo::InfoHash;
use tokio::sync::mpsc;

pub(crate) use config::DiscoveryConfig;
pub use config::PUBLIC_DHT_BOOTSTRAP;

/// Where a candidate peer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerSource {
    /// The mainline DHT (BEP 5).
    Dht,
    /// Local service discovery (BEP 14).
    Lsd,
    /// Peer exchange (BEP 11).
    Pex,
    /// A magnet's `x.pe` or [`TorrentOptions::peers`](crate::TorrentOptions::peers).
    Static,
    /// [`TorrentHandle::add_peer`](crate::TorrentHandle::add_peer).
    User,
    /// A source added with [`EngineBuilder::discovery`](crate::EngineBuilder::discovery).
    Other(&'static str),
}

/// A source of candidate peers, shared by all torrents of an engine.
///
/// Implementations start their own work (tasks, sockets) in [`Discovery::add_torrent`] and stop
/// it for a torrent once [`PeerSink::is_closed`] (or [`PeerSink::closed`]) says the torrent ended.
pub trait Discovery: Send + Sync + fmt::Debug + 'static {
    /// A short name, for logs.
    fn name(&self) -> &'static str;

    /// The engine added `torrent`: find peers for it and offer them to [`DiscoveryTorrent::sink`].
    fn add_torrent(&self, torrent: DiscoveryTorrent);
}

/// A torrent as discovery sources see it.
#[derive(Clone, Debug)]
pub struct DiscoveryTorrent {
    /// The torrent's info-hash.
    pub info_hash: InfoHash,
    /// The TCP port peers reach us on.
    pub listen_port: u16,
    /// Where to offer candidate peers.
    pub sink: PeerSink,
}

/// Offers candidate peers to one torrent. Cheap to clone; bounded: offers beyond the torrent's
/// backlog are dropped rather than queued without limit.
#[derive(Clone, Debug)]
pub struct PeerSink {
    tx: mpsc::Sender<(SocketAddr, PeerSource)>,
}

impl PeerSink {
    /// Offers `addr`. Returns false when the offer was dropped (backlog full, or the torrent
    /// ended).
    pub fn offer(&self, addr: SocketAddr, source: PeerSource) -> bool {
        self.tx.try_send((addr, source)).is_ok()
    }

    /// Whether the torrent ended (stop looking for it).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves when the torrent ends.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// Offers not yet taken by the torrent task, per torrent.
pub(crate) const SINK_BACKLOG: usize = 1024;

/// A sink and the torrent's end of it.
pub(crate) fn sink() -> (PeerSink, mpsc::Receiver<(SocketAddr, PeerSource)>) {
    let (tx, rx) = mpsc::channel(SINK_BACKLOG);
    (PeerSink { tx }, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sink_is_bounded_and_reports_the_torrent_ending() {
        let (s, mut rx) = sink();
        let a = SocketAddr::from(([127, 0, 0, 1], 1));
        let accepted = (0..SINK_BACKLOG + 100)
            .filter(|_| s.offer(a, PeerSource::Dht))
            .count();
        assert_eq!(accepted, SINK_BACKLOG);
        assert_eq!(rx.recv().await, Some((a, PeerSource::Dht)));
        assert!(s.offer(a, PeerSource::Lsd));
        assert!(!s.is_closed());
        drop(rx);
        assert!(s.is_closed());
        assert!(!s.offer(a, PeerSource::Lsd));
        s.closed().await;
    }
}
