//! Errors of the HTTP backend.

use std::io;
use std::sync::Arc;

use swarmfs_storage::StorageError;

/// Why an HTTP range read (or opening an origin) failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL cannot be used.
    #[error("bad url {url}: {reason}")]
    BadUrl {
        /// The URL (truncated).
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// The origin does not serve byte ranges (`200` instead of `206`, or no `Content-Range`).
    #[error("origin {url} does not support byte ranges (status {status})")]
    NoRangeSupport {
        /// The URL.
        url: String,
        /// The status it answered a range request with.
        status: u16,
    },
    /// The resource changed since it was opened (validator, length or `412`).
    #[error("origin {url} changed since it was opened: {what}")]
    Changed {
        /// The URL.
        url: String,
        /// What differs.
        what: String,
    },
    /// The resource is gone (`404` / `410`).
    #[error("origin {url} vanished (status {status})")]
    Vanished {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// An unexpected status.
    #[error("origin {url} answered status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// Too many redirects, or a redirect without a usable `Location`.
    #[error("redirect trouble at {url}: {reason}")]
    Redirect {
        /// The URL.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// The response is not valid HTTP/1.1, or exceeds a bound.
    #[error("malformed response from {url}: {reason}")]
    Malformed {
        /// The URL.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// A socket error (connect, read, write).
    #[error("i/o error talking to {url}: {source}")]
    Io {
        /// The URL.
        url: String,
        /// The error.
        #[source]
        source: Arc<io::Error>,
    },
    /// A whole-resource body is longer than allowed.
    #[error("body of {url} is longer than {max} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The bound.
        max: usize,
    },
    /// No answer within the request timeout.
    #[error("request to {url} timed out")]
    Timeout {
        /// The URL.
        url: String,
    },
    /// The backend is read-only: writes, truncation and deletion are refused.
    #[error("http storage is read-only ({op} on {path})")]
    ReadOnly {
        /// The operation.
        op: &'static str,
        /// The file.
        path: String,
    },
    /// The factory has no URL for this path.
    #[error("no url is mapped to {path}")]
    NotMapped {
        /// The path.
        path: String,
    },
}

impl HttpError {
    /// Whether the request may succeed when tried again (5xx, socket errors, timeouts).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Io { .. } | Self::Timeout { .. } => true,
            Self::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether the origin no longer serves what was opened (changed or vanished).
    pub fn is_origin_changed(&self) -> bool {
        matches!(self, Self::Changed { .. } | Self::Vanished { .. })
    }

    /// The [`HttpError`] inside a [`StorageError`] this backend returned, if any.
    pub fn from_storage(e: &StorageError) -> Option<&Self> {
        match e {
            StorageError::Io { source, .. } => source.get_ref()?.downcast_ref::<Self>(),
            _ => None,
        }
    }

    /// Wraps into a [`StorageError::Io`] (the typed error stays reachable through
    /// [`HttpError::from_storage`]).
    pub fn into_storage(self, path: &str) -> StorageError {
        let kind = match &self {
            Self::ReadOnly { .. } => io::ErrorKind::ReadOnlyFilesystem,
            Self::Vanished { .. } | Self::NotMapped { .. } => io::ErrorKind::NotFound,
            Self::Timeout { .. } => io::ErrorKind::TimedOut,
            Self::Changed { .. } | Self::Malformed { .. } => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        StorageError::io(path, io::Error::new(kind, self))
    }
}
