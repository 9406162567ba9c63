//! The storage-trait face: a [`StorageFactory`] whose files are URLs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use swarmfs_storage::{
    FileStamp, MetaName, RandomAccess, StorageError, StorageFactory, StoragePath, checked_end,
};

use crate::{HttpClient, HttpError, HttpFile};

/// A read-only storage whose files live on HTTP servers: each torrent path maps to a URL.
///
/// Files are opened (validators pinned, range support checked) on the first
/// [`StorageFactory::open`] of their path and shared afterwards. Metadata blobs live in memory.
/// Writes, truncation and deletion fail with [`HttpError::ReadOnly`] (inside
/// [`StorageError::Io`], kind `ReadOnlyFilesystem`).
#[derive(Debug)]
pub struct HttpStorage {
    client: HttpClient,
    urls: HashMap<StoragePath, String>,
    open: tokio::sync::Mutex<HashMap<StoragePath, Arc<HttpStorageFile>>>,
    meta: Mutex<HashMap<String, Vec<u8>>>,
}

impl HttpStorage {
    /// A storage serving `urls` (torrent path -> URL) through `client`.
    pub fn new(client: HttpClient, urls: impl IntoIterator<Item = (StoragePath, String)>) -> Self {
        Self {
            client,
            urls: urls.into_iter().collect(),
            open: tokio::sync::Mutex::new(HashMap::new()),
            meta: Mutex::new(HashMap::new()),
        }
    }

    /// The client (and its statistics).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// Puts a metadata blob in place before the storage is used (e.g. resume data that vouches
    /// for pieces the caller hashed while streaming the origin).
    pub fn set_meta(&self, name: &MetaName, data: Vec<u8>) {
        lock(&self.meta).insert(name.to_string(), data);
    }

    /// Opens `path` and returns the typed handle (the same one [`StorageFactory::open`] shares).
    pub async fn open_file(&self, path: &StoragePath) -> Result<Arc<HttpStorageFile>, HttpError> {
        let mut open = self.open.lock().await;
        if let Some(f) = open.get(path) {
            return Ok(f.clone());
        }
        let url = self.urls.get(path).ok_or_else(|| HttpError::NotMapped {
            path: path.to_string(),
        })?;
        let file = Arc::new(HttpStorageFile {
            path: path.to_string(),
            file: self.client.open(url).await?,
        });
        open.insert(path.clone(), file.clone());
        Ok(file)
    }
}

#[async_trait]
impl StorageFactory for HttpStorage {
    async fn open(&self, path: &StoragePath) -> Result<Arc<dyn RandomAccess>, StorageError> {
        let f = self
            .open_file(path)
            .await
            .map_err(|e| e.into_storage(&path.to_string()))?;
        Ok(f)
    }

    async fn load_meta(
        &self,
        name: &MetaName,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        match lock(&self.meta).get(&name.to_string()) {
            Some(d) if d.len() > max_len => Err(StorageError::MetaTooLarge {
                name: name.to_string(),
                len: d.len() as u64,
                max: max_len,
            }),
            other => Ok(other.cloned()),
        }
    }

    async fn store_meta(&self, name: &MetaName, data: &[u8]) -> Result<(), StorageError> {
        lock(&self.meta).insert(name.to_string(), data.to_vec());
        Ok(())
    }
}

/// One URL as a [`RandomAccess`] file (read-only).
#[derive(Debug)]
pub struct HttpStorageFile {
    path: String,
    file: HttpFile,
}

impl HttpStorageFile {
    /// The remote file.
    pub fn http(&self) -> &HttpFile {
        &self.file
    }

    fn read_only(&self, op: &'static str) -> StorageError {
        HttpError::ReadOnly {
            op,
            path: self.path.clone(),
        }
        .into_storage(&self.path)
    }
}

#[async_trait]
impl RandomAccess for HttpStorageFile {
    async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let end = checked_end(&self.path, offset, buf.len() as u64)?;
        if end > self.file.len() {
            return Err(StorageError::OutOfBounds {
                path: self.path.clone(),
                offset,
                len: buf.len() as u64,
                file_len: self.file.len(),
            });
        }
        self.file
            .read_at(offset, buf)
            .await
            .map_err(|e| e.into_storage(&self.path))
    }

    async fn write_at(&self, _offset: u64, _data: &[u8]) -> Result<(), StorageError> {
        Err(self.read_only("write"))
    }

    async fn len(&self) -> Result<u64, StorageError> {
        Ok(self.file.len())
    }

    async fn set_len(&self, len: u64) -> Result<(), StorageError> {
        if len == self.file.len() {
            return Ok(());
        }
        Err(self.read_only("set_len"))
    }

    async fn delete_range(&self, _offset: u64, _len: u64) -> Result<(), StorageError> {
        Err(self.read_only("delete_range"))
    }

    async fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }

    async fn stamp(&self) -> Result<Option<FileStamp>, StorageError> {
        Ok(Some(FileStamp {
            len: self.file.len(),
            modified: self.file.validators().marker(),
        }))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
