//! The HTTP client shared by every file of a storage: keep-alive connections pooled per origin,
//! a per-origin concurrency bound, retries with exponential backoff, and transfer statistics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::conn::{Conn, Response};
use crate::{HttpError, HttpFile, HttpUrl};

/// Tuning of an [`HttpClient`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Requests in flight to one origin (`host:port`) at most; also the idle connections kept.
    pub max_connections_per_origin: usize,
    /// Extra attempts after a retryable failure (5xx, socket error, timeout).
    pub retries: u32,
    /// First backoff; doubled after each failed attempt up to `max_backoff`.
    pub backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Time allowed for one request (connect, send, whole response).
    pub timeout: Duration,
    /// Reads are served from aligned windows of this many bytes: adjacent reads that fall in one
    /// window, or that run concurrently over neighbouring windows, become one range request.
    /// `0` turns coalescing, caching and read-ahead off (every read is its own request).
    pub window: u32,
    /// Windows fetched beyond a read that continues the previous one (sequential read-ahead).
    pub read_ahead: u32,
    /// Bytes of windows cached per file (least recently used are dropped first).
    pub cache_bytes: usize,
    /// Redirects followed when a file is opened.
    pub max_redirects: u32,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_connections_per_origin: 4,
            retries: 4,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(30),
            window: 256 * 1024,
            read_ahead: 4,
            cache_bytes: 16 << 20,
            max_redirects: 5,
        }
    }
}

impl HttpOptions {
    /// Sets [`HttpOptions::window`] (`0`: no coalescing, no cache, no read-ahead).
    pub fn window(mut self, bytes: u32) -> Self {
        self.window = bytes;
        self
    }

    /// Sets [`HttpOptions::retries`].
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Sets [`HttpOptions::backoff`].
    pub fn backoff(mut self, d: Duration) -> Self {
        self.backoff = d;
        self
    }

    /// Sets [`HttpOptions::max_connections_per_origin`] (at least 1).
    pub fn max_connections_per_origin(mut self, n: usize) -> Self {
        self.max_connections_per_origin = n.max(1);
        self
    }

    /// Sets [`HttpOptions::read_ahead`].
    pub fn read_ahead(mut self, windows: u32) -> Self {
        self.read_ahead = windows;
        self
    }

    /// Sets [`HttpOptions::cache_bytes`].
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Sets [`HttpOptions::timeout`].
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
}

/// Counters of an [`HttpClient`] (all origins).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpStats {
    /// Requests sent (retries included).
    pub requests: u64,
    /// Attempts that failed with a retryable error and were tried again.
    pub retries: u64,
    /// Response body bytes received.
    pub bytes_fetched: u64,
    /// New TCP connections opened.
    pub connections: u64,
}

/// An HTTP/1.1 client for range reads (plain `http://` only, no TLS). Clones share the pool.
#[derive(Clone, Debug, Default)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    options: HttpOptions,
    origins: Mutex<HashMap<String, Arc<Origin>>>,
    requests: AtomicU64,
    retries: AtomicU64,
    bytes: AtomicU64,
    connections: AtomicU64,
}

#[derive(Debug)]
struct Origin {
    permits: Semaphore,
    idle: Mutex<Vec<Conn>>,
}

impl HttpClient {
    /// A client with these options.
    pub fn new(options: HttpOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                ..Inner::default()
            }),
        }
    }

    /// The options.
    pub fn options(&self) -> &HttpOptions {
        &self.inner.options
    }

    /// Counters so far.
    pub fn stats(&self) -> HttpStats {
        let i = &self.inner;
        HttpStats {
            requests: i.requests.load(Ordering::Relaxed),
            retries: i.retries.load(Ordering::Relaxed),
            bytes_fetched: i.bytes.load(Ordering::Relaxed),
            connections: i.connections.load(Ordering::Relaxed),
        }
    }

    /// Opens `url` for range reads: follows redirects, checks that the origin serves byte
    /// ranges and pins its validators (`ETag`, `Last-Modified`, length).
    pub async fn open(&self, url: &str) -> Result<HttpFile, HttpError> {
        HttpFile::open(self.clone(), HttpUrl::parse(url)?).await
    }

    /// Sends one request, retrying retryable failures with backoff. 5xx answers are retried
    /// and, when attempts run out, returned as [`HttpError::Status`].
    pub(crate) async fn send(
        &self,
        url: &HttpUrl,
        method: &str,
        headers: &[(&str, String)],
        max_body: usize,
    ) -> Result<Response, HttpError> {
        let opts = &self.inner.options;
        let mut backoff = opts.backoff;
        let mut attempt = 0;
        loop {
            let result = match self.send_once(url, method, headers, max_body).await {
                Ok(r) if r.status >= 500 => Err(HttpError::Status {
                    url: url.to_string(),
                    status: r.status,
                }),
                other => other,
            };
            match result {
                Err(e) if e.is_retryable() && attempt < opts.retries => {
                    attempt += 1;
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(opts.max_backoff);
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        url: &HttpUrl,
        method: &str,
        headers: &[(&str, String)],
        max_body: usize,
    ) -> Result<Response, HttpError> {
        let origin = self.origin(url);
        let _permit = origin
            .permits
            .acquire()
            .await
            .map_err(|_| HttpError::Timeout {
                url: url.to_string(),
            })?;
        let timeout = self.inner.options.timeout;
        let run = async {
            // A pooled connection may have been closed by the server meanwhile: one failure on
            // a reused connection is retried at once on a fresh one.
            let pooled = lock(&origin.idle).pop();
            if let Some(mut conn) = pooled {
                self.inner.requests.fetch_add(1, Ordering::Relaxed);
                match conn.request(url, method, headers, max_body).await {
                    Ok(r) => return Ok((conn, r)),
                    Err(HttpError::Io { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let mut conn = Conn::connect(url).await?;
            self.inner.connections.fetch_add(1, Ordering::Relaxed);
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let r = conn.request(url, method, headers, max_body).await?;
            Ok((conn, r))
        };
        let (conn, resp) =
            tokio::time::timeout(timeout, run)
                .await
                .map_err(|_| HttpError::Timeout {
                    url: url.to_string(),
                })??;
        self.inner
            .bytes
            .fetch_add(resp.body.len() as u64, Ordering::Relaxed);
        if resp.reusable {
            let mut idle = lock(&origin.idle);
            if idle.len() < self.inner.options.max_connections_per_origin {
                idle.push(conn);
            }
        }
        Ok(resp)
    }

    fn origin(&self, url: &HttpUrl) -> Arc<Origin> {
        let mut map = lock(&self.inner.origins);
        map.entry(url.authority())
            .or_insert_with(|| {
                Arc::new(Origin {
                    permits: Semaphore::new(self.inner.options.max_connections_per_origin.max(1)),
                    idle: Mutex::new(Vec::new()),
                })
            })
            .clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
