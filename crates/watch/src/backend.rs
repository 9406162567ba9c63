//! The backend trait (dTorrent's "client wrapper"): what the manager needs from a torrent server.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::record::TorrentRecord;

/// A failure of a backend operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// No torrent with that info-hash.
    #[error("no torrent {hash}")]
    NotFound {
        /// The info-hash asked for.
        hash: String,
    },
    /// The info-hash is not 40 hex digits.
    #[error("bad info-hash {hash:?}")]
    BadHash {
        /// What was given.
        hash: String,
    },
    /// The .torrent bytes did not parse.
    #[error("bad torrent: {reason}")]
    BadTorrent {
        /// Why.
        reason: String,
    },
    /// The data given with a torrent does not match its piece hashes.
    #[error("data at {path} does not match the torrent ({verified}/{total} pieces verified)")]
    DataMismatch {
        /// The data's path.
        path: PathBuf,
        /// Pieces that matched.
        verified: u32,
        /// Pieces in the torrent.
        total: u32,
    },
    /// Talking to the backend failed.
    #[error("{backend} i/o: {source}")]
    Io {
        /// What was being reached.
        backend: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The backend answered something we could not use.
    #[error("protocol error: {reason}")]
    Protocol {
        /// What was wrong.
        reason: String,
    },
    /// The backend refused the operation.
    #[error("backend refused: {reason}")]
    Refused {
        /// Its message.
        reason: String,
    },
    /// The backend did not answer in time.
    #[error("backend timed out after {millis} ms")]
    Timeout {
        /// The limit.
        millis: u64,
    },
}

/// A torrent server the manager watches. Implement it to watch your own client.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Info-hashes (40 lowercase hex digits) of the current torrents.
    async fn list(&self) -> Result<Vec<String>, BackendError>;
    /// The record of one torrent.
    async fn get(&self, hash: &str) -> Result<TorrentRecord, BackendError>;
    /// Records of every torrent (default: `list` then `get` each; a torrent vanishing in
    /// between is skipped).
    async fn get_all(&self) -> Result<Vec<TorrentRecord>, BackendError> {
        let mut out = Vec::new();
        for h in self.list().await? {
            match self.get(&h).await {
                Ok(r) => out.push(r),
                Err(BackendError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
    /// Stops transfers of a torrent.
    async fn pause(&self, hash: &str) -> Result<(), BackendError>;
    /// Restarts transfers of a torrent.
    async fn resume(&self, hash: &str) -> Result<(), BackendError>;
    /// Removes a torrent, and its data if `with_data`.
    async fn remove(&self, hash: &str, with_data: bool) -> Result<(), BackendError>;
    /// Adds a torrent from .torrent bytes (downloads it); returns its info-hash.
    async fn add_torrent(&self, torrent: &[u8]) -> Result<String, BackendError>;
    /// Adds a torrent whose data already lies under `path`: the data is verified, then seeded.
    async fn add_torrent_with_data(
        &self,
        torrent: &[u8],
        path: PathBuf,
    ) -> Result<String, BackendError>;
    /// A notifier the backend signals when something changed, so the manager polls at once
    /// instead of waiting for the interval (push backends). `None`: poll only.
    fn changes(&self) -> Option<Arc<Notify>> {
        None
    }
}
