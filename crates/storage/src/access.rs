//! The random-access storage trait one backend implements per torrent file, and the factory that
//! opens those files and keeps metadata blobs (resume data) beside them.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{MetaName, StorageError, StoragePath};

/// What a backend reports about a file so that changes behind the store's back can be noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    /// Length in bytes.
    pub len: u64,
    /// Opaque modification marker: modification time in nanoseconds since the epoch for files on
    /// disk, a write counter that never repeats for in-memory files. Equal markers mean "probably
    /// unchanged"; different markers mean "maybe changed".
    pub modified: u64,
}

/// Random access to one file of a torrent.
///
/// Semantics every backend shares (checked by [`crate::conformance`]):
/// - a file that was never written has length 0 and [`RandomAccess::stamp`] `None`;
/// - [`RandomAccess::read_at`] fills the whole buffer or fails with
///   [`StorageError::OutOfBounds`] when the range runs past the end; it never pads with zeros;
/// - bytes inside the length that were never written (gaps, extensions) read as zeros;
/// - a write past the end extends the file;
/// - [`RandomAccess::delete_range`] makes a range read as zeros without changing the length
///   (backends may punch a hole);
/// - after [`RandomAccess::sync`] returns, every write that completed before it is durable.
#[async_trait]
pub trait RandomAccess: Send + Sync + fmt::Debug {
    /// Reads exactly `buf.len()` bytes at `offset`.
    async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;

    /// Writes all of `data` at `offset`, extending the file when needed.
    async fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError>;

    /// The file length (0 for a file that does not exist yet).
    async fn len(&self) -> Result<u64, StorageError>;

    /// Whether the file length is 0.
    async fn is_empty(&self) -> Result<bool, StorageError> {
        Ok(self.len().await? == 0)
    }

    /// Truncates or extends (with zeros) the file to `len` bytes, creating it when needed.
    async fn set_len(&self, len: u64) -> Result<(), StorageError>;

    /// Hints that the file will grow to `len` bytes, so that a backend can reserve the space at
    /// once (e.g. `fallocate(2)`) instead of allocating it write by write; like a write, it may
    /// create the file. The length and the contents do not change; a backend that cannot
    /// reserve space ignores it. Default: no-op.
    async fn preallocate(&self, len: u64) -> Result<(), StorageError> {
        let _ = len;
        Ok(())
    }

    /// Makes `len` bytes at `offset` read as zeros; the part past the end is ignored and the
    /// length does not change.
    async fn delete_range(&self, offset: u64, len: u64) -> Result<(), StorageError>;

    /// Makes every completed write durable.
    async fn sync(&self) -> Result<(), StorageError>;

    /// Length and modification marker, or `None` when the file does not exist.
    async fn stamp(&self) -> Result<Option<FileStamp>, StorageError>;

    /// The same read as [`RandomAccess::read_at`], done synchronously on the calling thread, for
    /// backends whose reads are plain blocking system calls or memory copies; `None` when the
    /// backend only reads asynchronously (the default).
    ///
    /// CPU-bound callers such as the piece store's hashing threads use it to read and hash on
    /// the same thread, which keeps each buffer in that core's cache.
    fn read_at_blocking(&self, offset: u64, buf: &mut [u8]) -> Option<Result<(), StorageError>> {
        let _ = (offset, buf);
        None
    }

    /// Hands the `len` bytes at `offset` to `visit` in place, in order, as one or more
    /// consecutive slices, without copying them (for example from a memory map of cached
    /// data), synchronously on the calling thread; `None` when the backend does not do that for
    /// this range (the default), and the caller reads it with
    /// [`RandomAccess::read_at_blocking`] instead.
    ///
    /// Fails with [`StorageError::OutOfBounds`] when the range runs past the end, including when
    /// the file shrinks during the visit; bytes handed to `visit` before an error may be zeros or
    /// stale and must be discarded.
    fn visit_blocking(
        &self,
        offset: u64,
        len: u64,
        visit: &mut dyn FnMut(&[u8]),
    ) -> Option<Result<(), StorageError>> {
        let _ = (offset, len, visit);
        None
    }

    /// Hints that `len` bytes at `offset` will be read soon (a backend may start reading them
    /// ahead, e.g. `posix_fadvise(WILLNEED)`), for streaming readers; never fails. Default: no-op.
    ///
    /// The re-check does not use it: issuing it from the hashing threads cost more system time
    /// than it saved on a cold cache here (the kernel's sequential read-ahead does the job).
    fn prefetch(&self, offset: u64, len: u64) {
        let _ = (offset, len);
    }
}

/// Opens the files of torrents and stores small metadata blobs beside them.
#[async_trait]
pub trait StorageFactory: Send + Sync + fmt::Debug {
    /// Opens (without creating yet) the file at `path`. Files are created by their first write or
    /// [`RandomAccess::set_len`]; opening is cheap.
    async fn open(&self, path: &StoragePath) -> Result<Arc<dyn RandomAccess>, StorageError>;

    /// Reads metadata blob `name`, `None` when absent; fails when it is longer than `max_len`.
    async fn load_meta(
        &self,
        name: &MetaName,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>, StorageError>;

    /// Replaces metadata blob `name` atomically and durably: after a crash at any moment it holds
    /// either the old or the new bytes, and once this returns the new bytes survive a crash.
    async fn store_meta(&self, name: &MetaName, data: &[u8]) -> Result<(), StorageError>;
}

/// Checks `offset + len` for overflow, for backends.
pub fn checked_end(path: &dyn fmt::Display, offset: u64, len: u64) -> Result<u64, StorageError> {
    offset
        .checked_add(len)
        .ok_or_else(|| StorageError::Overflow {
            path: path.to_string(),
            offset,
            len,
        })
}
