//! A writable archive: files written into blobs of a storage factory, and the storage view that
//! lets the engine seed them in place.
//!
//! Every `write_file` stores its bytes in a fresh blob (`swarmfs-draft/<random hex>`) that is
//! never written again, so a version that is being seeded never changes under the engine, and
//! a file left unchanged between two versions is shared by both instead of being copied.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use rand::RngCore;
use swarmfs_metainfo::{Info, SafePath};
use swarmfs_storage::{MetaName, RandomAccess, StorageError, StorageFactory, StoragePath};

use crate::error::{ArchiveError, SeedError};
use crate::tree::{Node, Tree};

/// Directory of the storage holding draft blobs.
const BLOB_DIR: &str = "swarmfs-draft";

/// A draft's state behind the archive handle.
#[derive(Debug)]
pub(crate) struct Draft {
    pub(crate) name: String,
    factory: Arc<dyn StorageFactory>,
    state: Mutex<DraftState>,
}

#[derive(Debug, Default)]
struct DraftState {
    tree: Tree<StoragePath>,
    /// Blobs some seeded version uses: never truncated.
    sealed: HashSet<StoragePath>,
}

/// One file of a snapshot taken to seed.
pub(crate) struct SnapshotFile {
    pub(crate) path: SafePath,
    pub(crate) blob: StoragePath,
    pub(crate) len: u64,
}

impl Draft {
    pub(crate) fn new(name: String, factory: Arc<dyn StorageFactory>) -> Self {
        Self {
            name,
            factory,
            state: Mutex::new(DraftState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, DraftState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the tree.
    pub(crate) fn with_tree<R>(&self, f: impl FnOnce(&Tree<StoragePath>) -> R) -> R {
        f(&self.lock().tree)
    }

    /// Opens a blob for reading.
    pub(crate) async fn open_blob(
        &self,
        blob: &StoragePath,
    ) -> Result<Arc<dyn RandomAccess>, StorageError> {
        self.factory.open(blob).await
    }

    pub(crate) async fn write_file(&self, path: SafePath, data: &[u8]) -> Result<(), ArchiveError> {
        // Refuse before writing anything when the path cannot hold a file.
        self.with_tree(|t| match t.find(Some(&path)) {
            Some(crate::tree::Found::Dir(_)) => Err(ArchiveError::IsDirectory {
                path: path.to_string(),
            }),
            _ => Ok(()),
        })?;
        let blob = new_blob_path();
        let file = self.factory.open(&blob).await?;
        file.set_len(0).await?;
        if !data.is_empty() {
            file.write_at(0, data).await?;
        }
        file.sync().await?;
        let node = Node {
            len: data.len() as u64,
            data: blob.clone(),
        };
        let replaced = {
            let mut s = self.lock();
            s.tree.insert(path, node)
        };
        match replaced {
            Ok(old) => {
                self.discard(old.into_iter().collect()).await;
                Ok(())
            }
            Err(e) => {
                self.discard(vec![blob]).await;
                Err(e)
            }
        }
    }

    pub(crate) fn create_dir(&self, path: SafePath) -> Result<(), ArchiveError> {
        self.lock().tree.mkdir(path)
    }

    pub(crate) async fn remove(&self, path: &SafePath) -> Result<(), ArchiveError> {
        let removed = self.lock().tree.remove(path)?;
        self.discard(removed).await;
        Ok(())
    }

    /// Frees blobs no seeded version uses (the storage has no "delete", so they are emptied).
    async fn discard(&self, blobs: Vec<StoragePath>) {
        let free: Vec<StoragePath> = {
            let s = self.lock();
            blobs
                .into_iter()
                .filter(|b| !s.sealed.contains(b))
                .collect()
        };
        for blob in free {
            if let Ok(f) = self.factory.open(&blob).await {
                let _ = f.set_len(0).await;
            }
        }
    }

    /// The current files, whose blobs are sealed from now on.
    pub(crate) fn snapshot(&self) -> Vec<SnapshotFile> {
        let mut s = self.lock();
        let files: Vec<SnapshotFile> = s
            .tree
            .files()
            .map(|(p, n)| SnapshotFile {
                path: p.clone(),
                blob: n.data.clone(),
                len: n.len,
            })
            .collect();
        s.sealed.extend(files.iter().map(|f| f.blob.clone()));
        files
    }

    /// Reads a snapshot's bytes (to hash them).
    pub(crate) async fn read_all(
        &self,
        files: &[SnapshotFile],
    ) -> Result<Vec<(SafePath, Vec<u8>)>, SeedError> {
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            let len = usize::try_from(f.len).map_err(|_| SeedError::Empty)?;
            let mut buf = vec![0u8; len];
            if len > 0 {
                self.factory
                    .open(&f.blob)
                    .await?
                    .read_at(0, &mut buf)
                    .await?;
            }
            out.push((f.path.clone(), buf));
        }
        Ok(out)
    }

    /// A storage view in which `info`'s files are the snapshot's blobs.
    pub(crate) fn storage_for(
        &self,
        info: &Info,
        files: &[SnapshotFile],
    ) -> Arc<dyn StorageFactory> {
        let blobs: HashMap<&SafePath, &StoragePath> =
            files.iter().map(|f| (&f.path, &f.blob)).collect();
        let mut map = HashMap::new();
        for (i, entry) in info.files().iter().enumerate() {
            let (Some(full), Some(blob)) = (info.storage_path(i), blobs.get(entry.path())) else {
                continue;
            };
            if let Ok(sp) = StoragePath::new(full.components()) {
                map.insert(sp, (*blob).clone());
            }
        }
        Arc::new(BlobMap {
            inner: self.factory.clone(),
            map,
        })
    }
}

fn new_blob_path() -> StoragePath {
    let mut id = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut id);
    // Both components are plain ASCII without separators, so the path is always valid.
    StoragePath::new([BLOB_DIR.to_owned(), hex::encode(id)])
        .unwrap_or_else(|_| unreachable!("blob paths are two plain components"))
}

/// The engine's view of a seeded draft: torrent paths mapped onto blobs.
#[derive(Debug)]
struct BlobMap {
    inner: Arc<dyn StorageFactory>,
    map: HashMap<StoragePath, StoragePath>,
}

#[async_trait]
impl StorageFactory for BlobMap {
    async fn open(&self, path: &StoragePath) -> Result<Arc<dyn RandomAccess>, StorageError> {
        match self.map.get(path) {
            Some(blob) => self.inner.open(blob).await,
            None => Err(StorageError::PathRefused {
                path: path.components().join("/"),
                reason: "not a file of this archive",
            }),
        }
    }

    async fn load_meta(
        &self,
        name: &MetaName,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.load_meta(name, max_len).await
    }

    async fn store_meta(&self, name: &MetaName, data: &[u8]) -> Result<(), StorageError> {
        self.inner.store_meta(name, data).await
    }
}
