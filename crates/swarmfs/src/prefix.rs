//! A storage view that keeps each looked-up torrent under its own directory (its info-hash), so
//! two torrents with the same name (two versions of one archive) never share files.

use std::sync::Arc;

use async_trait::async_trait;
use swarmfs_storage::{MetaName, RandomAccess, StorageError, StorageFactory, StoragePath};

/// `inner`, with every file path below `prefix/`.
#[derive(Debug)]
pub(crate) struct PrefixStorage {
    inner: Arc<dyn StorageFactory>,
    prefix: String,
}

impl PrefixStorage {
    /// `prefix` must be one plain path component.
    pub(crate) fn new(inner: Arc<dyn StorageFactory>, prefix: String) -> Self {
        Self { inner, prefix }
    }
}

#[async_trait]
impl StorageFactory for PrefixStorage {
    async fn open(&self, path: &StoragePath) -> Result<Arc<dyn RandomAccess>, StorageError> {
        let full = StoragePath::new(
            std::iter::once(self.prefix.as_str())
                .chain(path.components().iter().map(String::as_str)),
        )
        .map_err(|_| StorageError::PathRefused {
            path: path.components().join("/"),
            reason: "too deep below the torrent's directory",
        })?;
        self.inner.open(&full).await
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
