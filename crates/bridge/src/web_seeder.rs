//! The web-seed driver (BEP 19) beside a running engine download: it fetches whole pieces the
//! torrent still wants from `url-list` / `ws=` servers and hands them to the engine with
//! [`TorrentHandle::put_piece`] (which hashes, writes, marks and announces them), while peers
//! keep downloading the rest.
//!
//! Scheduling: at most [`WebSeedOptions::concurrency`] pieces in flight over all servers, taken
//! from the end of the torrent (peers' pickers work from rarest/random pieces and, for
//! streaming, from the front, so the two rarely race); a piece peers finish first is dropped
//! before it is handed over. A server that fails (socket error, timeout, wrong length, hash
//! mismatch) is left alone for a backoff that doubles up to [`WebSeedOptions::max_backoff`];
//! a changed origin is reopened (validators pinned again) after its backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use swarmfs_engine::{Engine, TorrentError, TorrentHandle, TorrentOptions};
use swarmfs_http_storage::{HttpClient, HttpFile, HttpOptions};
use swarmfs_metainfo::{Info, Magnet, PieceIndex, Torrent};
use swarmfs_storage::StorageFactory;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::BridgeError;
use crate::source::{merged_web_seeds, resolve_magnet, torrent_sources};
use crate::webseed::web_seed_file_urls;

/// How long [`WebSeeder::stop`] lets fetches in flight finish.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Tuning of a [`WebSeeder`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WebSeedOptions {
    /// Pieces fetched at once, over all web seeds (at least 1).
    pub concurrency: usize,
    /// HTTP client tuning (window, read-ahead and cache are turned off: each piece is one range
    /// request per file it spans).
    pub http: HttpOptions,
    /// First pause after a server fails; doubled per failure up to `max_backoff`.
    pub backoff: Duration,
    /// Longest pause.
    pub max_backoff: Duration,
    /// How often the wanted pieces are looked at again when there is nothing to do.
    pub idle_poll: Duration,
}

impl Default for WebSeedOptions {
    fn default() -> Self {
        Self {
            concurrency: 2,
            http: HttpOptions::default(),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            idle_poll: Duration::from_millis(500),
        }
    }
}

impl WebSeedOptions {
    /// Sets [`WebSeedOptions::concurrency`].
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets [`WebSeedOptions::http`].
    pub fn http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// Sets [`WebSeedOptions::backoff`] and [`WebSeedOptions::max_backoff`].
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = first;
        self.max_backoff = max.max(first);
        self
    }
}

/// What a [`WebSeeder`] did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebSeedStats {
    /// Pieces fetched from web seeds and accepted (verified) by the engine.
    pub pieces: u32,
    /// Payload bytes of those pieces.
    pub bytes: u64,
    /// Pieces fetched whose hash did not match (not written).
    pub hash_failures: u32,
    /// Fetches that failed (socket, status, changed origin, open failures).
    pub errors: u32,
    /// Pieces fetched but finished by peers first (not handed over).
    pub redundant: u32,
    /// Bytes received from the web servers.
    pub bytes_fetched: u64,
}

/// A running web-seed driver for one torrent. Dropping it stops it.
#[derive(Debug)]
pub struct WebSeeder {
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Counters {
    pieces: AtomicU32,
    bytes: AtomicU64,
    hash_failures: AtomicU32,
    errors: AtomicU32,
    redundant: AtomicU32,
    client: std::sync::OnceLock<HttpClient>,
}

impl WebSeeder {
    /// Starts fetching the pieces `handle` still wants from `web_seeds` (BEP 19 base URLs:
    /// `url-list` entries or `ws=` values). Waits for the metadata first if it is not known.
    /// With no web seed it does nothing.
    pub fn start(handle: TorrentHandle, web_seeds: Vec<String>, options: WebSeedOptions) -> Self {
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = watch::channel(false);
        let task = (!web_seeds.is_empty()).then(|| {
            let c = counters.clone();
            tokio::spawn(Driver::run(handle, web_seeds, options, c, stopped))
        });
        Self {
            counters,
            stop,
            task,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> WebSeedStats {
        let c = &self.counters;
        WebSeedStats {
            pieces: c.pieces.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            hash_failures: c.hash_failures.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            redundant: c.redundant.load(Ordering::Relaxed),
            bytes_fetched: c.client.get().map_or(0, |h| h.stats().bytes_fetched),
        }
    }

    /// Whether the driver still runs (it ends when the torrent is removed or it is stopped).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops fetching and returns the final counters: fetches in flight get [`STOP_GRACE`] to
    /// finish (and be counted), then are dropped.
    pub async fn stop(mut self) -> WebSeedStats {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.stats()
    }
}

impl Drop for WebSeeder {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Adds `magnet` to `engine` with its web seeds driven by a [`WebSeeder`]. When the magnet
/// names `.torrent` documents over HTTP (`xs=http://...`), the metadata is fetched from them
/// and checked against the info-hash first, so a magnet with web seeds and no peers at all
/// downloads fully; when that fails (or there is no `xs=`), the metadata comes from peers as
/// usual and the driver waits for it. Web seeds are the `.torrent`'s `url-list` and the
/// magnet's `ws=` values.
pub async fn add_magnet_with_web_seeds(
    engine: &Engine,
    magnet: &Magnet,
    storage: Arc<dyn StorageFactory>,
    torrent_options: TorrentOptions,
    options: WebSeedOptions,
) -> Result<(TorrentHandle, WebSeeder), BridgeError> {
    if magnet.info_hash().is_none() {
        return Err(BridgeError::MutableMagnet);
    }
    if !torrent_sources(magnet).is_empty() {
        let client = HttpClient::new(options.http.clone());
        if let Ok(torrent) = resolve_magnet(&client, magnet).await {
            let mut torrent_options = torrent_options;
            torrent_options
                .peers
                .extend(magnet.peers.iter().filter_map(peer_socket));
            return add_torrent_with_web_seeds(engine, &torrent, storage, torrent_options, options);
        }
    }
    let handle = engine.add_magnet(magnet, storage, torrent_options)?;
    let seeds = magnet
        .web_seeds
        .iter()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .cloned()
        .collect();
    let seeder = WebSeeder::start(handle.clone(), seeds, options);
    Ok((handle, seeder))
}

/// Adds `torrent` to `engine` with the web seeds of its `url-list` driven by a [`WebSeeder`].
pub fn add_torrent_with_web_seeds(
    engine: &Engine,
    torrent: &Torrent,
    storage: Arc<dyn StorageFactory>,
    torrent_options: TorrentOptions,
    options: WebSeedOptions,
) -> Result<(TorrentHandle, WebSeeder), BridgeError> {
    let handle = engine.add_info(torrent.info().clone(), storage, torrent_options)?;
    let seeds = merged_web_seeds(torrent, &Magnet::from_info_hash(torrent.info_hash()));
    let seeder = WebSeeder::start(handle.clone(), seeds, options);
    Ok((handle, seeder))
}

fn peer_socket(p: &swarmfs_metainfo::PeerAddr) -> Option<std::net::SocketAddr> {
    match p {
        swarmfs_metainfo::PeerAddr::Ip(a) => Some(*a),
        _ => None,
    }
}

/// One web seed's state.
struct Seed {
    base: String,
    files: Option<Arc<Vec<Option<HttpFile>>>>,
    opening: bool,
    busy: usize,
    backoff: Duration,
    retry_at: Option<Instant>,
}

enum Done {
    Opened(usize, Result<Vec<Option<HttpFile>>, String>),
    Piece(usize, u32, Outcome),
}

enum Outcome {
    Verified(u64),
    HashFailed,
    Redundant,
    Failed { changed: bool },
    Removed,
}

struct Driver {
    handle: TorrentHandle,
    info: Arc<Info>,
    client: HttpClient,
    options: WebSeedOptions,
    counters: Arc<Counters>,
    seeds: Vec<Seed>,
    inflight: Vec<u32>,
    tasks: JoinSet<Done>,
}

impl Driver {
    async fn run(
        handle: TorrentHandle,
        web_seeds: Vec<String>,
        options: WebSeedOptions,
        counters: Arc<Counters>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let info = tokio::select! {
            i = handle.wait_metadata() => match i {
                Ok(i) => i,
                Err(_) => return,
            },
            _ = stopped.wait_for(|s| *s) => return,
        };
        let mut http = options.http.clone();
        http.window = 0;
        http.read_ahead = 0;
        let client = HttpClient::new(http);
        let _ = counters.client.set(client.clone());
        let seeds = web_seeds
            .into_iter()
            .map(|base| Seed {
                base,
                files: None,
                opening: false,
                busy: 0,
                backoff: options.backoff,
                retry_at: None,
            })
            .collect();
        let mut d = Self {
            handle,
            info,
            client,
            options,
            counters,
            seeds,
            inflight: Vec::new(),
            tasks: JoinSet::new(),
        };
        tokio::select! {
            () = d.drive() => return,
            _ = stopped.wait_for(|s| *s) => {}
        }
        // Stopped: let fetches in flight finish (briefly) so that they are counted.
        let _ = tokio::time::timeout(STOP_GRACE, async {
            while let Some(done) = d.tasks.join_next().await {
                if let Ok(done) = done {
                    d.finish(done);
                }
            }
        })
        .await;
    }

    async fn drive(&mut self) {
        loop {
            let wanted = match self.handle.wanted_pieces().await {
                Ok(w) => w,
                Err(TorrentError::NoMetadata) => swarmfs_metainfo::Bitfield::new(0),
                Err(_) => return,
            };
            let now = Instant::now();
            for (i, s) in self.seeds.iter_mut().enumerate() {
                let ready = s.retry_at.is_none_or(|t| t <= now);
                if ready && s.files.is_none() && !s.opening && wanted.count_ones() > 0 {
                    s.opening = true;
                    let (info, client, base) =
                        (self.info.clone(), self.client.clone(), s.base.clone());
                    self.tasks.spawn(async move {
                        Done::Opened(i, open_seed(&info, &base, &client).await)
                    });
                }
            }
            let mut candidates = wanted
                .ones()
                .filter(|p| !self.inflight.contains(p))
                .collect::<Vec<_>>();
            while self.inflight.len() < self.options.concurrency.max(1) {
                let Some(seed) = self.pick_seed(now) else {
                    break;
                };
                let Some(piece) = candidates.pop() else {
                    break;
                };
                self.spawn_piece(seed, piece);
            }
            let pause = self.pause(now, wanted.count_ones() == 0);
            let done = if self.tasks.is_empty() {
                tokio::time::sleep(pause).await;
                continue;
            } else {
                tokio::select! {
                    d = self.tasks.join_next() => d,
                    () = tokio::time::sleep(pause) => continue,
                }
            };
            let Some(Ok(done)) = done else { continue };
            if !self.finish(done) {
                return;
            }
        }
    }

    /// The ready seed with open files and the fewest fetches in flight.
    fn pick_seed(&self, now: Instant) -> Option<usize> {
        self.seeds
            .iter()
            .enumerate()
            .filter(|(_, s)| s.files.is_some() && s.retry_at.is_none_or(|t| t <= now))
            .min_by_key(|(_, s)| s.busy)
            .map(|(i, _)| i)
    }

    /// How long to wait for something to change.
    fn pause(&self, now: Instant, idle: bool) -> Duration {
        let next_retry = self
            .seeds
            .iter()
            .filter_map(|s| s.retry_at)
            .filter(|t| *t > now)
            .min()
            .map(|t| t - now);
        let poll = if idle {
            self.options.idle_poll * 2
        } else {
            self.options.idle_poll
        };
        next_retry.map_or(poll, |r| r.min(poll))
    }

    fn spawn_piece(&mut self, seed: usize, piece: u32) {
        let s = &mut self.seeds[seed];
        let Some(files) = s.files.clone() else { return };
        s.busy += 1;
        self.inflight.push(piece);
        let (info, handle) = (self.info.clone(), self.handle.clone());
        self.tasks.spawn(async move {
            let outcome = fetch_and_put(&info, &handle, &files, piece).await;
            Done::Piece(seed, piece, outcome)
        });
    }

    /// Books a finished task; false when the torrent is gone.
    fn finish(&mut self, done: Done) -> bool {
        let c = &self.counters;
        match done {
            Done::Opened(i, Ok(files)) => {
                let s = &mut self.seeds[i];
                s.opening = false;
                s.files = Some(Arc::new(files));
            }
            Done::Opened(i, Err(_)) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                self.seeds[i].opening = false;
                self.back_off(i);
            }
            Done::Piece(i, piece, outcome) => {
                self.inflight.retain(|p| *p != piece);
                self.seeds[i].busy -= 1;
                match outcome {
                    Outcome::Verified(n) => {
                        c.pieces.fetch_add(1, Ordering::Relaxed);
                        c.bytes.fetch_add(n, Ordering::Relaxed);
                        let s = &mut self.seeds[i];
                        s.backoff = self.options.backoff;
                    }
                    Outcome::Redundant => {
                        c.redundant.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::HashFailed => {
                        c.hash_failures.fetch_add(1, Ordering::Relaxed);
                        self.back_off(i);
                    }
                    Outcome::Failed { changed } => {
                        c.errors.fetch_add(1, Ordering::Relaxed);
                        if changed {
                            self.seeds[i].files = None;
                        }
                        self.back_off(i);
                    }
                    Outcome::Removed => return false,
                }
            }
        }
        true
    }

    fn back_off(&mut self, i: usize) {
        let s = &mut self.seeds[i];
        s.retry_at = Some(Instant::now() + s.backoff);
        s.backoff = (s.backoff * 2).min(self.options.max_backoff);
    }
}

/// Opens every file of `info` at web seed `base`, checking lengths. Pad files and empty files
/// get no URL (their bytes are zeros).
async fn open_seed(
    info: &Info,
    base: &str,
    client: &HttpClient,
) -> Result<Vec<Option<HttpFile>>, String> {
    let mut out = Vec::new();
    for (i, url) in web_seed_file_urls(info, base).into_iter().enumerate() {
        let expected = info.geometry().file_length(i).unwrap_or(0);
        if expected == 0 || info.files().get(i).is_some_and(|f| f.is_pad()) {
            out.push(None);
            continue;
        }
        let f = client.open(&url).await.map_err(|e| e.to_string())?;
        if f.len() != expected {
            return Err(format!("{url} is {} bytes, expected {expected}", f.len()));
        }
        out.push(Some(f));
    }
    Ok(out)
}

async fn fetch_and_put(
    info: &Info,
    handle: &TorrentHandle,
    files: &[Option<HttpFile>],
    p: u32,
) -> Outcome {
    let g = info.geometry();
    let Some(piece): Option<PieceIndex> = g.piece(p) else {
        return Outcome::Failed { changed: false };
    };
    let len = g.piece_len(piece);
    let mut buf = vec![0u8; len as usize];
    for span in g.spans(piece, 0, len) {
        let Some(Some(f)) = files.get(span.file_index) else {
            continue;
        };
        let at = span.piece_offset as usize;
        if let Err(e) = f
            .read_at(span.file_offset, &mut buf[at..at + span.len as usize])
            .await
        {
            return Outcome::Failed {
                changed: e.is_origin_changed(),
            };
        }
    }
    if handle.verified().is_some_and(|v| v.get(p)) {
        return Outcome::Redundant;
    }
    match handle.put_piece(p, buf).await {
        Ok(true) => Outcome::Verified(u64::from(len)),
        Ok(false) => Outcome::HashFailed,
        Err(TorrentError::Removed) => Outcome::Removed,
        Err(_) => Outcome::Failed { changed: false },
    }
}
