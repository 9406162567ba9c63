//! [`Client`]: the engine, the DHT node and the background tasks of one swarmfs user.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use swarmfs_bridge::{BridgeError, WebSeedOptions, add_magnet_with_web_seeds};
use swarmfs_dht::{Dht, Id};
use swarmfs_engine::{AddError, Engine, PeerId, Priority, TorrentHandle, TorrentOptions};
use swarmfs_file::FileStorage;
use swarmfs_metainfo::{Info, InfoHash, Magnet, MagnetTarget, PeerAddr};
use swarmfs_storage::StorageFactory;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::archive::{Archive, Opened};
use crate::builder::{ClientBuilder, LookupOptions};
use crate::error::{ClientError, LookupError, SeedError};
use crate::hashing::{Plan, SeedPhase, SeedProgress};
use crate::prefix::PrefixStorage;
use crate::publish;
use crate::tasks::Tasks;
use crate::updates::Version;

/// How long [`ClientBuilder::build`] waits for the DHT bootstrap.
const BOOTSTRAP_WAIT: Duration = Duration::from_secs(10);

/// A running swarmfs client: a torrent engine, a DHT node and their background tasks.
///
/// Cloning gives another handle to the same client. [`Client::stop`] ends all network activity
/// and every task.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) dht: Option<Dht>,
    storage: Arc<dyn StorageFactory>,
    pub(crate) settings: ClientBuilder,
    pub(crate) tasks: Tasks,
    /// Stop signals of republish tasks, by item target.
    pub(crate) republishers: Mutex<HashMap<Id, watch::Sender<bool>>>,
}

impl Client {
    /// A builder with the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    pub(crate) async fn start(settings: ClientBuilder) -> Result<Self, ClientError> {
        let mut eb = Engine::builder();
        eb.listen_addr(settings.torrent_addr())
            .lsd(settings.lsd)
            .pex(settings.pex);
        if let Some(id) = settings.peer_id {
            eb.peer_id(PeerId(id));
        }
        for source in &settings.discovery {
            eb.discovery(source.clone());
        }
        let mut has_bootstrap = false;
        if settings.dht {
            let nodes = resolve_bootstrap(&settings).await;
            has_bootstrap = !nodes.is_empty();
            eb.dht(true)
                .dht_bind(settings.dht_addr())
                .dht_bootstrap(&nodes)
                .dht_announce_interval(settings.announce_interval)
                .dht_retry_interval(settings.peer_search_interval);
        }
        let engine = eb.build().await?;
        let dht = engine.dht().cloned();
        if let Some(dht) = &dht
            && has_bootstrap
        {
            let _ = tokio::time::timeout(BOOTSTRAP_WAIT, dht.bootstrapped()).await;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                dht,
                storage: settings.storage.clone(),
                settings,
                tasks: Tasks::new(),
                republishers: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The torrent engine (statistics, torrents, connections).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The DHT node, unless switched off.
    pub fn dht(&self) -> Option<&Dht> {
        self.inner.dht.as_ref()
    }

    /// The address peers connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.inner.engine.listen_addr()
    }

    /// The DHT node's UDP address, unless the DHT is switched off.
    pub fn dht_addr(&self) -> Option<SocketAddr> {
        self.inner.dht.as_ref().map(Dht::local_addr)
    }

    /// Tasks still running: the client's own, the engine's (its DHT node's included), and the
    /// DHT driver (zero once [`Client::stop`] returned).
    pub fn live_tasks(&self) -> usize {
        let dht = self.inner.dht.as_ref().is_some_and(|d| !d.is_shut_down());
        self.inner.tasks.live() + self.inner.engine.live_tasks() + usize::from(dht)
    }

    /// Ends all network activity: background tasks, every torrent and connection, the listener
    /// and the DHT node; returns once all of them ended.
    pub async fn stop(&self) {
        self.inner.tasks.stop().await;
        // The engine owns the DHT node and shuts it down too.
        self.inner.engine.shutdown().await;
    }

    /// Finds a torrent by magnet link, or the newest version of a BEP 46 mutable magnet
    /// (`magnet:?xs=urn:btpk:<hex>[&s=<hex salt>]`), and opens it as an [`Archive`] once its
    /// metadata arrived.
    ///
    /// Web seeds (BEP 19) are used beside peers: the magnet's `ws=` URLs and, when an
    /// `xs=http://...` names the `.torrent` (checked against the info-hash), its `url-list`; that
    /// `.torrent` also gives the metadata when no peer is around. With
    /// [`LookupOptions::seed`] off, web seeds fetch only the pieces reads wait for (a read
    /// makes its pieces wanted; the web-seed driver takes only wanted pieces).
    pub async fn lookup(&self, url: &str, options: LookupOptions) -> Result<Archive, LookupError> {
        if self.inner.tasks.is_stopped() {
            return Err(LookupError::Stopped);
        }
        let deadline = Instant::now() + options.timeout;
        let timed_out = || LookupError::TimedOut {
            timeout: options.timeout,
        };
        let mut magnet = Magnet::parse(url)?;
        let mut mutable = None;
        if let MagnetTarget::Mutable(target) = magnet.target.clone() {
            let version = tokio::time::timeout_at(deadline, self.resolve_target(&target))
                .await
                .map_err(|_| timed_out())?;
            let version = version?;
            magnet.target = MagnetTarget::InfoHash(version.info_hash);
            mutable = Some((target, version));
        }
        let info_hash = magnet.info_hash().ok_or(AddError::NoInfoHash)?;
        let storage: Arc<dyn StorageFactory> = Arc::new(PrefixStorage::new(
            self.inner.storage.clone(),
            info_hash.to_hex(),
        ));
        let mut torrent_options = TorrentOptions::new();
        if !options.seed {
            // Fetch only what is read: every file is skipped from the start (before the first
            // request); reads set piece deadlines, which fetch skipped pieces too.
            torrent_options = torrent_options.default_file_priority(Priority::SKIP);
        }
        // BEP 19: the magnet's `ws=` (and the `url-list` of a `.torrent` named by `xs=http://`,
        // which also gives the metadata without any peer) are downloaded from beside the peers.
        let added = tokio::time::timeout_at(
            deadline,
            add_magnet_with_web_seeds(
                &self.inner.engine,
                &magnet,
                storage,
                torrent_options,
                WebSeedOptions::default(),
            ),
        )
        .await
        .map_err(|_| timed_out())?;
        let (handle, owned, web_seeder) = match added {
            Ok((h, w)) => (h, true, Some(w)),
            Err(BridgeError::Add(AddError::Duplicate { .. })) => {
                match self.inner.engine.torrent(&info_hash) {
                    Some(h) => (h, false, None),
                    None => return Err(LookupError::Stopped),
                }
            }
            Err(BridgeError::Add(AddError::ShutDown)) => return Err(LookupError::Stopped),
            Err(BridgeError::Add(e)) => return Err(e.into()),
            Err(e) => return Err(LookupError::WebSeed(e)),
        };
        let close = watch::Sender::new(false);
        let info = match tokio::time::timeout_at(deadline, handle.wait_metadata()).await {
            Ok(Ok(info)) => info,
            Ok(Err(e)) => return Err(self.abandon(&handle, owned, e.into()).await),
            Err(_) => {
                close.send_replace(true);
                return Err(self.abandon(&handle, owned, timed_out()).await);
            }
        };
        let updates = mutable.map(|(target, version)| {
            let (tx, rx) = watch::channel(Some(version));
            let client = self.clone();
            let closed = close.subscribe();
            self.inner
                .tasks
                .spawn(publish::poll_updates(client, target, tx, closed));
            rx
        });
        let archive = Archive::from_swarm(Opened {
            handle,
            info,
            owned,
            magnet,
            updates,
            web_seeder,
        });
        if let Some(s) = archive.swarm() {
            // The archive's tasks end when it closes: forward its close signal.
            let mut on_close = s.close_signal.subscribe();
            self.inner.tasks.spawn(async move {
                crate::tasks::stopped(&mut on_close).await;
                close.send_replace(true);
            });
        }
        Ok(archive)
    }

    /// Hashes a draft archive into a torrent and seeds it (the draft's files are served in
    /// place, not copied); an archive from the swarm is downloaded whole and seeded. Returns the
    /// magnet link, with our listen address as `x.pe`.
    pub async fn seed(&self, archive: &Archive) -> Result<String, SeedError> {
        self.seed_with_progress(archive, |_| {}).await
    }

    /// [`Client::seed`], calling `progress` while the files are hashed (about every 100 ms) and
    /// when the engine's check of the data starts and ends. Not called for an archive from the
    /// swarm (nothing is hashed).
    pub async fn seed_with_progress(
        &self,
        archive: &Archive,
        mut progress: impl FnMut(SeedProgress) + Send,
    ) -> Result<String, SeedError> {
        if self.inner.tasks.is_stopped() {
            return Err(SeedError::Stopped);
        }
        if let Some(s) = archive.swarm() {
            for i in 0..s.info.files().len() {
                s.handle.set_file_priority(i, Priority::NORMAL).await?;
            }
            return Ok(self.magnet_of(&s.info));
        }
        let Some(draft) = archive.draft() else {
            return Err(SeedError::Empty);
        };
        let files = draft.snapshot();
        if files.is_empty() {
            return Err(SeedError::Empty);
        }
        let entries = draft.read_all(&files).await?;
        let info = Plan::entries(&draft.name, entries)
            .build(&mut progress)
            .await?;
        let storage = draft.storage_for(&info, &files);
        self.seed_info(info, storage, &mut progress).await
    }

    /// Hashes a file or directory on disk and seeds it from where it is. Returns its magnet.
    pub async fn seed_path(&self, path: impl AsRef<Path>) -> Result<String, SeedError> {
        self.seed_path_with_progress(path, |_| {}).await
    }

    /// [`Client::seed_path`], calling `progress` while the files are hashed (about every
    /// 100 ms) and when the engine's check of the data starts and ends.
    pub async fn seed_path_with_progress(
        &self,
        path: impl AsRef<Path>,
        mut progress: impl FnMut(SeedProgress) + Send,
    ) -> Result<String, SeedError> {
        let path = path.as_ref();
        let bad = |reason| SeedError::BadDir {
            path: path.to_path_buf(),
            reason,
        };
        let full = std::fs::canonicalize(path).map_err(|_| bad("cannot resolve the path"))?;
        let parent = full.parent().ok_or_else(|| bad("no parent directory"))?;
        let storage: Arc<dyn StorageFactory> = Arc::new(FileStorage::in_dir(parent));
        let owned = full.clone();
        let plan = tokio::task::spawn_blocking(move || Plan::path(&owned))
            .await
            .map_err(|_| SeedError::Stopped)??;
        let info = plan.build(&mut progress).await?;
        self.seed_info(info, storage, &mut progress).await
    }

    async fn seed_info(
        &self,
        info: Info,
        storage: Arc<dyn StorageFactory>,
        progress: &mut (dyn FnMut(SeedProgress) + Send),
    ) -> Result<String, SeedError> {
        let info_hash = info.info_hash();
        let total = info.geometry().total_length();
        progress(SeedProgress::new(SeedPhase::Checking, 0, total));
        let handle =
            match self
                .inner
                .engine
                .add_info(info, storage, TorrentOptions::new().recheck(true))
            {
                Ok(h) => h,
                Err(AddError::Duplicate { .. }) => self
                    .inner
                    .engine
                    .torrent(&info_hash)
                    .ok_or(SeedError::Stopped)?,
                Err(AddError::ShutDown) => return Err(SeedError::Stopped),
                Err(e) => return Err(e.into()),
            };
        let info = handle.wait_metadata().await?;
        let stats = handle.stats().await?;
        if stats.pieces_verified < stats.pieces_total {
            return Err(SeedError::Unverified {
                info_hash,
                failed: stats.pieces_total - stats.pieces_verified,
                total: stats.pieces_total,
            });
        }
        progress(SeedProgress::new(SeedPhase::Checking, total, total));
        Ok(self.magnet_of(&info))
    }

    /// The newest version of a mutable magnet, straight from the DHT.
    pub async fn resolve(&self, url: &str) -> Result<Version, LookupError> {
        let magnet = Magnet::parse(url)?;
        match &magnet.target {
            MagnetTarget::Mutable(t) => self.resolve_target(t).await,
            MagnetTarget::InfoHash(_) => {
                Err(LookupError::BadUrl(swarmfs_metainfo::MagnetError::NoTarget))
            }
        }
    }

    pub(crate) fn dht_or<E>(&self, e: E) -> Result<&Dht, E> {
        self.inner.dht.as_ref().ok_or(e)
    }

    fn magnet_of(&self, info: &Info) -> String {
        let mut m = Magnet::from_info_hash(info.info_hash());
        m.display_name = Some(info.name().to_owned());
        m.peers.push(PeerAddr::Ip(self.reachable_addr()));
        m.to_string()
    }

    /// Our listen address, with an unspecified IP replaced by loopback.
    fn reachable_addr(&self) -> SocketAddr {
        let mut addr = self.listen_addr();
        match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
            IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
            _ => {}
        }
        addr
    }

    /// Removes a torrent added for a lookup that failed.
    async fn abandon(&self, handle: &TorrentHandle, owned: bool, e: LookupError) -> LookupError {
        if owned {
            let _ = handle.remove(false).await;
        }
        e
    }

    pub(crate) fn republishers(&self) -> MutexGuard<'_, HashMap<Id, watch::Sender<bool>>> {
        self.inner
            .republishers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn info_hash_version(seq: i64, ih: [u8; 20]) -> Version {
        Version {
            seq,
            info_hash: InfoHash(ih),
        }
    }
}

/// The bootstrap nodes that resolve, of the client's address family.
async fn resolve_bootstrap(settings: &ClientBuilder) -> Vec<SocketAddr> {
    let mut nodes = Vec::new();
    for name in &settings.dht_bootstrap {
        match tokio::net::lookup_host(name.as_str()).await {
            Ok(addrs) => nodes.extend(addrs.filter(|a| a.is_ipv4() == settings.bind_ip.is_ipv4())),
            Err(e) => tracing::debug!(node = %name, error = %e, "bootstrap node does not resolve"),
        }
    }
    nodes
}
