//! The local swarmfs engine as a backend: pushes a change notification on engine events.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use swarmfs_engine::{Engine, TorrentEvent, TorrentHandle, TorrentOptions};
use swarmfs_file::FileStorage;
use swarmfs_metainfo::{InfoHash, Torrent};
use swarmfs_storage::StorageFactory;
use tokio::sync::Notify;

use crate::backend::{Backend, BackendError};
use crate::record::{FileRecord, TorrentRecord};

/// How long `add_torrent_with_data` waits for the recheck of existing data.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(600);

/// A swarmfs [`Engine`] as a watch backend. It reports the torrents added through it or
/// registered with [`LocalBackend::track`] (the engine has no list of its own).
#[derive(Clone)]
pub struct LocalBackend {
    engine: Engine,
    storage: Arc<dyn StorageFactory>,
    tracked: Arc<Mutex<BTreeMap<InfoHash, String>>>,
    notify: Arc<Notify>,
    options: TorrentOptions,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend")
            .field("listen_addr", &self.engine.listen_addr())
            .finish_non_exhaustive()
    }
}

impl LocalBackend {
    /// A backend over `engine`; torrents added by [`Backend::add_torrent`] store into `storage`.
    pub fn new(engine: Engine, storage: Arc<dyn StorageFactory>) -> Self {
        Self {
            engine,
            storage,
            tracked: Arc::default(),
            notify: Arc::new(Notify::new()),
            options: TorrentOptions::new(),
        }
    }

    /// Options for torrents added through this backend (peers to dial, rate limits).
    pub fn with_options(mut self, options: TorrentOptions) -> Self {
        self.options = options;
        self
    }

    /// Watches a torrent added to the engine elsewhere; `path` fills the record's `path`.
    pub fn track(&self, handle: &TorrentHandle, path: &str) {
        self.lock().insert(handle.info_hash(), path.to_owned());
        let mut events = handle.events();
        let notify = self.notify.clone();
        notify.notify_one();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(
                        TorrentEvent::Metadata
                        | TorrentEvent::Done
                        | TorrentEvent::PieceVerified(_)
                        | TorrentEvent::Error(_),
                    )
                    | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        notify.notify_one()
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        notify.notify_one();
                        break;
                    }
                }
            }
        });
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<InfoHash, String>> {
        self.tracked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn handle(&self, hash: &str) -> Result<TorrentHandle, BackendError> {
        let ih = InfoHash::parse(hash).map_err(|_| BackendError::BadHash {
            hash: hash.to_owned(),
        })?;
        self.engine
            .torrent(&ih)
            .ok_or_else(|| BackendError::NotFound {
                hash: hash.to_owned(),
            })
    }

    fn add(
        &self,
        torrent: &[u8],
        storage: Arc<dyn StorageFactory>,
        options: TorrentOptions,
        path: Option<String>,
    ) -> Result<TorrentHandle, BackendError> {
        let t = Torrent::from_bytes(torrent).map_err(|e| BackendError::BadTorrent {
            reason: e.to_string(),
        })?;
        let h = self
            .engine
            .add_info(t.into_info(), storage, options)
            .map_err(|e| BackendError::Refused {
                reason: e.to_string(),
            })?;
        if let Some(path) = path {
            self.track(&h, &path);
        }
        Ok(h)
    }
}

#[async_trait]
impl Backend for LocalBackend {
    async fn list(&self) -> Result<Vec<String>, BackendError> {
        let mut map = self.lock();
        map.retain(|ih, _| self.engine.torrent(ih).is_some());
        Ok(map.keys().map(InfoHash::to_hex).collect())
    }

    async fn get(&self, hash: &str) -> Result<TorrentRecord, BackendError> {
        let h = self.handle(hash)?;
        let path = self.lock().get(&h.info_hash()).cloned().unwrap_or_default();
        let stats = h.stats().await.map_err(|_| BackendError::NotFound {
            hash: hash.to_owned(),
        })?;
        let info = h.info();
        let length = info.as_ref().map_or(0, |i| i.total_length());
        let files = info.as_ref().map_or_else(Vec::new, |i| {
            i.files()
                .iter()
                .map(|f| FileRecord {
                    path: f.path().to_string(),
                    length: f.length(),
                })
                .collect()
        });
        let downloaded = if stats.done {
            length
        } else {
            ((stats.progress * length as f64) as u64).min(length)
        };
        let mut extra = BTreeMap::new();
        extra.insert("pieces_total".to_owned(), stats.pieces_total.to_string());
        Ok(TorrentRecord {
            hash: h.info_hash().to_hex(),
            name: info
                .as_ref()
                .map_or_else(|| h.info_hash().to_hex(), |i| i.name().to_owned()),
            active: !stats.paused,
            downloaded,
            uploaded: stats.uploaded,
            length,
            path,
            progress: 0.0,
            ratio: 0.0,
            finished: false,
            playing: !stats.paused && (stats.download_rate > 0.0 || stats.upload_rate > 0.0),
            files,
            extra,
        }
        .computed())
    }

    async fn pause(&self, hash: &str) -> Result<(), BackendError> {
        self.handle(hash)?
            .pause()
            .map_err(|e| BackendError::Refused {
                reason: e.to_string(),
            })?;
        self.notify.notify_one();
        Ok(())
    }

    async fn resume(&self, hash: &str) -> Result<(), BackendError> {
        self.handle(hash)?
            .resume()
            .map_err(|e| BackendError::Refused {
                reason: e.to_string(),
            })?;
        self.notify.notify_one();
        Ok(())
    }

    async fn remove(&self, hash: &str, with_data: bool) -> Result<(), BackendError> {
        let h = self.handle(hash)?;
        h.remove(with_data)
            .await
            .map_err(|e| BackendError::Refused {
                reason: e.to_string(),
            })?;
        self.lock().remove(&h.info_hash());
        self.notify.notify_one();
        Ok(())
    }

    async fn add_torrent(&self, torrent: &[u8]) -> Result<String, BackendError> {
        let h = self.add(
            torrent,
            self.storage.clone(),
            self.options.clone(),
            Some(String::new()),
        )?;
        Ok(h.info_hash().to_hex())
    }

    async fn add_torrent_with_data(
        &self,
        torrent: &[u8],
        path: PathBuf,
    ) -> Result<String, BackendError> {
        let storage = Arc::new(FileStorage::in_dir(&path));
        let h = self.add(
            torrent,
            storage,
            self.options.clone().recheck(true).paused(true),
            None,
        )?;
        // Verified, then seeded: the recheck runs before the torrent is ready, and a paused
        // torrent fetches nothing meanwhile.
        let check = async {
            loop {
                if let Some(b) = h.verified() {
                    return b;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let (verified, total) = match tokio::time::timeout(VERIFY_TIMEOUT, check).await {
            Ok(b) => (b.count_ones(), b.len()),
            Err(_) => (0, 0),
        };
        if total > 0 && verified == total {
            // Watched only once verified: a refused add never shows up as added + removed.
            self.track(&h, &path.display().to_string());
            h.resume().map_err(|e| BackendError::Refused {
                reason: e.to_string(),
            })?;
            self.notify.notify_one();
            return Ok(h.info_hash().to_hex());
        }
        let _ = h.remove(false).await;
        Err(BackendError::DataMismatch {
            path,
            verified,
            total,
        })
    }

    fn changes(&self) -> Option<Arc<Notify>> {
        Some(self.notify.clone())
    }
}
