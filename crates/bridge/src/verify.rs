//! The verifying layer between the engine and an origin: every piece read from the origin is
//! hashed before any of its bytes leave this layer; a piece whose hash fails is refused (the read
//! fails, so the engine never sends those bytes to a peer) and a [`BridgeEvent`] is reported.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha1::{Digest, Sha1};
use swarmfs_http_storage::HttpError;
use swarmfs_metainfo::{Geometry, PieceIndex};
use swarmfs_storage::{
    FileStamp, MetaName, RandomAccess, StorageError, StorageFactory, StoragePath, checked_end,
};
use tokio::sync::broadcast;

/// Verified pieces kept in memory for the next reads of the same piece.
const CACHED_PIECES: usize = 8;
/// A refused piece is refused again without asking the origin for this long, so peers that
/// keep requesting it cannot make the bridge hammer the origin.
const REFUSE_COOLDOWN: Duration = Duration::from_secs(2);

/// What the verifying layer reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BridgeEvent {
    /// A piece fetched from the origin matched its hash (reported the first time only).
    PieceVerified(u32),
    /// A piece fetched from the origin did not match its hash: it was refused and not served
    /// (reported the first time only; [`VerifyStats::pieces_refused`] counts every refusal).
    PieceRefused {
        /// The piece.
        piece: u32,
    },
    /// The engine stopped advertising a piece because serving it failed (refused, origin
    /// changed or down). The bridge keeps trying it and reports [`BridgeEvent::PieceRestored`]
    /// when it verifies again.
    PieceLost {
        /// The piece.
        piece: u32,
        /// Why serving it failed.
        error: String,
    },
    /// A lost piece verified again from the origin and is advertised again.
    PieceRestored(u32),
    /// An origin changed or vanished since it was opened; reads touching it fail.
    OriginChanged {
        /// Index of the torrent file.
        file: usize,
        /// The error the origin gave.
        error: String,
    },
}

/// Counters of a [`VerifyingStorage`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyStats {
    /// Pieces fetched from the origin and verified (repeats counted).
    pub pieces_verified: u64,
    /// Pieces fetched from the origin whose hash failed.
    pub pieces_refused: u64,
    /// Bytes handed to readers (the engine).
    pub bytes_served: u64,
}

/// Called with `(file index, offset, len)` for the file spans of a refused piece, so a caching
/// layer below can drop them and fetch them again next time.
pub type Evict = Arc<dyn Fn(usize, u64, u64) + Send + Sync>;

struct Evictor(Evict);

impl std::fmt::Debug for Evictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Evictor")
    }
}

/// A read-only [`StorageFactory`] over the files of one torrent that hashes every piece it
/// fetches from the inner storage before serving any byte of it.
#[derive(Debug)]
pub struct VerifyingStorage {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    geometry: Geometry,
    hashes: Vec<[u8; 20]>,
    paths: Vec<StoragePath>,
    files: Vec<Arc<dyn RandomAccess>>,
    meta: Mutex<HashMap<String, Vec<u8>>>,
    cache: Mutex<VecDeque<(u32, Arc<Vec<u8>>)>>,
    seen: Mutex<Vec<bool>>,
    seen_bad: Mutex<Vec<bool>>,
    evict: std::sync::OnceLock<Evictor>,
    refused_at: Mutex<HashMap<u32, Instant>>,
    events: broadcast::Sender<BridgeEvent>,
    verified: AtomicU64,
    refused: AtomicU64,
    served: AtomicU64,
}

/// Error kind of a refused piece, inside [`StorageError::Io`].
#[derive(Debug, thiserror::Error)]
#[error("piece {piece} from the origin does not match its hash: refused")]
pub struct PieceRefused {
    /// The piece.
    pub piece: u32,
}

impl VerifyingStorage {
    /// Opens every file of the torrent (`paths` in geometry order) from `inner` and wraps them.
    pub async fn open(
        inner: &dyn StorageFactory,
        geometry: Geometry,
        paths: Vec<StoragePath>,
        hashes: Vec<[u8; 20]>,
    ) -> Result<Self, StorageError> {
        let mut files = Vec::with_capacity(paths.len());
        for p in &paths {
            files.push(inner.open(p).await?);
        }
        let (events, _) = broadcast::channel(1024);
        let n = geometry.piece_count() as usize;
        Ok(Self {
            shared: Arc::new(Shared {
                geometry,
                hashes,
                paths,
                files,
                meta: Mutex::new(HashMap::new()),
                cache: Mutex::new(VecDeque::new()),
                seen: Mutex::new(vec![false; n]),
                seen_bad: Mutex::new(vec![false; n]),
                evict: std::sync::OnceLock::new(),
                refused_at: Mutex::new(HashMap::new()),
                events,
                verified: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                served: AtomicU64::new(0),
            }),
        })
    }

    /// Sets the hook told about the spans of refused pieces (once; later calls are ignored).
    pub fn set_evict(&self, evict: Evict) {
        let _ = self.shared.evict.set(Evictor(evict));
    }

    /// Events from now on.
    pub fn events(&self) -> broadcast::Receiver<BridgeEvent> {
        self.shared.events.subscribe()
    }

    /// Counters so far.
    pub fn stats(&self) -> VerifyStats {
        let s = &self.shared;
        VerifyStats {
            pieces_verified: s.verified.load(Ordering::Relaxed),
            pieces_refused: s.refused.load(Ordering::Relaxed),
            bytes_served: s.served.load(Ordering::Relaxed),
        }
    }

    /// Stamps of the inner files (what resume data must carry to be trusted).
    pub async fn stamps(&self) -> Result<Vec<Option<FileStamp>>, StorageError> {
        let mut out = Vec::new();
        for f in &self.shared.files {
            out.push(f.stamp().await?);
        }
        Ok(out)
    }

    /// Sends `event` to the subscribers of [`VerifyingStorage::events`].
    pub(crate) fn report(&self, event: BridgeEvent) {
        let _ = self.shared.events.send(event);
    }

    /// The verified bytes of `piece` (from the cache or fetched and hashed now), or `None` when
    /// the origin cannot deliver them.
    pub(crate) async fn verified_piece(&self, piece: u32) -> Option<Vec<u8>> {
        let index = self.shared.geometry.piece(piece)?;
        self.shared.piece(index).await.ok().map(|d| d.to_vec())
    }

    /// Puts a metadata blob in place (e.g. resume data) before the storage is used.
    pub fn set_meta(&self, name: &MetaName, data: Vec<u8>) {
        lock(&self.shared.meta).insert(name.to_string(), data);
    }

    /// Reads `buf.len()` bytes of verified pieces at `offset` of the torrent's byte stream.
    pub async fn read_stream(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.shared.read_stream(offset, buf).await
    }
}

impl Shared {
    async fn read_stream(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        if buf.is_empty() {
            return Ok(());
        }
        let end = checked_end(&"torrent", offset, buf.len() as u64)?;
        let g = &self.geometry;
        let (Some(first), Some(last)) = (g.piece_at(offset), g.piece_at(end - 1)) else {
            return Err(StorageError::OutOfBounds {
                path: "torrent".into(),
                offset,
                len: buf.len() as u64,
                file_len: g.total_length(),
            });
        };
        for p in first.get()..=last.get() {
            let Some(piece) = g.piece(p) else { break };
            let data = self.piece(piece).await?;
            let ps = g.piece_start(piece);
            let from = offset.max(ps);
            let to = end.min(ps + data.len() as u64);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&data[(from - ps) as usize..(to - ps) as usize]);
        }
        self.served.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// The bytes of `piece`, verified: from the cache, or fetched and hashed now.
    async fn piece(&self, piece: PieceIndex) -> Result<Arc<Vec<u8>>, StorageError> {
        let p = piece.get();
        if let Some(d) = lock(&self.cache)
            .iter()
            .find(|c| c.0 == p)
            .map(|c| c.1.clone())
        {
            return Ok(d);
        }
        let recently_refused = lock(&self.refused_at)
            .get(&p)
            .is_some_and(|t| t.elapsed() < REFUSE_COOLDOWN);
        if recently_refused {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(refused(p));
        }
        let len = self.geometry.piece_len(piece);
        let mut buf = vec![0u8; len as usize];
        for span in self.geometry.spans(piece, 0, len) {
            let at = span.piece_offset as usize;
            let r = self.files[span.file_index]
                .read_at(span.file_offset, &mut buf[at..at + span.len as usize])
                .await;
            if let Err(e) = r {
                if HttpError::from_storage(&e).is_some_and(HttpError::is_origin_changed) {
                    let _ = self.events.send(BridgeEvent::OriginChanged {
                        file: span.file_index,
                        error: e.to_string(),
                    });
                }
                return Err(e);
            }
        }
        let ok = self
            .hashes
            .get(p as usize)
            .is_some_and(|h| <[u8; 20]>::from(Sha1::digest(&buf)) == *h);
        if !ok {
            self.refused.fetch_add(1, Ordering::Relaxed);
            if let Some(evict) = self.evict.get() {
                for span in self.geometry.spans(piece, 0, len) {
                    (evict.0)(span.file_index, span.file_offset, u64::from(span.len));
                }
            }
            let first_time = lock(&self.seen_bad)
                .get_mut(p as usize)
                .is_some_and(|s| !std::mem::replace(s, true));
            if first_time {
                let _ = self.events.send(BridgeEvent::PieceRefused { piece: p });
            }
            lock(&self.refused_at).insert(p, Instant::now());
            return Err(refused(p));
        }
        lock(&self.refused_at).remove(&p);
        self.verified.fetch_add(1, Ordering::Relaxed);
        let first_time = lock(&self.seen)
            .get_mut(p as usize)
            .is_some_and(|s| !std::mem::replace(s, true));
        if first_time {
            let _ = self.events.send(BridgeEvent::PieceVerified(p));
        }
        let data = Arc::new(buf);
        let mut cache = lock(&self.cache);
        cache.push_back((p, data.clone()));
        while cache.len() > CACHED_PIECES {
            cache.pop_front();
        }
        Ok(data)
    }
}

#[async_trait]
impl StorageFactory for VerifyingStorage {
    async fn open(&self, path: &StoragePath) -> Result<Arc<dyn RandomAccess>, StorageError> {
        let index = self
            .shared
            .paths
            .iter()
            .position(|p| p == path)
            .ok_or_else(|| StorageError::PathRefused {
                path: path.to_string(),
                reason: "not a file of the bridged torrent",
            })?;
        Ok(Arc::new(VerifiedFile {
            index,
            shared: self.shared.clone(),
        }))
    }

    async fn load_meta(
        &self,
        name: &MetaName,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        match lock(&self.shared.meta).get(&name.to_string()) {
            Some(d) if d.len() > max_len => Err(StorageError::MetaTooLarge {
                name: name.to_string(),
                len: d.len() as u64,
                max: max_len,
            }),
            other => Ok(other.cloned()),
        }
    }

    async fn store_meta(&self, name: &MetaName, data: &[u8]) -> Result<(), StorageError> {
        lock(&self.shared.meta).insert(name.to_string(), data.to_vec());
        Ok(())
    }
}

/// One torrent file seen through the verifier.
#[derive(Debug)]
struct VerifiedFile {
    index: usize,
    shared: Arc<Shared>,
}

#[async_trait]
impl RandomAccess for VerifiedFile {
    async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let g = &self.shared.geometry;
        let path = &self.shared.paths[self.index];
        let end = checked_end(path, offset, buf.len() as u64)?;
        let flen = g.file_length(self.index).unwrap_or(0);
        if end > flen {
            return Err(StorageError::OutOfBounds {
                path: path.to_string(),
                offset,
                len: buf.len() as u64,
                file_len: flen,
            });
        }
        let start = g.file_start(self.index).unwrap_or(0);
        self.shared.read_stream(start + offset, buf).await
    }

    /// The origin is read-only: a write succeeds only when it holds exactly the verified bytes
    /// already there (the engine writing back a piece handed to it), and changes nothing.
    async fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let mut current = vec![0u8; data.len()];
        if self.read_at(offset, &mut current).await.is_ok() && current == data {
            return Ok(());
        }
        self.shared.files[self.index].write_at(offset, data).await
    }

    async fn len(&self) -> Result<u64, StorageError> {
        self.shared.files[self.index].len().await
    }

    async fn set_len(&self, len: u64) -> Result<(), StorageError> {
        self.shared.files[self.index].set_len(len).await
    }

    async fn delete_range(&self, offset: u64, len: u64) -> Result<(), StorageError> {
        self.shared.files[self.index]
            .delete_range(offset, len)
            .await
    }

    async fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }

    async fn stamp(&self) -> Result<Option<FileStamp>, StorageError> {
        self.shared.files[self.index].stamp().await
    }
}

fn refused(piece: u32) -> StorageError {
    StorageError::io(
        format!("piece {piece}"),
        io::Error::new(io::ErrorKind::InvalidData, PieceRefused { piece }),
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
