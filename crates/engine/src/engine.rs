//! The session: the listener, the torrents, connection accounting and shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use swarmfs_metainfo::{Info, InfoHash, Magnet, PeerAddr};
use swarmfs_storage::StorageFactory;
use swarmfs_wire::PeerId;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};

use crate::config::{EngineBuilder, EngineConfig, TorrentOptions};
use crate::connect::read_handshake;
use crate::discovery::dht::DhtDiscovery;
use crate::discovery::lsd::{LsdConfig, LsdDiscovery};
use crate::discovery::{self, Discovery, DiscoveryTorrent};
use crate::error::{AddError, EngineError};
use crate::handle::TorrentHandle;
use crate::limit::RateLimit;
use crate::shared::TorrentShared;
use crate::tasks::Tasks;
use crate::torrent::{self, Command, TorrentStart};

/// Capacity of each torrent's event channel.
const EVENT_CAPACITY: usize = 4096;

/// State every task of the engine shares.
#[derive(Debug)]
pub(crate) struct EngineShared {
    pub(crate) config: EngineConfig,
    pub(crate) peer_id: PeerId,
    pub(crate) listen_addr: SocketAddr,
    pub(crate) tasks: Tasks,
    pub(crate) shutdown: watch::Sender<bool>,
    connections: Arc<AtomicUsize>,
    torrents: Mutex<HashMap<InfoHash, TorrentHandle>>,
    upload_limit: Option<Arc<RateLimit>>,
    download_limit: Option<Arc<RateLimit>>,
    /// The engine's DHT node, when enabled.
    pub(crate) dht: Option<Arc<DhtDiscovery>>,
    /// Every discovery source fed each torrent (the DHT and LSD among them when enabled).
    sources: Vec<Arc<dyn Discovery>>,
}

/// One of the session's connection slots; released when dropped.
#[derive(Debug)]
pub(crate) struct ConnSlot(Arc<AtomicUsize>);

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl EngineShared {
    fn lock(&self) -> MutexGuard<'_, HashMap<InfoHash, TorrentHandle>> {
        self.torrents.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a session connection slot, if the session limit allows.
    pub(crate) fn take_slot(&self) -> Option<ConnSlot> {
        let max = self.config.max_connections;
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnSlot(self.connections.clone()))
    }

    pub(crate) fn forget_torrent(&self, info_hash: &InfoHash) {
        self.lock().remove(info_hash);
    }
}

/// A BitTorrent session: one listener, any number of torrents.
///
/// Cloning gives another handle to the same session. Tasks end with [`Engine::shutdown`].
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<EngineShared>,
}

impl Engine {
    /// A builder with the defaults (listen on `127.0.0.1:0`).
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    pub(crate) async fn start(config: EngineConfig) -> Result<Self, EngineError> {
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .map_err(|source| EngineError::Bind {
                addr: config.listen_addr,
                source,
            })?;
        let listen_addr = listener.local_addr().map_err(|source| EngineError::Bind {
            addr: config.listen_addr,
            source,
        })?;
        let peer_id = config.peer_id.unwrap_or_else(random_peer_id);
        let tasks = Tasks::default();
        let shutdown = watch::Sender::new(false);
        let (dht, sources) = start_discovery(&config, &tasks, &shutdown).await?;
        let inner = Arc::new(EngineShared {
            peer_id,
            listen_addr,
            tasks,
            shutdown,
            dht,
            sources,
            connections: Arc::new(AtomicUsize::new(0)),
            torrents: Mutex::new(HashMap::new()),
            upload_limit: config.upload_rate_limit.map(RateLimit::new),
            download_limit: config.download_rate_limit.map(RateLimit::new),
            config,
        });
        inner.tasks.spawn(accept_loop(listener, inner.clone()));
        Ok(Self { inner })
    }

    /// The address peers connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.inner.listen_addr
    }

    /// Our peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    /// The engine's DHT node, when enabled (for lookups of its own, e.g. BEP 44 items).
    pub fn dht(&self) -> Option<&swarmfs_dht::Dht> {
        self.inner.dht.as_ref().map(|d| d.dht())
    }

    /// Tasks of this engine still running (zero after [`Engine::shutdown`] returned).
    pub fn live_tasks(&self) -> usize {
        self.inner.tasks.live()
    }

    /// Peer connections open across all torrents.
    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::Acquire)
    }

    /// The torrent with `info_hash`, if added.
    pub fn torrent(&self, info_hash: &InfoHash) -> Option<TorrentHandle> {
        self.inner.lock().get(info_hash).cloned()
    }

    /// Adds a torrent known only by a magnet link: the info dictionary is fetched from peers
    /// (BEP 9); the magnet's `x.pe` addresses are dialled at once.
    pub fn add_magnet(
        &self,
        magnet: &Magnet,
        storage: Arc<dyn StorageFactory>,
        mut options: TorrentOptions,
    ) -> Result<TorrentHandle, AddError> {
        let info_hash = magnet.info_hash().ok_or(AddError::NoInfoHash)?;
        for p in &magnet.peers {
            if let PeerAddr::Ip(addr) = p {
                options.peers.push(*addr);
            }
        }
        self.add(info_hash, None, storage, options)
    }

    /// Adds a torrent whose info dictionary is known. Data already in `storage` counts only
    /// after [`TorrentOptions::recheck`] or through resume data.
    pub fn add_info(
        &self,
        info: Info,
        storage: Arc<dyn StorageFactory>,
        options: TorrentOptions,
    ) -> Result<TorrentHandle, AddError> {
        self.add(info.info_hash(), Some(info), storage, options)
    }

    fn add(
        &self,
        info_hash: InfoHash,
        info: Option<Info>,
        factory: Arc<dyn StorageFactory>,
        options: TorrentOptions,
    ) -> Result<TorrentHandle, AddError> {
        if *self.inner.shutdown.borrow() {
            return Err(AddError::ShutDown);
        }
        let mut map = self.inner.lock();
        if map.contains_key(&info_hash) {
            return Err(AddError::Duplicate { info_hash });
        }
        let limits = |global: &Option<Arc<RateLimit>>, own: Option<u64>| {
            global
                .iter()
                .cloned()
                .chain(own.map(RateLimit::new))
                .collect::<Vec<_>>()
        };
        let shared = Arc::new(TorrentShared::new(
            info_hash,
            limits(&self.inner.upload_limit, options.upload_rate_limit),
            limits(&self.inner.download_limit, options.download_rate_limit),
        ));
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let handle = TorrentHandle::new(cmd_tx, shared.clone(), events.clone());
        map.insert(info_hash, handle.clone());
        drop(map);
        let (sink, candidates) = discovery::sink();
        // BEP 27: a private torrent takes peers only from its tracker (and those given here).
        if !info.as_ref().is_some_and(Info::is_private) {
            for source in &self.inner.sources {
                source.add_torrent(DiscoveryTorrent {
                    info_hash,
                    listen_port: self.inner.listen_addr.port(),
                    sink: sink.clone(),
                });
            }
        }
        self.inner.tasks.spawn(torrent::run(TorrentStart {
            engine: self.inner.clone(),
            shared,
            events,
            factory,
            options,
            commands: cmd_rx,
            info,
            candidates,
        }));
        Ok(handle)
    }

    /// Ends every torrent, connection and the listener, and waits until all tasks ended.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        self.inner.lock().clear();
        self.inner.tasks.wait_idle().await;
        if let Some(dht) = &self.inner.dht {
            dht.dht().shutdown().await;
        }
    }
}

/// Starts the DHT node and LSD when enabled; returns the DHT and every discovery source.
async fn start_discovery(
    config: &EngineConfig,
    tasks: &Tasks,
    shutdown: &watch::Sender<bool>,
) -> Result<(Option<Arc<DhtDiscovery>>, Vec<Arc<dyn Discovery>>), EngineError> {
    let d = &config.discovery;
    let mut sources = Vec::new();
    let mut dht = None;
    if d.dht {
        let node = swarmfs_dht::Dht::builder()
            .bind(d.dht_bind)
            .bootstrap(&d.dht_bootstrap)
            .build()
            .await?;
        let source = Arc::new(DhtDiscovery::new(
            node,
            tasks.clone(),
            shutdown.subscribe(),
            d.dht_announce_interval,
            d.dht_retry_interval,
        ));
        sources.push(source.clone() as Arc<dyn Discovery>);
        dht = Some(source);
    }
    if d.lsd {
        let lsd = LsdConfig {
            group: d.lsd_group,
            interface: d.lsd_interface,
            announce_interval: d.lsd_announce_interval,
            min_gap: d.lsd_min_gap,
        };
        let source = LsdDiscovery::start(lsd, tasks, shutdown.subscribe()).map_err(|source| {
            EngineError::Lsd {
                group: d.lsd_group,
                source,
            }
        })?;
        sources.push(Arc::new(source));
    }
    sources.extend(d.sources.iter().cloned());
    Ok((dht, sources))
}

fn random_peer_id() -> PeerId {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-SF0001-");
    let tail: [u8; 12] = rand::random();
    id[8..].copy_from_slice(&tail);
    PeerId(id)
}

async fn accept_loop(listener: TcpListener, engine: Arc<EngineShared>) {
    let mut shutdown = engine.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stopped(&mut shutdown) => return,
        };
        match accepted {
            Ok((stream, addr)) => {
                let e = engine.clone();
                let mut shutdown = engine.shutdown.subscribe();
                engine.tasks.spawn(async move {
                    tokio::select! {
                        _ = incoming(stream, addr, e) => {}
                        _ = stopped(&mut shutdown) => {}
                    }
                });
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads an incoming peer's handshake and hands the connection to its torrent.
async fn incoming(mut stream: TcpStream, addr: SocketAddr, engine: Arc<EngineShared>) {
    let _ = stream.set_nodelay(true);
    let hs = match read_handshake(&mut stream, engine.config.handshake_timeout).await {
        Ok(hs) => hs,
        Err(e) => {
            tracing::debug!(%addr, error = %e, "incoming handshake failed");
            return;
        }
    };
    if hs.peer_id == engine.peer_id {
        return; // ourselves
    }
    let Some(t) = engine.lock().get(&hs.info_hash).cloned() else {
        return; // a torrent we do not have
    };
    t.send(Command::Incoming {
        stream,
        handshake: hs,
        addr,
    });
}

/// Resolves once the engine shuts down (or its sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
