//! Errors of the bridge.

use swarmfs_http_storage::HttpError;

/// Why a bridge or web-seed operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// No URL was given.
    #[error("no url to bridge")]
    NoUrls,
    /// An origin failed (open, read, changed, vanished).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A URL's last path segment cannot name a file in a torrent.
    #[error("url {url} cannot name a torrent file: {reason}")]
    BadName {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The number of URLs does not fit the torrent's files.
    #[error("{urls} urls given for a torrent of {files} files")]
    UrlCount {
        /// URLs given.
        urls: usize,
        /// Files in the torrent.
        files: usize,
    },
    /// An origin's length differs from the torrent file it should hold.
    #[error("{url} is {actual} bytes, the torrent file is {expected}")]
    LengthMismatch {
        /// The URL.
        url: String,
        /// Length in the torrent.
        expected: u64,
        /// Length at the origin.
        actual: u64,
    },
    /// The origins hold nothing (every URL is empty).
    #[error("the urls hold no data")]
    Empty,
    /// The streamed data changed length while it was hashed.
    #[error("{url} delivered {got} bytes while streaming, expected {expected}")]
    ShortStream {
        /// The URL.
        url: String,
        /// Bytes expected.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The built info dictionary was refused by the metainfo layer.
    #[error("info dictionary: {0}")]
    Info(#[from] swarmfs_metainfo::InfoError),
    /// Torrent geometry or piece hashes are inconsistent.
    #[error("torrent geometry: {0}")]
    Geometry(String),
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] swarmfs_storage::StorageError),
    /// The piece store failed.
    #[error(transparent)]
    PieceStore(#[from] swarmfs_storage::PieceStoreError),
    /// The engine refused the torrent.
    #[error(transparent)]
    Add(#[from] swarmfs_engine::AddError),
    /// The torrent failed inside the engine.
    #[error(transparent)]
    Torrent(#[from] swarmfs_engine::TorrentError),
    /// Some pieces are not verified after seeding started.
    #[error("{verified} of {total} pieces verified after adding the torrent")]
    NotSeeding {
        /// Verified pieces.
        verified: u32,
        /// All pieces.
        total: u32,
    },
    /// A magnet names a public key (BEP 46), not an info-hash: resolve it first.
    #[error("a mutable (btpk) magnet has no info-hash to fetch metadata for")]
    MutableMagnet,
    /// A web-seed-only magnet has no `xs=` URL to fetch the `.torrent` from (web servers cannot
    /// answer metadata requests).
    #[error("no metadata source: a magnet without peers needs xs=<http url of the .torrent>")]
    NoMetadataSource,
    /// The document at an `xs=` URL is not a `.torrent` (nor an info dictionary).
    #[error("{url} is not a torrent: {reason}")]
    BadTorrent {
        /// The URL.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// The `.torrent` at an `xs=` URL is for another torrent.
    #[error("{url} holds torrent {actual}, the magnet names {expected}")]
    InfoHashMismatch {
        /// The URL.
        url: String,
        /// The magnet's info-hash (hex).
        expected: String,
        /// The fetched torrent's info-hash (hex).
        actual: String,
    },
    /// Web seeds left pieces missing.
    #[error("web seeds left {missing} of {total} pieces missing (last error: {last})")]
    WebSeedIncomplete {
        /// Pieces still missing.
        missing: u32,
        /// All pieces.
        total: u32,
        /// The last failure seen.
        last: String,
    },
}
