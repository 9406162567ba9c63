//! In-memory storage backend for swarmfs: the default for tests and for `Archive` drafts.
//!
//! Files are sparse (64 KiB chunks allocated on first write), so offsets far past 4 GiB cost only
//! the chunks actually written. Metadata blobs live in a map beside the files. Nothing survives
//! the process; "durable" means "completed" here. All handles from one [`MemoryStorage`] (and
//! its clones) share the same files.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod sparse;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use async_trait::async_trait;
use swarmfs_storage::{
    FileStamp, MetaName, RandomAccess, StorageError, StorageFactory, StoragePath, checked_end,
};

use crate::sparse::Sparse;

/// A factory of in-memory files; clones share the same files.
#[derive(Clone, Debug, Default)]
pub struct MemoryStorage {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    files: Mutex<HashMap<StoragePath, Arc<MemFile>>>,
    meta: Mutex<HashMap<String, Vec<u8>>>,
    clock: Arc<AtomicU64>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty storage, shared, ready to hand to a client or a piece store.
    pub fn factory() -> Arc<Self> {
        Arc::new(Self::new())
    }

    /// Removes a file (open handles see an empty, absent file afterwards).
    pub fn remove(&self, path: &StoragePath) {
        if let Some(f) = lock(&self.inner.files).get(path) {
            let mut s = f.data.write().unwrap_or_else(PoisonError::into_inner);
            *s = Sparse::default();
        }
    }

    /// Bytes of chunk memory allocated across all files.
    pub fn allocated_bytes(&self) -> u64 {
        lock(&self.inner.files)
            .values()
            .map(|f| f.read().allocated())
            .sum()
    }

    fn file(&self, path: &StoragePath) -> Arc<MemFile> {
        lock(&self.inner.files)
            .entry(path.clone())
            .or_insert_with(|| {
                Arc::new(MemFile {
                    path: path.clone(),
                    data: RwLock::new(Sparse::default()),
                    clock: self.inner.clock.clone(),
                })
            })
            .clone()
    }
}

#[async_trait]
impl StorageFactory for MemoryStorage {
    async fn open(&self, path: &StoragePath) -> Result<Arc<dyn RandomAccess>, StorageError> {
        Ok(self.file(path))
    }

    async fn load_meta(
        &self,
        name: &MetaName,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        match lock(&self.inner.meta).get(name.as_str()) {
            Some(b) if b.len() > max_len => Err(StorageError::MetaTooLarge {
                name: name.to_string(),
                len: b.len() as u64,
                max: max_len,
            }),
            other => Ok(other.cloned()),
        }
    }

    async fn store_meta(&self, name: &MetaName, data: &[u8]) -> Result<(), StorageError> {
        lock(&self.inner.meta).insert(name.as_str().to_owned(), data.to_vec());
        Ok(())
    }
}

/// One in-memory file.
#[derive(Debug)]
struct MemFile {
    path: StoragePath,
    data: RwLock<Sparse>,
    clock: Arc<AtomicU64>,
}

impl MemFile {
    fn read_sync(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let end = checked_end(&self.path, offset, buf.len() as u64)?;
        let s = self.read();
        if end > s.len {
            return Err(StorageError::OutOfBounds {
                path: self.path.to_string(),
                offset,
                len: buf.len() as u64,
                file_len: s.len,
            });
        }
        s.read(offset, buf);
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Sparse> {
        self.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn modify<T>(&self, f: impl FnOnce(&mut Sparse) -> T) -> T {
        let mut s = self.data.write().unwrap_or_else(PoisonError::into_inner);
        let out = f(&mut s);
        s.exists = true;
        s.modified = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
        out
    }
}

#[async_trait]
impl RandomAccess for MemFile {
    async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.read_sync(offset, buf)
    }

    fn read_at_blocking(&self, offset: u64, buf: &mut [u8]) -> Option<Result<(), StorageError>> {
        Some(self.read_sync(offset, buf))
    }

    async fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        checked_end(&self.path, offset, data.len() as u64)?;
        self.modify(|s| s.write(offset, data));
        Ok(())
    }

    async fn len(&self) -> Result<u64, StorageError> {
        Ok(self.read().len)
    }

    async fn set_len(&self, len: u64) -> Result<(), StorageError> {
        self.modify(|s| s.set_len(len));
        Ok(())
    }

    async fn delete_range(&self, offset: u64, len: u64) -> Result<(), StorageError> {
        let end = checked_end(&self.path, offset, len)?;
        self.modify(|s| s.zero(offset, end));
        Ok(())
    }

    async fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }

    async fn stamp(&self) -> Result<Option<FileStamp>, StorageError> {
        let s = self.read();
        Ok(s.exists.then_some(FileStamp {
            len: s.len,
            modified: s.modified,
        }))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
