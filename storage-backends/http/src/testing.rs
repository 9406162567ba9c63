//! A tiny HTTP/1.1 origin on loopback for tests and benches: keep-alive, `Range`, `ETag`,
//! `Last-Modified`, `If-Match`, redirects, and toggles for an origin without range support,
//! changing content, bursts of `503` and slow answers. It counts the requests it serves.
//!
//! Not a general web server: it serves only what was put in it, on 127.0.0.1.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A loopback origin; dropping it stops accepting (open connections end with the runtime).
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct ServerState {
    files: Mutex<HashMap<String, Served>>,
    redirects: Mutex<HashMap<String, String>>,
    version: AtomicU64,
    no_range: AtomicBool,
    fail_next: AtomicU32,
    delay_ms: AtomicU64,
    requests: AtomicU64,
    range_requests: AtomicU64,
    bytes_sent: AtomicU64,
}

#[derive(Clone, Debug)]
struct Served {
    data: Arc<Vec<u8>>,
    etag: String,
    last_modified: String,
}

impl TestServer {
    /// Starts a server on 127.0.0.1 with an ephemeral port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ServerState::default());
        let s = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, s).await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serves `data` at `path`; replacing a file gives it a new `ETag` and `Last-Modified`.
    pub fn put(&self, path: &str, data: Vec<u8>) {
        let v = self.state.version.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.state.files).insert(
            path.to_owned(),
            Served {
                data: Arc::new(data),
                etag: format!("\"v{v}\""),
                last_modified: format!("Thu, 01 Jan 2026 00:00:{:02} GMT", v % 60),
            },
        );
    }

    /// Replaces the bytes at `path` keeping its validators (a misbehaving origin).
    pub fn put_keep_validators(&self, path: &str, data: Vec<u8>) {
        if let Some(f) = lock(&self.state.files).get_mut(path) {
            f.data = Arc::new(data);
        }
    }

    /// Stops serving `path` (404).
    pub fn remove(&self, path: &str) {
        lock(&self.state.files).remove(path);
    }

    /// Answers `from` with a 302 to `to` (a path on this server).
    pub fn redirect(&self, from: &str, to: &str) {
        lock(&self.state.redirects).insert(from.to_owned(), to.to_owned());
    }

    /// Ignores `Range` headers (answers 200 with the whole file) while on.
    pub fn set_no_range(&self, on: bool) {
        self.state.no_range.store(on, Ordering::Relaxed);
    }

    /// Answers the next `n` requests with `503`.
    pub fn fail_next(&self, n: u32) {
        self.state.fail_next.store(n, Ordering::Relaxed);
    }

    /// Waits this long before each answer.
    pub fn set_delay(&self, d: Duration) {
        self.state
            .delay_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// Requests answered so far (all statuses).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Requests that carried a `Range` header.
    pub fn range_requests(&self) -> u64 {
        self.state.range_requests.load(Ordering::Relaxed)
    }

    /// Body bytes sent.
    pub fn bytes_sent(&self) -> u64 {
        self.state.bytes_sent.load(Ordering::Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(stream: TcpStream, s: Arc<ServerState>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut io = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("/").to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if io.read_line(&mut h).await? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        s.requests.fetch_add(1, Ordering::Relaxed);
        let delay = s.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let range = headers.get("range").cloned();
        if range.is_some() {
            s.range_requests.fetch_add(1, Ordering::Relaxed);
        }
        let (status, extra, body) = answer(&s, &method, &path, &headers, range.as_deref());
        let mut head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{extra}\r\n",
            body.len()
        );
        if status >= 400 {
            head = head.replace("\r\n\r\n", "\r\nContent-Type: text/plain\r\n\r\n");
        }
        // Head and body in one write: two small writes would meet delayed ACKs.
        let mut out = head.into_bytes();
        if method != "HEAD" {
            out.extend_from_slice(&body);
            s.bytes_sent.fetch_add(body.len() as u64, Ordering::Relaxed);
        }
        io.get_mut().write_all(&out).await?;
    }
}

fn answer(
    s: &ServerState,
    method: &str,
    path: &str,
    headers: &HashMap<String, String>,
    range: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let fail = s.fail_next.load(Ordering::Relaxed);
    if fail > 0 {
        s.fail_next.store(fail - 1, Ordering::Relaxed);
        return (503, String::new(), b"busy".to_vec());
    }
    if method != "GET" && method != "HEAD" {
        return (405, String::new(), Vec::new());
    }
    if let Some(to) = lock(&s.redirects).get(path) {
        return (302, format!("Location: {to}\r\n"), Vec::new());
    }
    let Some(f) = lock(&s.files).get(path).cloned() else {
        return (404, String::new(), b"not found".to_vec());
    };
    let validators = format!("ETag: {}\r\nLast-Modified: {}\r\n", f.etag, f.last_modified);
    let precondition_failed = headers.get("if-match").is_some_and(|t| *t != f.etag)
        || headers
            .get("if-unmodified-since")
            .is_some_and(|t| *t != f.last_modified);
    if precondition_failed {
        return (412, validators, Vec::new());
    }
    let len = f.data.len() as u64;
    if s.no_range.load(Ordering::Relaxed) {
        return (200, validators, f.data.to_vec());
    }
    let accept = "Accept-Ranges: bytes\r\n";
    let Some(spec) = range.and_then(|r| r.strip_prefix("bytes=")) else {
        return (200, format!("{validators}{accept}"), f.data.to_vec());
    };
    let parsed = spec.split_once('-').and_then(|(a, b)| {
        let a: u64 = a.parse().ok()?;
        let b: u64 = if b.is_empty() {
            len.checked_sub(1)?
        } else {
            b.parse::<u64>().ok()?.min(len.checked_sub(1)?)
        };
        (a <= b).then_some((a, b))
    });
    match parsed {
        Some((a, b)) => (
            206,
            format!("{validators}{accept}Content-Range: bytes {a}-{b}/{len}\r\n"),
            f.data[a as usize..=b as usize].to_vec(),
        ),
        None => (
            416,
            format!("{validators}Content-Range: bytes */{len}\r\n"),
            Vec::new(),
        ),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
