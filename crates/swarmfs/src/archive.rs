//! [`Archive`]: a torrent (or a draft of one) seen as a read-only or writable directory tree.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use swarmfs_bridge::{WebSeedStats, WebSeeder};
use swarmfs_engine::TorrentHandle;
use swarmfs_metainfo::{Info, InfoHash, Magnet, SafePath};
use swarmfs_storage::{StorageFactory, StoragePath};
use tokio::sync::watch;

use crate::draft::Draft;
use crate::error::ArchiveError;
use crate::file::{ArchiveFile, MAX_CHUNK, Source};
use crate::tree::{DirEntry, Found, Metadata, Node, Tree, parse_file_path, parse_path};
use crate::updates::{Updates, Version};

/// Name of a draft's torrent unless told otherwise.
pub const DEFAULT_NAME: &str = "archive";

/// A directory tree of files: either a torrent found through
/// [`Client::lookup`](crate::Client::lookup), read on demand from the swarm, or a draft built
/// with [`Archive::new`] and [`Archive::write_file`] before [`Client::seed`](crate::Client::seed).
///
/// Paths are `/`-separated from the archive root (`"/"` or `""`); a leading `/` is optional.
/// Components `..`, `.` and empty ones are refused ([`ArchiveError::InvalidPath`]), so no path
/// reaches outside the archive. Cloning gives another handle to the same archive.
#[derive(Clone, Debug)]
pub struct Archive {
    inner: Arc<Kind>,
}

#[derive(Debug)]
enum Kind {
    Draft(Draft),
    Swarm(Swarm),
}

/// A torrent of the engine.
#[derive(Debug)]
pub(crate) struct Swarm {
    pub(crate) handle: TorrentHandle,
    pub(crate) info: Arc<Info>,
    /// Files by path; the data is the file's offset in the torrent's byte stream.
    tree: Tree<u64>,
    /// Whether closing removes the torrent from the engine (it was added for this archive).
    owned: bool,
    pub(crate) magnet: Magnet,
    closed: AtomicBool,
    /// Turns `true` on close: the archive's background tasks end.
    pub(crate) close_signal: watch::Sender<bool>,
    updates: Option<watch::Receiver<Option<Version>>>,
    /// The BEP 19 driver of the torrent's web seeds (stopped when dropped or on close).
    web_seeder: Mutex<Option<WebSeeder>>,
}

/// What [`Client::lookup`](crate::Client::lookup) opened, to make an [`Archive`] of.
pub(crate) struct Opened {
    pub(crate) handle: TorrentHandle,
    pub(crate) info: Arc<Info>,
    pub(crate) owned: bool,
    pub(crate) magnet: Magnet,
    pub(crate) updates: Option<watch::Receiver<Option<Version>>>,
    pub(crate) web_seeder: Option<WebSeeder>,
}

impl Swarm {
    fn web_seeder(&self) -> std::sync::MutexGuard<'_, Option<WebSeeder>> {
        self.web_seeder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Archive {
    /// An empty draft named [`DEFAULT_NAME`], whose files go to `storage`.
    pub fn new(storage: Arc<dyn StorageFactory>) -> Self {
        Self::with_name(DEFAULT_NAME, storage)
    }

    /// An empty draft; `name` becomes the torrent's name (the directory peers save it in).
    pub fn with_name(name: &str, storage: Arc<dyn StorageFactory>) -> Self {
        Self {
            inner: Arc::new(Kind::Draft(Draft::new(name.to_owned(), storage))),
        }
    }

    pub(crate) fn from_swarm(opened: Opened) -> Self {
        let Opened {
            handle,
            info,
            owned,
            magnet,
            updates,
            web_seeder,
        } = opened;
        let tree = info
            .files()
            .iter()
            .filter(|f| !f.is_pad())
            .map(|f| {
                (
                    f.path().clone(),
                    Node {
                        len: f.length(),
                        data: f.offset(),
                    },
                )
            })
            .collect();
        Self {
            inner: Arc::new(Kind::Swarm(Swarm {
                handle,
                info,
                tree,
                owned,
                magnet,
                closed: AtomicBool::new(false),
                close_signal: watch::Sender::new(false),
                updates,
                web_seeder: Mutex::new(web_seeder),
            })),
        }
    }

    pub(crate) fn draft(&self) -> Option<&Draft> {
        match &*self.inner {
            Kind::Draft(d) => Some(d),
            Kind::Swarm(_) => None,
        }
    }

    pub(crate) fn swarm(&self) -> Option<&Swarm> {
        match &*self.inner {
            Kind::Swarm(s) => Some(s),
            Kind::Draft(_) => None,
        }
    }

    fn live_swarm(&self) -> Result<Option<&Swarm>, ArchiveError> {
        match self.swarm() {
            Some(s) if s.closed.load(Ordering::Acquire) => Err(ArchiveError::Closed),
            s => Ok(s),
        }
    }

    /// Whether this is a writable draft.
    pub fn is_draft(&self) -> bool {
        self.draft().is_some()
    }

    /// The torrent's info-hash (`None` for a draft).
    pub fn info_hash(&self) -> Option<InfoHash> {
        self.swarm().map(|s| s.handle.info_hash())
    }

    /// The magnet link the torrent was opened with (a mutable magnet resolved to the version's
    /// info-hash); `None` for a draft.
    pub fn magnet(&self) -> Option<String> {
        self.swarm().map(|s| s.magnet.to_string())
    }

    /// The torrent's name (a draft's name).
    pub fn name(&self) -> &str {
        match &*self.inner {
            Kind::Draft(d) => &d.name,
            Kind::Swarm(s) => s.info.name(),
        }
    }

    /// The engine's handle of the torrent, for statistics and events (`None` for a draft).
    pub fn torrent(&self) -> Option<&TorrentHandle> {
        self.swarm().map(|s| &s.handle)
    }

    /// What the torrent's web seeds (BEP 19) delivered so far: `None` for a draft, an archive
    /// whose torrent was already open in the client, or a closed archive.
    pub fn web_seed_stats(&self) -> Option<WebSeedStats> {
        self.swarm()?.web_seeder().as_ref().map(WebSeeder::stats)
    }

    /// Newer versions of the mutable magnet this archive was opened from (`None` when it was
    /// opened from a plain magnet, or is a draft). The client polls the DHT for them until the
    /// archive is closed or the client stops.
    pub fn updates(&self) -> Option<Updates> {
        self.swarm()?.updates.clone().map(Updates::new)
    }

    /// The entries directly inside directory `path`, sorted by name.
    pub async fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, ArchiveError> {
        let dir = parse_path(path)?;
        let listed = match self.live_swarm()? {
            Some(s) => s.tree.list(dir.as_ref()),
            None => self.draft_tree(|t| t.list(dir.as_ref())),
        };
        listed.ok_or_else(|| self.missing_or_file(path, dir.as_ref()))
    }

    /// Length and kind of what `path` names.
    pub async fn metadata(&self, path: &str) -> Result<Metadata, ArchiveError> {
        let p = parse_path(path)?;
        let meta = match self.live_swarm()? {
            Some(s) => metadata_of(s.tree.find(p.as_ref())),
            None => self.draft_tree(|t| metadata_of(t.find(p.as_ref()))),
        };
        meta.ok_or_else(|| ArchiveError::NotFound {
            path: path.to_owned(),
        })
    }

    /// The whole content of file `path` (for a swarm archive, its pieces are fetched first,
    /// most urgent).
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>, ArchiveError> {
        let file = self.open(path).await?;
        let too_large = || ArchiveError::TooLarge {
            path: path.to_owned(),
            len: file.len(),
        };
        let len = usize::try_from(file.len()).map_err(|_| too_large())?;
        // The length comes from the torrent's metadata: fail cleanly instead of aborting when
        // it is more than this process can hold, and fill the buffer only as bytes arrive.
        let mut out = Vec::new();
        out.try_reserve_exact(len).map_err(|_| too_large())?;
        if let Source::Torrent { handle, offset } = file.source() {
            // One wait for the whole file lets the engine fetch its pieces in parallel.
            handle.wait_range(*offset, file.len()).await?;
        }
        while out.len() < len {
            let at = out.len();
            let n = (len - at).min(MAX_CHUNK);
            out.resize(at + n, 0);
            match file.source() {
                Source::Blob(blob) => blob.read_at(at as u64, &mut out[at..]).await?,
                Source::Torrent { handle, offset } => {
                    handle
                        .read_range(offset + at as u64, &mut out[at..])
                        .await?;
                }
            }
        }
        Ok(out)
    }

    /// Opens file `path` for reading and seeking; a swarm archive fetches what is read, when it
    /// is read.
    pub async fn open(&self, path: &str) -> Result<ArchiveFile, ArchiveError> {
        let p = parse_file_path(path)?;
        if let Some(s) = self.live_swarm()? {
            return match s.tree.find(Some(&p)) {
                Some(Found::File(n)) => Ok(ArchiveFile::new(
                    Source::Torrent {
                        handle: s.handle.clone(),
                        offset: n.data,
                    },
                    n.len,
                )),
                Some(Found::Dir(_)) => Err(ArchiveError::IsDirectory {
                    path: path.to_owned(),
                }),
                None => Err(self.missing(path)),
            };
        }
        let Some(d) = self.draft() else {
            return Err(ArchiveError::Closed);
        };
        let found: Result<(StoragePath, u64), ArchiveError> =
            d.with_tree(|t| match t.find(Some(&p)) {
                Some(Found::File(n)) => Ok((n.data.clone(), n.len)),
                Some(Found::Dir(_)) => Err(ArchiveError::IsDirectory {
                    path: path.to_owned(),
                }),
                None => Err(self.missing(path)),
            });
        let (blob, len) = found?;
        let file = d.open_blob(&blob).await?;
        Ok(ArchiveFile::new(Source::Blob(file), len))
    }

    /// Writes (or replaces) file `path` of a draft; missing parent directories are implied.
    pub async fn write_file(&self, path: &str, data: impl AsRef<[u8]>) -> Result<(), ArchiveError> {
        let p = parse_file_path(path)?;
        self.writable()?.write_file(p, data.as_ref()).await
    }

    /// Creates directory `path` (and its parents) in a draft. A directory with no file below it
    /// is not part of the torrent once seeded (BitTorrent has no empty directories).
    pub async fn create_dir(&self, path: &str) -> Result<(), ArchiveError> {
        match parse_path(path)? {
            Some(p) => self.writable()?.create_dir(p),
            None => self.writable().map(|_| ()),
        }
    }

    /// Removes file `path`, or directory `path` with everything below it, from a draft.
    pub async fn remove(&self, path: &str) -> Result<(), ArchiveError> {
        let p = parse_path(path)?.ok_or_else(|| ArchiveError::InvalidPath {
            path: path.to_owned(),
            source: swarmfs_metainfo::PathError::Empty,
        })?;
        self.writable()?.remove(&p).await
    }

    /// Stops using the archive: a torrent added for it is removed from the engine (it is no
    /// longer seeded) and its update polling ends. Later reads fail with
    /// [`ArchiveError::Closed`]. Closing a draft does nothing.
    pub async fn close(&self) -> Result<(), ArchiveError> {
        let Some(s) = self.swarm() else {
            return Ok(());
        };
        if s.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        s.close_signal.send_replace(true);
        drop(s.web_seeder().take());
        if s.owned {
            match s.handle.remove(false).await {
                Ok(()) | Err(swarmfs_engine::TorrentError::Removed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn writable(&self) -> Result<&Draft, ArchiveError> {
        self.draft().ok_or(ArchiveError::ReadOnly)
    }

    fn draft_tree<R>(&self, f: impl FnOnce(&Tree<StoragePath>) -> Option<R>) -> Option<R> {
        self.draft().and_then(|d| d.with_tree(f))
    }

    fn missing(&self, path: &str) -> ArchiveError {
        ArchiveError::NotFound {
            path: path.to_owned(),
        }
    }

    /// `NotDirectory` when `dir` is a file, else `NotFound`.
    fn missing_or_file(&self, path: &str, dir: Option<&SafePath>) -> ArchiveError {
        let is_file = match (self.swarm(), dir) {
            (Some(s), Some(d)) => matches!(s.tree.find(Some(d)), Some(Found::File(_))),
            (None, Some(d)) => self
                .draft_tree(|t| Some(matches!(t.find(Some(d)), Some(Found::File(_)))))
                .unwrap_or(false),
            _ => false,
        };
        if is_file {
            ArchiveError::NotDirectory {
                path: path.to_owned(),
            }
        } else {
            self.missing(path)
        }
    }
}

fn metadata_of<T>(found: Option<Found<'_, T>>) -> Option<Metadata> {
    match found? {
        Found::File(n) => Some(Metadata {
            len: n.len,
            is_dir: false,
        }),
        Found::Dir(len) => Some(Metadata { len, is_dir: true }),
    }
}
