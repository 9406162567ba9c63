//! Fixtures for interop tests against third-party BitTorrent clients run as child processes
//! (aria2c, transmission-cli): a child-process guard, a skip check for missing binaries,
//! payloads written to disk with their `.torrent`, and a tiny HTTP tracker on loopback that
//! answers every announce with a fixed compact peer list (those clients learn peers of a
//! `.torrent` only from a tracker or the DHT, and the DHT stays off in tests).
//!
//! A test file declares `mod support;` before `mod third_party;` (payload bytes come from
//! `support::data`).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use swarmfs_metainfo::{SafePath, Torrent, TorrentBuilder};

mod fetch;

#[allow(unused_imports)] // each test file uses a part
pub use fetch::{LIMIT, fetch_from_address, fetch_from_magnet, wait_done};

/// A child process killed and reaped when dropped (a failing test leaves nothing behind).
pub struct Reap {
    pub child: Child,
    /// Where the child's stdout and stderr go.
    pub log: PathBuf,
}

impl Reap {
    /// Spawns `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(mut cmd: Command, log: &Path) -> Self {
        let out = File::create(log).expect("create log");
        let err = out.try_clone().expect("clone log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn client");
        Self {
            child,
            log: log.to_path_buf(),
        }
    }

    /// The log so far (lossy UTF-8, `\r` turned into newlines), for failure messages.
    pub fn log_text(&self) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&bytes).replace('\r', "\n")
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether the child has exited, with its status.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `binary` runs (`binary --version` or `-V` exits); prints a SKIP line when not.
pub fn available(binary: &str, package: &str) -> bool {
    let ok = ["--version", "-V"].iter().any(|flag| {
        Command::new(binary)
            .arg(flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        println!("SKIP: {binary} not found (apt-get install {package})");
    }
    ok
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// Polls `cond` every 50 ms for at most `limit`; true once it held.
pub fn poll_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Whether a BitTorrent client on `127.0.0.1:port` answers a plain handshake for `info_hash`
/// with its own handshake for the same torrent (it serves the torrent now, not merely
/// listens). The probe connection is closed right after.
pub fn answers_handshake(port: u16, info_hash: &[u8; 20]) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut hs = Vec::with_capacity(68);
    hs.push(19u8);
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0u8; 8]);
    hs.extend_from_slice(info_hash);
    hs.extend_from_slice(b"-XX0000-probe-probe-");
    let mut theirs = [0u8; 68];
    s.write_all(&hs).is_ok()
        && s.read_exact(&mut theirs).is_ok()
        && theirs[..20] == hs[..20]
        && theirs[28..48] == info_hash[..]
}

/// One payload: its files (path inside the torrent, bytes, in torrent order), the byte stream
/// they concatenate to, the torrent and where its `.torrent` file was written.
pub struct Payload {
    pub files: Vec<(SafePath, Vec<u8>)>,
    pub stream: Vec<u8>,
    pub torrent: Torrent,
    pub torrent_path: PathBuf,
}

impl Payload {
    /// A single-file torrent `name` of `len` pseudo-random bytes (`seed`).
    pub fn single(dir: &Path, name: &str, len: usize, piece_length: u32, seed: u64) -> Self {
        let bytes = crate::support::data(len, seed);
        let torrent = TorrentBuilder::new()
            .piece_length(piece_length)
            .build_single(name, &bytes)
            .expect("build single-file torrent");
        let path = SafePath::from_components([name]).expect("name");
        Self::finish(dir, vec![(path, bytes.clone())], bytes, torrent)
    }

    /// A multi-file torrent `name` whose files are `(path, len)` (slash-separated paths).
    pub fn multi(
        dir: &Path,
        name: &str,
        files: &[(&str, usize)],
        piece_length: u32,
        seed: u64,
    ) -> Self {
        let mut entries: Vec<(SafePath, Vec<u8>)> = files
            .iter()
            .enumerate()
            .map(|(i, (p, len))| {
                (
                    SafePath::parse(p).expect("file path"),
                    crate::support::data(*len, seed.wrapping_add(i as u64)),
                )
            })
            .collect();
        let torrent = TorrentBuilder::new()
            .piece_length(piece_length)
            .build_entries(name, &entries)
            .expect("build multi-file torrent");
        let by_path: BTreeMap<SafePath, Vec<u8>> = entries.drain(..).collect();
        let mut ordered = Vec::new();
        let mut stream = Vec::new();
        for f in torrent.info().files() {
            let bytes = by_path.get(f.path()).expect("file of the torrent").clone();
            stream.extend_from_slice(&bytes);
            ordered.push((f.path().clone(), bytes));
        }
        Self::finish(dir, ordered, stream, torrent)
    }

    fn finish(
        dir: &Path,
        files: Vec<(SafePath, Vec<u8>)>,
        stream: Vec<u8>,
        torrent: Torrent,
    ) -> Self {
        let torrent_path = dir.join(format!("{}.torrent", torrent.info_hash()));
        std::fs::write(&torrent_path, torrent.to_bytes()).expect("write .torrent");
        Self {
            files,
            stream,
            torrent,
            torrent_path,
        }
    }

    /// Sets the `.torrent`'s `announce` URL (the info hash does not change) and rewrites it.
    pub fn set_announce(&mut self, url: &str) {
        self.torrent.set_announce(Some(url));
        std::fs::write(&self.torrent_path, self.torrent.to_bytes()).expect("rewrite .torrent");
    }

    /// Where file `i` lives below a client's download directory `root`.
    pub fn file_path(&self, root: &Path, i: usize) -> PathBuf {
        self.torrent
            .info()
            .storage_path(i)
            .expect("file index")
            .to_path(root)
    }

    /// Writes every file below `root` as a client expects to find it when seeding.
    pub fn write_to(&self, root: &Path) {
        for (i, (_, bytes)) in self.files.iter().enumerate() {
            let path = self.file_path(root, i);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, bytes).expect("write file");
        }
    }

    /// Whether every file below `root` holds exactly its bytes.
    pub fn matches(&self, root: &Path) -> bool {
        self.files.iter().enumerate().all(|(i, (_, bytes))| {
            std::fs::read(self.file_path(root, i)).is_ok_and(|b| b == *bytes)
        })
    }

    /// The first file below `root` whose bytes differ, with a reason (for failure messages).
    pub fn mismatch(&self, root: &Path) -> Option<String> {
        self.files.iter().enumerate().find_map(|(i, (p, bytes))| {
            match std::fs::read(self.file_path(root, i)) {
                Err(e) => Some(format!("{}: {e}", p.as_str())),
                Ok(b) if b.len() != bytes.len() => Some(format!(
                    "{}: {} bytes, expected {}",
                    p.as_str(),
                    b.len(),
                    bytes.len()
                )),
                Ok(b) => {
                    let at = b.iter().zip(bytes).position(|(a, e)| a != e)?;
                    Some(format!("{}: first differing byte at {at}", p.as_str()))
                }
            }
        })
    }
}

/// A minimal HTTP tracker on 127.0.0.1: every `GET /announce` gets the compact peer list set
/// with [`Tracker::set_peers`]; `GET /scrape` gets an empty `files` dictionary. The query
/// strings of announces are recorded. Stops when dropped.
pub struct Tracker {
    addr: SocketAddr,
    peers: Arc<Mutex<Vec<SocketAddrV4>>>,
    announces: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Tracker {
    /// Starts a tracker answering with `peers`.
    pub fn start(peers: &[SocketAddrV4]) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind tracker");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("tracker addr");
        let peers = Arc::new(Mutex::new(peers.to_vec()));
        let announces = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peers, announces, stop) = (peers.clone(), announces.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &peers, &announces),
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        Self {
            addr,
            peers,
            announces,
            stop,
            thread: Some(thread),
        }
    }

    /// The announce URL.
    pub fn announce_url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }

    /// Replaces the peer list handed out from now on.
    pub fn set_peers(&self, peers: &[SocketAddrV4]) {
        *self.peers.lock().expect("peers lock") = peers.to_vec();
    }

    /// Query strings of the announces received so far.
    pub fn announces(&self) -> Vec<String> {
        self.announces.lock().expect("announces lock").clone()
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one HTTP request (bounded to 16 KiB of head) and closes.
fn serve(mut stream: TcpStream, peers: &Mutex<Vec<SocketAddrV4>>, announces: &Mutex<Vec<String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let body = if path.ends_with("/announce") {
        announces
            .lock()
            .expect("announces lock")
            .push(query.to_owned());
        let mut compact = Vec::new();
        for p in peers.lock().expect("peers lock").iter() {
            compact.extend_from_slice(&p.ip().octets());
            compact.extend_from_slice(&p.port().to_be_bytes());
        }
        let mut body =
            b"d8:completei1e10:incompletei1e8:intervali2e12:min intervali1e5:peers".to_vec();
        body.extend_from_slice(format!("{}:", compact.len()).as_bytes());
        body.extend_from_slice(&compact);
        body.push(b'e');
        body
    } else if path.ends_with("/scrape") {
        b"d5:filesdee".to_vec()
    } else {
        let _ = stream.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let mut response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    let _ = stream.write_all(&response);
}

/// The value of `key` in a URL query string (raw, still percent-encoded).
pub fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Prints the torrent's connection, metadata and completion events with the time since
/// `since` (seen with `--nocapture`; a slow or failing interop run shows where time went).
pub fn print_events(t: &swarmfs_engine::TorrentHandle, since: Instant, label: &'static str) {
    use swarmfs_engine::TorrentEvent;
    let mut events = t.events();
    tokio::spawn(async move {
        let mut first_piece = true;
        loop {
            let ev = match events.recv().await {
                Ok(ev) => ev,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            let show = match &ev {
                TorrentEvent::PieceVerified(_) => std::mem::take(&mut first_piece),
                _ => true,
            };
            if show {
                println!("[{label} {:>8.3}s] {ev:?}", since.elapsed().as_secs_f64());
            }
        }
    });
}
