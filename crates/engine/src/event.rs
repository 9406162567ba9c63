//! What a torrent reports: events as they happen and statistics on demand.

use std::net::SocketAddr;
use std::time::Duration;

/// Something that happened to a torrent (from [`TorrentHandle::events`](crate::TorrentHandle::events)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TorrentEvent {
    /// The info dictionary is known (fetched from peers, or given when added).
    Metadata,
    /// A piece's hash matched; its bytes are readable.
    PieceVerified(u32),
    /// A piece failed its hash and will be fetched again.
    HashFailed(u32),
    /// A verified piece could not be read back from storage (serving it to a peer failed, for
    /// example because an HTTP origin changed). It is no longer advertised or served, and not
    /// fetched again by itself (its priority becomes skip; raise a file priority to re-fetch).
    PieceLost {
        /// The piece.
        piece: u32,
        /// The storage error.
        error: String,
    },
    /// Every wanted piece is verified; the torrent seeds.
    Done,
    /// A peer connection was established.
    PeerConnected(SocketAddr),
    /// A peer connection ended.
    PeerDisconnected {
        /// The peer.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A peer was banned (bad data or bad metadata).
    PeerBanned(SocketAddr),
    /// Something failed (storage, metadata); the torrent keeps running where it can.
    Error(String),
}

/// A snapshot of a torrent's progress.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct TorrentStats {
    /// Payload bytes received and accepted (duplicates excluded).
    pub downloaded: u64,
    /// Payload bytes sent.
    pub uploaded: u64,
    /// Download rate, bytes per second (last two seconds).
    pub download_rate: f64,
    /// Upload rate, bytes per second (last two seconds).
    pub upload_rate: f64,
    /// Connected peers.
    pub peers: usize,
    /// Verified pieces.
    pub pieces_verified: u32,
    /// Pieces in the torrent (0 before the metadata is known).
    pub pieces_total: u32,
    /// Verified bytes over wanted bytes, 0.0 to 1.0 (0.0 before the metadata is known).
    pub progress: f64,
    /// Whether every wanted piece is verified.
    pub done: bool,
    /// Whether the torrent is paused.
    pub paused: bool,
    /// Remaining wanted bytes over the current download rate, if it is not zero.
    pub time_remaining: Option<Duration>,
    /// Pieces that failed their hash.
    pub hash_failures: u32,
}
