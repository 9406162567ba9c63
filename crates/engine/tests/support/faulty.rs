//! A memory storage with faults a test switches on: reads of a byte range refused, writes held.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use swarmfs_memory::MemoryStorage;
use swarmfs_storage::{
    FileStamp, MetaName, RandomAccess, StorageError, StorageFactory, StoragePath,
};
use tokio::sync::watch;

/// What goes wrong, in every file of a [`Faulty`] storage.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// While the flag is set, reads that touch bytes `from..to` fail.
    pub refuse_reads: Option<(Arc<AtomicBool>, u64, u64)>,
    /// Writes wait while this says `false`.
    pub hold_writes: Option<watch::Receiver<bool>>,
}

/// `inner` with `faults`.
#[derive(Debug)]
pub struct Faulty {
    pub inner: Arc<MemoryStorage>,
    pub faults: Faults,
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn RandomAccess>,
    faults: Faults,
}

#[async_trait::async_trait]
impl StorageFactory for Faulty {
    async fn open(&self, path: &StoragePath) -> Result<Arc<dyn RandomAccess>, StorageError> {
        Ok(Arc::new(FaultyFile {
            inner: self.inner.open(path).await?,
            faults: self.faults.clone(),
        }))
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

#[async_trait::async_trait]
impl RandomAccess for FaultyFile {
    async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        if let Some((on, from, to)) = &self.faults.refuse_reads {
            let end = offset + buf.len() as u64;
            if on.load(Ordering::SeqCst) && offset < *to && end > *from {
                let e = std::io::Error::other("origin changed");
                return Err(StorageError::io("origin", e));
            }
        }
        self.inner.read_at(offset, buf).await
    }
    async fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        if let Some(open) = &self.faults.hold_writes {
            // The sender lives as long as the test.
            let _ = open.clone().wait_for(|o| *o).await;
        }
        self.inner.write_at(offset, data).await
    }
    async fn len(&self) -> Result<u64, StorageError> {
        self.inner.len().await
    }
    async fn set_len(&self, len: u64) -> Result<(), StorageError> {
        self.inner.set_len(len).await
    }
    async fn delete_range(&self, offset: u64, len: u64) -> Result<(), StorageError> {
        self.inner.delete_range(offset, len).await
    }
    async fn sync(&self) -> Result<(), StorageError> {
        self.inner.sync().await
    }
    async fn stamp(&self) -> Result<Option<FileStamp>, StorageError> {
        self.inner.stamp().await
    }
}
