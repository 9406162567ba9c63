//! Errors of the random-access storage layer.

use std::io;

/// Why a random-access storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A read asked for bytes past the end of the file (short reads are never filled with zeros).
    #[error(
        "read of {len} bytes at offset {offset} runs past the end of {path} ({file_len} bytes)"
    )]
    OutOfBounds {
        /// The file, as a `/`-joined relative path.
        path: String,
        /// Offset of the read.
        offset: u64,
        /// Length of the read.
        len: u64,
        /// Length of the file when the read ran short.
        file_len: u64,
    },
    /// `offset + len` does not fit in a `u64`.
    #[error("offset {offset} plus length {len} overflows on {path}")]
    Overflow {
        /// The file, as a `/`-joined relative path.
        path: String,
        /// Offset of the operation.
        offset: u64,
        /// Length of the operation.
        len: u64,
    },
    /// The backend refuses this path: it would leave the storage root, crosses a symlink or names
    /// something that is not a regular file or directory.
    #[error("path {path} is refused: {reason}")]
    PathRefused {
        /// The offending path.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A stored metadata blob is larger than the caller allows.
    #[error("metadata {name} is {len} bytes, more than the {max} allowed")]
    MetaTooLarge {
        /// Name of the metadata blob.
        name: String,
        /// Its length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The operating system reported an error.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl StorageError {
    /// Wraps an [`io::Error`] with the path it concerns.
    pub fn io(path: impl std::fmt::Display, source: io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source,
        }
    }

    /// Whether this error means "the data is not there" (a short read), as opposed to a failure.
    pub fn is_out_of_bounds(&self) -> bool {
        matches!(self, Self::OutOfBounds { .. })
    }
}
