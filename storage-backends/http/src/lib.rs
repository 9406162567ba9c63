//! A read-only swarmfs storage backend over HTTP byte-range requests.
//!
//! - [`HttpClient`] is a small HTTP/1.1 client (plain `http://`, no TLS) tuned for range reads:
//!   keep-alive connections pooled per origin, a per-origin concurrency bound, retries with
//!   exponential backoff on 5xx and socket errors, and [`HttpStats`] counters.
//! - [`HttpFile`] is one URL opened for reading: opening follows redirects, refuses an origin
//!   that does not answer a range request with `206` ([`HttpError::NoRangeSupport`]) and pins
//!   the validators (`ETag`, `Last-Modified`, length). Every later request carries `If-Match`
//!   (or `If-Unmodified-Since`) and every response is compared with the pinned validators, so a
//!   changed or vanished origin is a typed error ([`HttpError::Changed`],
//!   [`HttpError::Vanished`]), never silently different bytes. Reads go through aligned windows:
//!   adjacent reads share one window, concurrent reads over neighbouring windows become one
//!   range request, a sequential reader gets read-ahead, and a bounded LRU keeps recent windows.
//! - [`HttpStorage`] is the [`swarmfs_storage::StorageFactory`] face: torrent paths map to URLs.
//!   Writes fail with [`HttpError::ReadOnly`].
//! - [`HttpClient::get`] fetches a small whole document (a `.torrent` named by a magnet's
//!   `xs=`), bounded in size.
//!
//! This backend does not verify piece hashes (the storage layer does not know them): the bridge
//! (`swarmfs-bridge`) wraps it with a verifier.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod client;
mod conn;
mod error;
mod fetch;
mod file;
mod storage;
pub mod testing;
mod url;

pub use client::{HttpClient, HttpOptions, HttpStats};
pub use error::HttpError;
pub use file::{HttpFile, Validators};
pub use storage::{HttpStorage, HttpStorageFile};
pub use url::HttpUrl;
