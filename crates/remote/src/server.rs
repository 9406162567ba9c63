//! The transport-agnostic server core: receives [`ClientMessage`]s, drives a swarmfs
//! [`Client`], and hands [`ServerMessage`]s to a [`Transport`].

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use swarmfs::{Archive, Client};
use swarmfs_engine::TorrentHandle;
use swarmfs_http::{ServerHandle, StreamServer};
use swarmfs_metainfo::InfoHash;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::protocol::{
    AddOptions, ClientMessage, DecodeError, ErrorInfo, ServerMessage, TorrentInfo,
};
use crate::transport::Transport;

mod engine;
mod ext;
mod http_opts;
mod swarm;

use engine::EngineSlot;
use http_opts::ServerOpts;
use swarm::{error_msg, parse_id, progress_of, ready, run_torrent, teardown, torrent_id_to_magnet};

/// Server options (the seed's `heartbeatTimeout`, `updateInterval`, `trace`, and limits).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Drop clients silent this long; zero disables the check. Default 30 s.
    pub heartbeat_timeout: Duration,
    /// Push `update` to every client of every torrent this often; zero disables. Default 1 s.
    pub update_interval: Duration,
    /// A torrent with no clients left is removed after this long (so a client replacing
    /// another keeps it). Default 10 s, as the 2.1.0 server.
    pub grace: Duration,
    /// How long to wait for a torrent's metadata before reporting an error. Default 1 hour.
    pub metadata_timeout: Duration,
    /// The IP streaming servers bind. Default `127.0.0.1`.
    pub server_ip: IpAddr,
    /// Most clients at once; further ones get an `error`. Default 1024.
    pub max_clients: usize,
    /// Most torrents at once; further adds get an `error`. Default 256.
    pub max_torrents: usize,
    /// Most torrentKeys one client may hold. Default 256.
    pub max_keys_per_client: usize,
    /// Log the lifecycle lines the seed shows (at `info` level through `tracing`).
    pub trace: bool,
    /// How long a `swarmfs/v1/read-dir` or `read-file` may wait for its data. Default 60 s.
    pub read_timeout: Duration,
    /// Most `swarmfs/v1/read-*` requests in flight at once; further ones fail. Default 32.
    pub max_reads: usize,
    /// Most `swarmfs/v1/watch-mutable` watches one client may hold. Default 16.
    pub max_watches_per_client: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            heartbeat_timeout: Duration::from_secs(30),
            update_interval: Duration::from_secs(1),
            grace: Duration::from_secs(10),
            metadata_timeout: Duration::from_secs(3600),
            server_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            max_clients: 1024,
            max_torrents: 256,
            max_keys_per_client: 256,
            trace: false,
            read_timeout: Duration::from_secs(60),
            max_reads: 32,
            max_watches_per_client: 16,
        }
    }
}

/// How often housekeeping (heartbeats, grace periods, delayed destroys) runs.
const HOUSEKEEPING: Duration = Duration::from_millis(50);

/// The remote-control server. Cheap to clone; the background task ends when
/// [`RemoteServer::shutdown`] is called.
#[derive(Clone)]
pub struct RemoteServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RemoteServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteServer").finish_non_exhaustive()
    }
}

struct Inner {
    engine: EngineSlot,
    transport: Arc<dyn Transport>,
    config: ServerConfig,
    state: Mutex<State>,
    reads: Arc<Semaphore>,
}

#[derive(Default)]
struct State {
    clients: HashMap<String, ClientState>,
    torrents: HashMap<InfoHash, Torrent>,
    next_id: u64,
    ticker: Option<JoinHandle<()>>,
    stopped: bool,
}

struct ClientState {
    last_seen: Instant,
    destroy_at: Option<Instant>,
    /// `swarmfs/v1/watch-mutable` tasks by `requestId`.
    watches: HashMap<String, JoinHandle<()>>,
}

#[derive(Clone, PartialEq, Eq)]
struct Sub {
    client_key: String,
    torrent_key: String,
}

struct Torrent {
    id: u64,
    info_hash: InfoHash,
    subs: Vec<Sub>,
    info: TorrentInfo,
    progress: TorrentInfo,
    archive: Option<Archive>,
    server: Option<(SocketAddr, String)>,
    server_handle: Option<ServerHandle>,
    server_waiting: Vec<Sub>,
    /// The options of the first request for the server, used when it starts.
    server_opts: Option<ServerOpts>,
    server_starting: bool,
    task: Option<JoinHandle<()>>,
    orphaned_at: Option<Instant>,
    last_counts: (u64, u64),
    done: bool,
    paused: bool,
    /// Kept when no client follows it (`opts.keep`).
    kept: bool,
}

impl RemoteServer {
    /// A server over `client` (which the caller owns and stops), sending through
    /// `transport`. Must be called inside a tokio runtime: it spawns the housekeeping and
    /// update task.
    pub fn new(client: Client, transport: Arc<dyn Transport>, config: ServerConfig) -> Self {
        Self::with_engine(EngineSlot::fixed(client), transport, config)
    }

    /// A server whose engine `factory` builds on the first add; it is stopped again when no
    /// torrents (and no mutable watches) remain, and built anew on the next add. Must be
    /// called inside a tokio runtime.
    pub fn lazy<F, Fut, E>(factory: F, transport: Arc<dyn Transport>, config: ServerConfig) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Client, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        Self::with_engine(EngineSlot::lazy(factory), transport, config)
    }

    fn with_engine(
        engine: EngineSlot,
        transport: Arc<dyn Transport>,
        config: ServerConfig,
    ) -> Self {
        let reads = Arc::new(Semaphore::new(config.max_reads));
        let server = Self {
            inner: Arc::new(Inner {
                engine,
                transport,
                config,
                state: Mutex::new(State::default()),
                reads,
            }),
        };
        let weak = Arc::downgrade(&server.inner);
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HOUSEKEEPING);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_update = Instant::now();
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let s = RemoteServer { inner };
                s.housekeeping();
                let every = s.inner.config.update_interval;
                if !every.is_zero() && last_update.elapsed() >= every {
                    last_update = Instant::now();
                    s.send_updates().await;
                }
            }
        });
        server.lock().ticker = Some(ticker);
        server
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The swarmfs client the server drives, while one runs.
    pub fn client(&self) -> Option<Client> {
        self.inner.engine.current()
    }

    /// Whether an engine runs (always, for a server made with [`RemoteServer::new`]).
    pub fn engine_running(&self) -> bool {
        self.inner.engine.current().is_some()
    }

    /// How many engines a [`RemoteServer::lazy`] server has built so far.
    pub fn engines_started(&self) -> u64 {
        self.inner.engine.started()
    }

    /// Number of torrents the server holds.
    pub fn torrent_count(&self) -> usize {
        self.lock().torrents.len()
    }

    /// Number of clients the server knows.
    pub fn client_count(&self) -> usize {
        self.lock().clients.len()
    }

    /// Decodes and handles one raw message. A message that does not decode is dropped and the
    /// error returned (the caller may log it or close the connection).
    pub fn receive_bytes(&self, bytes: &[u8]) -> Result<(), DecodeError> {
        let msg = ClientMessage::decode(bytes)?;
        self.receive(msg);
        Ok(())
    }

    /// Handles one message (the seed's `server.receive(message)`).
    pub fn receive(&self, msg: ClientMessage) {
        let key = msg.client_key().to_owned();
        {
            let mut st = self.lock();
            if st.stopped {
                return;
            }
            let now = Instant::now();
            if !st.clients.contains_key(&key) {
                if st.clients.len() >= self.inner.config.max_clients {
                    drop(st);
                    self.send(error_msg(&key, None, "too many clients", false));
                    return;
                }
                if self.inner.config.trace {
                    tracing::info!("adding  client, clientKey: {key}");
                }
                st.clients.insert(
                    key.clone(),
                    ClientState {
                        last_seen: now,
                        destroy_at: None,
                        watches: HashMap::new(),
                    },
                );
            }
            if let Some(c) = st.clients.get_mut(&key) {
                c.last_seen = now;
            }
        }
        match msg {
            ClientMessage::Heartbeat { .. } => {}
            ClientMessage::Subscribe {
                torrent_key,
                torrent_id,
                ..
            } => self.subscribe(
                Sub {
                    client_key: key,
                    torrent_key,
                },
                &torrent_id,
            ),
            ClientMessage::AddTorrent {
                torrent_key,
                torrent_id,
                opts,
                ..
            } => self.add(
                Sub {
                    client_key: key,
                    torrent_key,
                },
                &torrent_id,
                opts.unwrap_or_default(),
            ),
            ClientMessage::CreateServer {
                torrent_key, opts, ..
            } => self.create_server(
                Sub {
                    client_key: key,
                    torrent_key,
                },
                opts.as_ref(),
            ),
            ClientMessage::Destroy { opts, .. } => {
                let delay = opts.and_then(|o| o.delay).unwrap_or(0);
                if delay == 0 {
                    self.kill_client(&key);
                } else {
                    let mut st = self.lock();
                    if let Some(c) = st.clients.get_mut(&key) {
                        c.destroy_at = Some(Instant::now() + Duration::from_millis(delay));
                    }
                }
            }
            ext => self.ext(key, ext),
        }
    }

    /// Removes every torrent, stops the background task, and stops the engine if the server
    /// built it.
    pub async fn shutdown(&self) {
        let (torrents, ticker) = {
            let mut st = self.lock();
            st.stopped = true;
            for (_, c) in st.clients.drain() {
                c.watches.values().for_each(JoinHandle::abort);
            }
            let t: Vec<Torrent> = st.torrents.drain().map(|(_, t)| t).collect();
            (t, st.ticker.take())
        };
        if let Some(t) = ticker {
            t.abort();
        }
        for t in torrents {
            teardown(self.inner.engine.current(), t, false).await;
        }
        self.inner.engine.stop_owned().await;
    }

    /// Stops a lazy engine when no torrent and no watch needs it.
    async fn stop_engine_if_idle(&self) {
        let stopped = self
            .inner
            .engine
            .stop_if(|| {
                let st = self.lock();
                st.torrents.is_empty() && st.clients.values().all(|c| c.watches.is_empty())
            })
            .await;
        if stopped && self.inner.config.trace {
            tracing::info!("no torrents left, engine stopped");
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, msg: ServerMessage) {
        self.inner.transport.send(msg);
    }

    fn subscribe(&self, sub: Sub, torrent_id: &str) {
        let mut st = self.lock();
        let found = parse_id(torrent_id).ok().and_then(|(ih, _)| {
            let t = st.torrents.get_mut(&ih)?;
            if !t.subs.contains(&sub) {
                t.subs.push(sub.clone());
            }
            t.orphaned_at = None;
            Some(t.snapshot())
        });
        // Under the lock: no event for this key may overtake the answer.
        self.send(ServerMessage::TorrentSubscribed {
            client_key: sub.client_key,
            torrent_key: sub.torrent_key,
            torrent: found,
        });
        drop(st);
    }

    fn add(&self, sub: Sub, torrent_id: &str, opts: AddOptions) {
        let Ok((ih, magnet)) = parse_id(torrent_id) else {
            self.send(ServerMessage::TorrentSubscribed {
                client_key: sub.client_key,
                torrent_key: sub.torrent_key,
                torrent: None,
            });
            return;
        };
        let mut st = self.lock();
        let keys = st
            .torrents
            .values()
            .flat_map(|t| t.subs.iter())
            .filter(|s| s.client_key == sub.client_key)
            .count();
        if keys >= self.inner.config.max_keys_per_client {
            drop(st);
            self.send(error_msg(
                &sub.client_key,
                Some(&sub.torrent_key),
                "too many torrents for this client",
                false,
            ));
            return;
        }
        let fresh = !st.torrents.contains_key(&ih);
        if fresh {
            if st.torrents.len() >= self.inner.config.max_torrents {
                drop(st);
                self.send(error_msg(
                    &sub.client_key,
                    Some(&sub.torrent_key),
                    "too many torrents",
                    false,
                ));
                return;
            }
            let name = magnet.display_name.clone();
            if self.inner.config.trace {
                tracing::info!(
                    "joining swarm: {} {}",
                    ih.to_hex(),
                    name.as_deref().unwrap_or("")
                );
            }
            st.next_id += 1;
            let id = st.next_id;
            let task = tokio::spawn(run_torrent(
                self.clone(),
                id,
                ih,
                torrent_id_to_magnet(torrent_id),
            ));
            st.torrents.insert(
                ih,
                Torrent {
                    id,
                    info_hash: ih,
                    subs: Vec::new(),
                    info: TorrentInfo {
                        name,
                        info_hash: Some(ih.to_hex()),
                        ..TorrentInfo::default()
                    },
                    progress: TorrentInfo::default(),
                    archive: None,
                    server: None,
                    server_handle: None,
                    server_waiting: Vec::new(),
                    server_opts: None,
                    server_starting: false,
                    task: Some(task),
                    orphaned_at: None,
                    last_counts: (0, 0),
                    done: false,
                    paused: false,
                    kept: false,
                },
            );
        }
        let Some(t) = st.torrents.get_mut(&ih) else {
            return;
        };
        if !t.subs.contains(&sub) {
            t.subs.push(sub.clone());
        }
        t.orphaned_at = None;
        t.kept |= opts.keep == Some(true);
        let snap = t.snapshot();
        let info = t.info.clone();
        let has_meta = info.files.is_some();
        // Sent under the lock so that `metadata` from the torrent's task cannot overtake them.
        // The npm server emits `infohash` (and `metadata`) as the torrent learns them; a client
        // joining later gets them at once.
        self.send(ServerMessage::TorrentSubscribed {
            client_key: sub.client_key.clone(),
            torrent_key: sub.torrent_key.clone(),
            torrent: Some(snap),
        });
        self.send(ServerMessage::Infohash {
            client_key: sub.client_key.clone(),
            torrent_key: sub.torrent_key.clone(),
            torrent: info.clone(),
        });
        if has_meta {
            self.send(ServerMessage::Metadata {
                client_key: sub.client_key.clone(),
                torrent_key: sub.torrent_key.clone(),
                torrent: info,
            });
        }
        // A client joining a finished torrent still learns it is done.
        if t.done {
            self.send(ServerMessage::Done {
                client_key: sub.client_key.clone(),
                torrent_key: sub.torrent_key.clone(),
                torrent: t.progress.clone(),
            });
        }
        drop(st);
        if opts.server.is_some() {
            self.create_server(sub, opts.server.as_ref());
        }
    }

    fn create_server(&self, sub: Sub, opts: Option<&serde_json::Value>) {
        let mut st = self.lock();
        let Some(t) = st.torrents.values_mut().find(|t| t.subs.contains(&sub)) else {
            drop(st);
            self.send(ServerMessage::Warning {
                client_key: sub.client_key,
                torrent_key: None,
                error: ErrorInfo {
                    message: format!("missing torrentKey: {}", sub.torrent_key),
                    stack: None,
                },
            });
            return;
        };
        if let Some((addr, url)) = t.server.clone() {
            drop(st);
            self.send(ready(&sub, addr, url));
            return;
        }
        t.server_waiting.push(sub);
        t.server_opts.get_or_insert_with(|| ServerOpts::parse(opts));
        self.maybe_start_server(t);
    }

    /// Starts the torrent's streaming server when it is wanted and the archive is open.
    fn maybe_start_server(&self, t: &mut Torrent) {
        if t.server_starting || t.server_waiting.is_empty() {
            return;
        }
        let Some(archive) = t.archive.clone() else {
            return;
        };
        t.server_starting = true;
        let this = self.clone();
        let (id, ih) = (t.id, t.info_hash);
        let addr = SocketAddr::new(self.inner.config.server_ip, 0);
        let opts = t.server_opts.clone().unwrap_or_default();
        tokio::spawn(async move {
            let bound = StreamServer::bind(addr, archive)
                .await
                .map(|s| opts.apply(s));
            let mut st = this.lock();
            let Some(t) = st.torrents.get_mut(&ih).filter(|t| t.id == id) else {
                return;
            };
            t.server_starting = false;
            let waiting = std::mem::take(&mut t.server_waiting);
            match bound {
                Ok(server) => {
                    let (a, url) = (server.local_addr(), server.url());
                    t.server = Some((a, url.clone()));
                    t.info.server_url = Some(url.clone());
                    t.server_handle = Some(server.spawn());
                    drop(st);
                    for sub in waiting {
                        this.send(ready(&sub, a, url.clone()));
                    }
                }
                Err(e) => {
                    drop(st);
                    for sub in waiting {
                        this.send(error_msg(
                            &sub.client_key,
                            Some(&sub.torrent_key),
                            &format!("cannot start server: {e}"),
                            false,
                        ));
                    }
                }
            }
        });
    }

    fn kill_client(&self, key: &str) {
        let mut st = self.lock();
        if let Some(c) = st.clients.remove(key) {
            if !c.watches.is_empty() {
                c.watches.values().for_each(JoinHandle::abort);
                let this = self.clone();
                tokio::spawn(async move { this.stop_engine_if_idle().await });
            }
        }
        let now = Instant::now();
        for t in st.torrents.values_mut() {
            let before = t.subs.len();
            t.subs.retain(|s| s.client_key != key);
            t.server_waiting.retain(|s| s.client_key != key);
            if before > 0 && t.subs.is_empty() {
                if self.inner.config.trace {
                    tracing::info!(
                        "torrent has no clients left, destroy after {:?}: {}",
                        self.inner.config.grace,
                        t.info.name.as_deref().unwrap_or("")
                    );
                }
                t.orphaned_at = Some(now);
            }
        }
    }

    fn housekeeping(&self) {
        let now = Instant::now();
        let hb = self.inner.config.heartbeat_timeout;
        let dead: Vec<String> = {
            let st = self.lock();
            st.clients
                .iter()
                .filter(|(_, c)| {
                    c.destroy_at.is_some_and(|d| d <= now)
                        || (!hb.is_zero() && now.duration_since(c.last_seen) > hb)
                })
                .map(|(k, _)| k.clone())
                .collect()
        };
        for key in dead {
            if self.inner.config.trace {
                tracing::info!("torrent client died, clientKey: {key}");
            }
            self.kill_client(&key);
        }
        let grace = self.inner.config.grace;
        let gone: Vec<Torrent> = {
            let mut st = self.lock();
            let ids: Vec<InfoHash> = st
                .torrents
                .iter()
                .filter(|(_, t)| {
                    t.subs.is_empty()
                        && !t.kept
                        && t.orphaned_at
                            .is_some_and(|o| now.duration_since(o) >= grace)
                })
                .map(|(k, _)| *k)
                .collect();
            ids.iter().filter_map(|k| st.torrents.remove(k)).collect()
        };
        for t in gone {
            if self.inner.config.trace {
                tracing::info!(
                    "torrent destroyed, all clients died: {}",
                    t.info.name.as_deref().unwrap_or("")
                );
            }
            let this = self.clone();
            tokio::spawn(async move {
                teardown(this.inner.engine.current(), t, false).await;
                this.stop_engine_if_idle().await;
            });
        }
    }

    fn handle_of(&self, t: &Torrent) -> Option<TorrentHandle> {
        match &t.archive {
            Some(a) => a.torrent().cloned(),
            None => self.inner.engine.current()?.engine().torrent(&t.info_hash),
        }
    }

    async fn send_updates(&self) {
        let handles: Vec<(InfoHash, u64, TorrentHandle)> = {
            let st = self.lock();
            st.torrents
                .values()
                .filter_map(|t| Some((t.info_hash, t.id, self.handle_of(t)?)))
                .collect()
        };
        for (ih, id, h) in handles {
            let Ok(stats) = h.stats().await else { continue };
            let mut out = Vec::new();
            {
                let mut st = self.lock();
                let Some(t) = st.torrents.get_mut(&ih).filter(|t| t.id == id) else {
                    continue;
                };
                t.progress = progress_of(&stats, t.info.length);
                let p = t.progress.clone();
                let (d0, u0) = t.last_counts;
                t.last_counts = (stats.downloaded, stats.uploaded);
                for s in &t.subs {
                    if stats.downloaded > d0 {
                        out.push(ServerMessage::Download {
                            client_key: s.client_key.clone(),
                            torrent_key: s.torrent_key.clone(),
                            torrent: p.clone(),
                        });
                    }
                    if stats.uploaded > u0 {
                        out.push(ServerMessage::Upload {
                            client_key: s.client_key.clone(),
                            torrent_key: s.torrent_key.clone(),
                            torrent: p.clone(),
                        });
                    }
                    out.push(ServerMessage::Update {
                        client_key: s.client_key.clone(),
                        torrent_key: s.torrent_key.clone(),
                        torrent: p.clone(),
                    });
                }
            }
            for m in out {
                self.send(m);
            }
        }
    }

    /// Sends a message built per subscriber to every client of torrent `id`.
    fn to_subs(&self, ih: InfoHash, id: u64, make: impl Fn(&Sub, &Torrent) -> ServerMessage) {
        let msgs: Vec<ServerMessage> = {
            let st = self.lock();
            let Some(t) = st.torrents.get(&ih).filter(|t| t.id == id) else {
                return;
            };
            t.subs.iter().map(|s| make(s, t)).collect()
        };
        for m in msgs {
            self.send(m);
        }
    }
}

impl Torrent {
    fn snapshot(&self) -> TorrentInfo {
        let mut s = self.info.clone();
        s.merge(&self.progress);
        s
    }
}
