//! Errors at the engine's public boundary, and why a peer connection ended.

use std::io;
use std::net::SocketAddr;

use swarmfs_metainfo::InfoHash;
use swarmfs_storage::{HashesError, PieceStoreError};

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// The DHT node could not start.
    #[error("cannot start the dht: {0}")]
    Dht(#[from] swarmfs_dht::DhtError),
    /// The LSD socket could not be opened or could not join its group.
    #[error("cannot start lsd on {group}: {source}")]
    Lsd {
        /// The multicast group.
        group: SocketAddr,
        /// The cause.
        source: io::Error,
    },
}

/// Why a torrent could not be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// The magnet names a mutable item (BEP 46), which the engine cannot resolve by itself.
    #[error("magnet has no info-hash")]
    NoInfoHash,
    /// The torrent is already in the engine.
    #[error("torrent {info_hash} is already added")]
    Duplicate {
        /// Its info-hash.
        info_hash: InfoHash,
    },
    /// The piece hashes do not fit the geometry.
    #[error(transparent)]
    Hashes(#[from] HashesError),
    /// A file path cannot be stored.
    #[error("file {index} has a path the storage refuses: {reason}")]
    Path {
        /// File index.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The piece store failed to open or check.
    #[error(transparent)]
    Storage(#[from] PieceStoreError),
    /// The engine is shut down.
    #[error("engine is shut down")]
    ShutDown,
}

/// Why an operation on a torrent failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TorrentError {
    /// The torrent was removed or the engine shut down.
    #[error("torrent was removed")]
    Removed,
    /// The info dictionary is not known yet.
    #[error("metadata not known yet")]
    NoMetadata,
    /// A byte range past the end of the torrent.
    #[error("range of {len} bytes at {offset} is outside the torrent ({total} bytes)")]
    OutOfRange {
        /// Offset asked for.
        offset: u64,
        /// Length asked for.
        len: u64,
        /// Torrent length.
        total: u64,
    },
    /// A file index past the end of the file list.
    #[error("file {index} out of range, torrent has {count} files")]
    NoSuchFile {
        /// Index asked for.
        index: usize,
        /// Files in the torrent.
        count: usize,
    },
    /// A piece index past the end of the torrent.
    #[error("piece {index} out of range, torrent has {count} pieces")]
    NoSuchPiece {
        /// Index asked for.
        index: u32,
        /// Pieces in the torrent.
        count: u32,
    },
    /// Bytes given for a piece are not as long as the piece.
    #[error("piece {index} is {expected} bytes, got {len}")]
    PieceLength {
        /// The piece.
        index: u32,
        /// Bytes given.
        len: usize,
        /// Length of the piece.
        expected: u32,
    },
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] PieceStoreError),
    /// The torrent cannot go on: its storage could not be opened or checked, or its info
    /// dictionary is unusable (also sent as [`crate::TorrentEvent::Error`]). Remove it.
    #[error("torrent failed: {reason}")]
    Failed {
        /// What went wrong.
        reason: String,
    },
}

/// Why a peer connection ended (internal; reported as text in events).
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    #[error("io: {0}")]
    Io(#[from] io::Error),
    #[error("handshake: {0}")]
    Handshake(#[from] swarmfs_wire::HandshakeError),
    #[error("decode: {0}")]
    Decode(#[from] swarmfs_wire::DecodeError),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("timed out: {0}")]
    Timeout(&'static str),
}
