//! Building the torrent of a seed with progress: [`SeedProgress`] reports, and the piece
//! hashing behind [`Client::seed_with_progress`](crate::Client::seed_with_progress).
//!
//! The torrent is `swarmfs_metainfo::TorrentBuilder`'s (hashing on all cores), run on a
//! blocking thread while its hashed-bytes counter is read for the reports.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use swarmfs_metainfo::{BuildError, Info, PathPlan, SafePath, TorrentBuilder};

use crate::error::SeedError;

/// How often progress is reported while a phase runs.
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// What a seed is doing when it reports [`SeedProgress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeedPhase {
    /// Hashing the files into a torrent (reported about every 100 ms).
    Hashing,
    /// The engine checking the data against the torrent before it seeds (reported when it
    /// starts and when it ends).
    Checking,
}

/// Progress of [`Client::seed_with_progress`](crate::Client::seed_with_progress) and
/// [`Client::seed_path_with_progress`](crate::Client::seed_path_with_progress).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeedProgress {
    /// The phase.
    pub phase: SeedPhase,
    /// Bytes of the phase done so far.
    pub done_bytes: u64,
    /// Bytes the phase covers (the torrent's total length).
    pub total_bytes: u64,
}

impl SeedProgress {
    pub(crate) fn new(phase: SeedPhase, done_bytes: u64, total_bytes: u64) -> Self {
        Self {
            phase,
            done_bytes,
            total_bytes,
        }
    }
}

/// The files of a torrent to build, found before any byte is hashed (so the total is known).
pub(crate) enum Plan {
    /// A multi-file torrent of in-memory files.
    Entries {
        name: String,
        entries: Vec<(SafePath, Vec<u8>)>,
    },
    /// A file or directory on disk.
    Path(PathPlan),
}

impl Plan {
    /// A multi-file torrent named `name` of in-memory files.
    pub(crate) fn entries(name: &str, entries: Vec<(SafePath, Vec<u8>)>) -> Self {
        Self::Entries {
            name: name.to_owned(),
            entries,
        }
    }

    /// A file or a directory, as the builder's `build_path` reads it. Blocking.
    pub(crate) fn path(path: &Path) -> Result<Self, BuildError> {
        PathPlan::new(path).map(Self::Path)
    }

    /// The torrent's total length.
    pub(crate) fn total(&self) -> u64 {
        match self {
            Self::Entries { entries, .. } => entries
                .iter()
                .fold(0u64, |a, e| a.saturating_add(e.1.len() as u64)),
            Self::Path(plan) => plan.total_length(),
        }
    }

    /// Hashes every piece with `TorrentBuilder` on a blocking thread, calling `progress` about
    /// every 100 ms and once at the end, and returns the info dictionary.
    pub(crate) async fn build(
        self,
        progress: &mut (dyn FnMut(SeedProgress) + Send),
    ) -> Result<Info, SeedError> {
        let total = self.total();
        if total == 0 {
            return Err(SeedError::Empty);
        }
        let done = Arc::new(AtomicU64::new(0));
        let mut builder = TorrentBuilder::new();
        builder.progress(done.clone());
        progress(SeedProgress::new(SeedPhase::Hashing, 0, total));
        let mut task = tokio::task::spawn_blocking(move || match &self {
            Self::Entries { name, entries } => builder.build_entries(name, entries),
            Self::Path(plan) => builder.build_plan(plan),
        });
        let torrent = loop {
            tokio::select! {
                joined = &mut task => break joined.map_err(|_| SeedError::Stopped)??,
                () = tokio::time::sleep(REPORT_EVERY) => {
                    let now = done.load(Ordering::Relaxed);
                    progress(SeedProgress::new(SeedPhase::Hashing, now, total));
                }
            }
        };
        progress(SeedProgress::new(SeedPhase::Hashing, total, total));
        Ok(torrent.into_info())
    }
}
