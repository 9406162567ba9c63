//! Errors at the library's public boundary, one enum per operation family.

use std::path::PathBuf;
use std::time::Duration;

use swarmfs_dht::DhtError;
use swarmfs_engine::{AddError, EngineError, TorrentError};
use swarmfs_metainfo::{BuildError, InfoHash, MagnetError, PathError};
use swarmfs_storage::StorageError;

/// Why a [`Client`](crate::Client) could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The torrent engine (its listener, its DHT node) could not start.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Why a [`Client::lookup`](crate::Client::lookup) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// The URL is not a magnet link swarmfs understands.
    #[error("bad magnet: {0}")]
    BadUrl(#[from] MagnetError),
    /// No metadata (or, for a mutable magnet, no item) arrived in time.
    #[error("no metadata after {timeout:?}")]
    TimedOut {
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The mutable magnet names an item that no DHT node holds.
    #[error("no mutable item published under {public_key}")]
    NoItem {
        /// The public key, hex.
        public_key: String,
    },
    /// The mutable item's value is not a BEP 46 `{ih: <20 bytes>}` dictionary.
    #[error("mutable item under {public_key} is not a bep 46 value")]
    NotBep46 {
        /// The public key, hex.
        public_key: String,
    },
    /// A mutable magnet needs the DHT, which this client runs without.
    #[error("mutable magnet needs the dht, which is switched off")]
    NoDht,
    /// The DHT failed.
    #[error(transparent)]
    Dht(#[from] DhtError),
    /// The engine refused the torrent.
    #[error(transparent)]
    Add(#[from] AddError),
    /// The torrent failed while its metadata was awaited.
    #[error(transparent)]
    Torrent(#[from] TorrentError),
    /// Adding the torrent with its web seeds (BEP 19) failed.
    #[error(transparent)]
    WebSeed(swarmfs_bridge::BridgeError),
    /// The client is stopped.
    #[error("client is stopped")]
    Stopped,
}

/// Why a [`Client::seed`](crate::Client::seed) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// The archive has no file (torrents cannot be empty).
    #[error("archive has no file to seed")]
    Empty,
    /// Hashing the files failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The draft's storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The engine refused the torrent.
    #[error(transparent)]
    Add(#[from] AddError),
    /// The torrent failed while it was checked.
    #[error(transparent)]
    Torrent(#[from] TorrentError),
    /// The data changed between hashing and checking (some piece failed its hash).
    #[error("{failed} of {total} pieces of {info_hash} failed their check")]
    Unverified {
        /// The torrent.
        info_hash: InfoHash,
        /// Pieces that did not verify.
        failed: u32,
        /// Pieces in the torrent.
        total: u32,
    },
    /// The directory to seed has no usable name or parent.
    #[error("cannot seed {path}: {reason}")]
    BadDir {
        /// The path given.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// The client is stopped.
    #[error("client is stopped")]
    Stopped,
}

/// Why a [`Client::publish`](crate::Client::publish) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The URL is not a magnet link with an info-hash.
    #[error("bad magnet: {0}")]
    BadUrl(#[from] MagnetError),
    /// The magnet names a mutable item; publish an immutable `xt=urn:btih:` magnet.
    #[error("magnet has no info-hash to publish")]
    NoInfoHash,
    /// The salt is longer than BEP 44 allows (64 bytes).
    #[error("salt is {len} bytes, more than 64")]
    SaltTooLong {
        /// Its length.
        len: usize,
    },
    /// Another publisher stored a different version first (BEP 44 compare-and-swap refused):
    /// resolve the magnet again and decide.
    #[error("another version was published meanwhile (we expected seq {expected:?})")]
    Conflict {
        /// The sequence number we expected to replace (`None`: no item).
        expected: Option<i64>,
    },
    /// Publishing needs the DHT, which this client runs without.
    #[error("publishing needs the dht, which is switched off")]
    NoDht,
    /// The DHT failed or no node stored the item.
    #[error(transparent)]
    Dht(DhtError),
    /// Signing failed.
    #[error("cannot sign item: {0}")]
    Sign(#[from] swarmfs_dht::ItemError),
    /// The client is stopped.
    #[error("client is stopped")]
    Stopped,
}

/// Why an [`Archive`](crate::Archive) operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The path is not a safe `/`-separated path inside the archive (e.g. it holds `..`).
    #[error("invalid path {path:?}: {source}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// Why it is refused.
        #[source]
        source: PathError,
    },
    /// Nothing lives at this path.
    #[error("{path} not found")]
    NotFound {
        /// The path.
        path: String,
    },
    /// A directory was used as a file.
    #[error("{path} is a directory")]
    IsDirectory {
        /// The path.
        path: String,
    },
    /// A file was used as a directory.
    #[error("{path} is not a directory")]
    NotDirectory {
        /// The path.
        path: String,
    },
    /// The file does not fit in memory on this platform (use [`Archive::open`](crate::Archive::open)).
    #[error("{path} is {len} bytes, too large to read at once")]
    TooLarge {
        /// The path.
        path: String,
        /// Its length.
        len: u64,
    },
    /// Writing to an archive that came from the swarm.
    #[error("archive is read-only")]
    ReadOnly,
    /// The archive was closed.
    #[error("archive is closed")]
    Closed,
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The torrent failed (removed, or the engine stopped).
    #[error(transparent)]
    Torrent(#[from] TorrentError),
}

/// Why a [`Keypair`](crate::Keypair) could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeypairError {
    /// Reading or writing the file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold 64 hex characters (a 32-byte ed25519 secret key).
    #[error("key file {path} does not hold a 64-character hex secret key")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
}
