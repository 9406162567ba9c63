//! Versions of a BEP 46 mutable magnet, and the stream of newer ones an archive reports.

use swarmfs_metainfo::{InfoHash, Magnet};
use tokio::sync::watch;

/// One published version of a mutable magnet.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Version {
    /// The BEP 44 sequence number (higher is newer).
    pub seq: i64,
    /// The torrent this version points at.
    pub info_hash: InfoHash,
}

impl Version {
    /// The version's torrent as a plain magnet link.
    pub fn magnet(&self) -> String {
        Magnet::from_info_hash(self.info_hash).to_string()
    }
}

/// Newer versions of a mutable magnet, from [`Archive::updates`](crate::Archive::updates).
#[derive(Clone, Debug)]
pub struct Updates {
    rx: watch::Receiver<Option<Version>>,
}

impl Updates {
    pub(crate) fn new(mut rx: watch::Receiver<Option<Version>>) -> Self {
        // The version the archive was opened at counts as seen.
        rx.mark_unchanged();
        Self { rx }
    }

    /// Waits for a version newer than the last one returned (or than the one the archive was
    /// opened at); `None` once the archive is closed or the client stopped.
    pub async fn next(&mut self) -> Option<Version> {
        self.rx.changed().await.ok()?;
        self.rx.borrow_and_update().clone()
    }

    /// The newest version known.
    pub fn latest(&self) -> Option<Version> {
        self.rx.borrow().clone()
    }
}
