//! The engine discovery source: per torrent, publish our offer on the rendezvous server, query
//! it with a bloom filter of peers already seen, and feed new peers into the engine.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use swarmfs_engine::{Discovery, DiscoveryTorrent, PeerSink, PeerSource};
use swarmfs_metainfo::InfoHash;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::api::{Credentials, PublishRequest, QueryRequest};
use crate::bloom::BloomFilter;
use crate::client::RendezvousClient;
use crate::error::ClientError;

/// The [`PeerSource`] tag of peers found through a rendezvous server.
pub const RENDEZVOUS_SOURCE: PeerSource = PeerSource::Other("rendezvous");

/// Options of a [`RendezvousDiscovery`] (the seed's `RondevuConnectionManagerOptions`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RendezvousOptions {
    /// Server URL, `http://host:port`.
    pub server: String,
    /// Most peers taken from the server per torrent (default 50); a seen peer stops counting
    /// after [`RendezvousOptions::seen_ttl`].
    pub max_peers_per_torrent: usize,
    /// Time between discovery rounds (default 30 s).
    pub refresh_interval: Duration,
    /// Credentials to reuse (from [`RendezvousDiscovery::credentials`] of an earlier session);
    /// the source registers when none are given or the server no longer knows them.
    pub credentials: Option<Credentials>,
    /// Log each round at `info` instead of `debug`.
    pub debug: bool,
    /// The IP to advertise; default: the local address of our connection to the server.
    pub advertise_ip: Option<IpAddr>,
    /// How long our offers live on the server (default: three refresh intervals, at least 30 s).
    pub offer_ttl: Option<Duration>,
    /// How long a seen peer stays in the bloom filter (default: ten refresh intervals), so a
    /// peer that came back is found again.
    pub seen_ttl: Option<Duration>,
}

impl RendezvousOptions {
    /// Defaults for `server`.
    pub fn new(server: impl Into<String>) -> Self {
        RendezvousOptions {
            server: server.into(),
            max_peers_per_torrent: 50,
            refresh_interval: Duration::from_secs(30),
            credentials: None,
            debug: false,
            advertise_ip: None,
            offer_ttl: None,
            seen_ttl: None,
        }
    }

    /// Sets [`RendezvousOptions::max_peers_per_torrent`].
    pub fn max_peers_per_torrent(mut self, n: usize) -> Self {
        self.max_peers_per_torrent = n.max(1);
        self
    }

    /// Sets [`RendezvousOptions::refresh_interval`].
    pub fn refresh_interval(mut self, d: Duration) -> Self {
        self.refresh_interval = d.max(Duration::from_millis(10));
        self
    }

    /// Sets [`RendezvousOptions::credentials`].
    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = Some(c);
        self
    }

    /// Sets [`RendezvousOptions::debug`].
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// Sets [`RendezvousOptions::advertise_ip`].
    pub fn advertise_ip(mut self, ip: IpAddr) -> Self {
        self.advertise_ip = Some(ip);
        self
    }

    /// Sets [`RendezvousOptions::offer_ttl`].
    pub fn offer_ttl(mut self, d: Duration) -> Self {
        self.offer_ttl = Some(d);
        self
    }

    /// Sets [`RendezvousOptions::seen_ttl`].
    pub fn seen_ttl(mut self, d: Duration) -> Self {
        self.seen_ttl = Some(d);
        self
    }
}

/// What [`RendezvousDiscovery::stats`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceStats {
    /// Torrents being discovered.
    pub active_torrents: usize,
    /// Our peer id on the server, once registered.
    pub peer_id: Option<String>,
    /// The server URL.
    pub server: String,
    /// Per torrent: peers seen through the server (within the seen window).
    pub torrents: Vec<TorrentStat>,
}

/// One torrent in [`SourceStats`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TorrentStat {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Peers seen.
    pub peer_count: usize,
}

/// A rendezvous discovery source; add it with
/// [`EngineBuilder::discovery`](swarmfs_engine::EngineBuilder::discovery). Cheap to clone.
#[derive(Clone)]
pub struct RendezvousDiscovery {
    inner: Arc<Inner>,
}

struct Inner {
    opts: RendezvousOptions,
    client: RendezvousClient,
    creds: Mutex<Option<Credentials>>,
    /// The advertised IP, once known.
    ip: Mutex<Option<IpAddr>>,
    /// Serializes registration so concurrent torrents register once.
    registering: tokio::sync::Mutex<()>,
    torrents: Mutex<HashMap<InfoHash, Arc<TorrentState>>>,
    tasks: Mutex<JoinSet<()>>,
    stop: watch::Sender<bool>,
}

struct TorrentState {
    info_hash: InfoHash,
    listen_port: u16,
    sink: PeerSink,
    wake: Notify,
    /// Seen peer id -> when it was seen. Bounded by `max_peers_per_torrent`.
    seen: tokio::sync::Mutex<HashMap<String, Instant>>,
    peer_count: Mutex<usize>,
}

impl fmt::Debug for RendezvousDiscovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RendezvousDiscovery")
            .field("server", &self.inner.opts.server)
            .finish_non_exhaustive()
    }
}

macro_rules! log {
    ($inner:expr, $($arg:tt)*) => {
        if $inner.opts.debug {
            tracing::info!($($arg)*)
        } else {
            tracing::debug!($($arg)*)
        }
    };
}

impl RendezvousDiscovery {
    /// A source for `opts.server`. Nothing is sent until the first torrent is added.
    pub fn new(opts: RendezvousOptions) -> Result<Self, ClientError> {
        let client = RendezvousClient::new(&opts.server)?;
        let (stop, _) = watch::channel(false);
        Ok(RendezvousDiscovery {
            inner: Arc::new(Inner {
                creds: Mutex::new(opts.credentials.clone()),
                ip: Mutex::new(opts.advertise_ip),
                opts,
                client,
                registering: tokio::sync::Mutex::new(()),
                torrents: Mutex::new(HashMap::new()),
                tasks: Mutex::new(JoinSet::new()),
                stop,
            }),
        })
    }

    /// The credentials in use (to persist and pass back through
    /// [`RendezvousOptions::credentials`] next session), once registered.
    pub fn credentials(&self) -> Option<Credentials> {
        lock(&self.inner.creds).clone()
    }

    /// Runs a discovery round for `info_hash` now: publishes our offer, queries, and offers the
    /// new peers to the torrent. Returns how many new peers were offered.
    pub async fn discover_peers(&self, info_hash: &InfoHash) -> Result<usize, ClientError> {
        let state = lock(&self.inner.torrents).get(info_hash).cloned();
        let Some(state) = state else {
            return Err(ClientError::UnknownTorrent {
                info_hash: info_hash.to_hex(),
            });
        };
        self.inner.round(&state).await
    }

    /// Counters.
    pub fn stats(&self) -> SourceStats {
        let torrents: Vec<TorrentStat> = lock(&self.inner.torrents)
            .values()
            .map(|t| TorrentStat {
                info_hash: t.info_hash,
                peer_count: *lock(&t.peer_count),
            })
            .collect();
        SourceStats {
            active_torrents: torrents.len(),
            peer_id: self.credentials().map(|c| c.peer_id),
            server: self.inner.opts.server.clone(),
            torrents,
        }
    }

    /// Stops every torrent's discovery, withdraws our offers and waits for the tasks to end.
    /// Torrents added afterwards are ignored.
    pub async fn destroy(&self) {
        let _ = self.inner.stop.send(true);
        let mut tasks = std::mem::take(&mut *lock(&self.inner.tasks));
        while tasks.join_next().await.is_some() {}
    }
}

impl Discovery for RendezvousDiscovery {
    fn name(&self) -> &'static str {
        "rendezvous"
    }

    fn add_torrent(&self, torrent: DiscoveryTorrent) {
        if *self.inner.stop.borrow() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("rendezvous: no tokio runtime, torrent ignored");
            return;
        };
        let state = Arc::new(TorrentState {
            info_hash: torrent.info_hash,
            listen_port: torrent.listen_port,
            sink: torrent.sink,
            wake: Notify::new(),
            seen: tokio::sync::Mutex::new(HashMap::new()),
            peer_count: Mutex::new(0),
        });
        lock(&self.inner.torrents).insert(torrent.info_hash, state.clone());
        let inner = self.inner.clone();
        let mut tasks = lock(&self.inner.tasks);
        while tasks.try_join_next().is_some() {}
        tasks.spawn_on(inner.run(state), &rt);
    }
}

impl Inner {
    async fn run(self: Arc<Self>, state: Arc<TorrentState>) {
        let mut stop = self.stop.subscribe();
        log!(self, info_hash = %state.info_hash, "rendezvous: discovery started");
        loop {
            if let Err(e) = self.round(&state).await {
                tracing::warn!(info_hash = %state.info_hash, error = %e, "rendezvous round failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.opts.refresh_interval) => {}
                _ = state.wake.notified() => {}
                _ = state.sink.closed() => break,
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        let still_ours = {
            let mut t = lock(&self.torrents);
            let ours = t
                .get(&state.info_hash)
                .is_some_and(|s| Arc::ptr_eq(s, &state));
            if ours {
                t.remove(&state.info_hash);
            }
            ours
        };
        let creds = lock(&self.creds).clone();
        if let (true, Some(c)) = (still_ours, creds) {
            match self.client.withdraw(&c, &state.info_hash).await {
                Ok(_) => log!(self, info_hash = %state.info_hash, "rendezvous: offer withdrawn"),
                Err(e) => tracing::debug!(error = %e, "rendezvous withdraw failed"),
            }
        }
    }

    /// One round: publish, query with the bloom filter, offer new peers.
    async fn round(&self, state: &TorrentState) -> Result<usize, ClientError> {
        let creds = self.credentials().await?;
        match self.round_with(state, &creds).await {
            Err(ClientError::Status { status: 401, .. }) => {
                // The server forgot us (restart, eviction): register again, once.
                self.forget(&creds);
                let creds = self.credentials().await?;
                self.round_with(state, &creds).await
            }
            r => r,
        }
    }

    async fn round_with(
        &self,
        state: &TorrentState,
        creds: &Credentials,
    ) -> Result<usize, ClientError> {
        let known = *lock(&self.ip);
        let ip = match known {
            Some(ip) => ip,
            None => {
                let ip = self.client.local_ip().await?;
                *lock(&self.ip) = Some(ip);
                ip
            }
        };
        let offer = PublishRequest {
            addrs: vec![SocketAddr::new(ip, state.listen_port)],
            signal: None,
            ttl_secs: Some(self.offer_ttl().as_secs()),
        };
        self.client.publish(creds, &state.info_hash, &offer).await?;

        let mut seen = state.seen.lock().await;
        let now = Instant::now();
        let seen_ttl = self
            .opts
            .seen_ttl
            .unwrap_or(self.opts.refresh_interval * 10);
        seen.retain(|_, at| now.saturating_duration_since(*at) < seen_ttl);
        let room = self.opts.max_peers_per_torrent.saturating_sub(seen.len());
        let mut added = 0;
        if room > 0 {
            // A fresh seed every round: a false positive hides a peer for this round only
            // with probability p, independently of the last round (see `bloom`).
            let bloom = (!seen.is_empty()).then(|| {
                BloomFilter::for_ids(seen.keys().map(String::as_str), rand::random()).to_wire()
            });
            let q = QueryRequest {
                bloom,
                limit: Some(u32::try_from(room).unwrap_or(u32::MAX)),
            };
            let answer = self.client.query(creds, &state.info_hash, &q).await?;
            for o in answer.offers.into_iter().take(room) {
                if seen.contains_key(&o.peer_id) || o.peer_id == creds.peer_id {
                    continue;
                }
                for a in &o.addrs {
                    state.sink.offer(*a, RENDEZVOUS_SOURCE);
                }
                seen.insert(o.peer_id, now);
                added += 1;
            }
            log!(self, info_hash = %state.info_hash, new = added, filtered = answer.filtered,
                seen = seen.len(), "rendezvous: round");
        }
        *lock(&state.peer_count) = seen.len();
        Ok(added)
    }

    fn offer_ttl(&self) -> Duration {
        self.opts
            .offer_ttl
            .unwrap_or((self.opts.refresh_interval * 3).max(Duration::from_secs(30)))
            .max(Duration::from_secs(1))
    }

    async fn credentials(&self) -> Result<Credentials, ClientError> {
        if let Some(c) = lock(&self.creds).clone() {
            return Ok(c);
        }
        let _one = self.registering.lock().await;
        if let Some(c) = lock(&self.creds).clone() {
            return Ok(c);
        }
        let c = self.client.register().await?;
        log!(self, peer_id = %c.peer_id, "rendezvous: registered");
        *lock(&self.creds) = Some(c.clone());
        Ok(c)
    }

    fn forget(&self, stale: &Credentials) {
        let mut c = lock(&self.creds);
        if c.as_ref() == Some(stale) {
            *c = None;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
