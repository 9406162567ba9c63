//! [`ClientBuilder`]: the settings of a [`Client`], and [`LookupOptions`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use swarmfs_engine::Discovery;
use swarmfs_memory::MemoryStorage;
use swarmfs_storage::StorageFactory;

use crate::client::Client;
use crate::error::ClientError;

/// The public mainline bootstrap nodes, the default of [`ClientBuilder::dht_bootstrap`].
pub const PUBLIC_BOOTSTRAP: [&str; 3] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
];

/// Settings of a [`Client`]; `build()` starts it.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    pub(crate) bind_ip: IpAddr,
    pub(crate) dht_bootstrap: Vec<String>,
    pub(crate) dht_port: u16,
    pub(crate) torrent_port: u16,
    pub(crate) peer_id: Option<[u8; 20]>,
    pub(crate) storage: Arc<dyn StorageFactory>,
    pub(crate) dht: bool,
    pub(crate) lsd: bool,
    pub(crate) pex: bool,
    pub(crate) update_interval: Duration,
    pub(crate) republish_interval: Duration,
    pub(crate) announce_interval: Duration,
    pub(crate) peer_search_interval: Duration,
    pub(crate) discovery: Vec<Arc<dyn Discovery>>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            dht_bootstrap: PUBLIC_BOOTSTRAP.iter().map(|s| (*s).to_owned()).collect(),
            dht_port: 0,
            torrent_port: 0,
            peer_id: None,
            storage: MemoryStorage::factory(),
            dht: true,
            lsd: false,
            pex: true,
            update_interval: Duration::from_secs(60),
            republish_interval: Duration::from_secs(30 * 60),
            announce_interval: Duration::from_secs(15 * 60),
            peer_search_interval: Duration::from_secs(2),
            discovery: Vec::new(),
        }
    }
}

impl ClientBuilder {
    /// DHT nodes to join through, as `host:port` or `ip:port` (replaces the list; default
    /// [`PUBLIC_BOOTSTRAP`]). Names are resolved when the client starts; ones that do not
    /// resolve are skipped.
    pub fn dht_bootstrap<I, S>(&mut self, nodes: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dht_bootstrap = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// The address both sockets bind (default `127.0.0.1`: loopback only; a client that should
    /// reach the internet needs an explicit `0.0.0.0`).
    pub fn bind_ip(&mut self, ip: IpAddr) -> &mut Self {
        self.bind_ip = ip;
        self
    }

    /// The DHT's UDP port (default 0: any free port).
    pub fn dht_port(&mut self, port: u16) -> &mut Self {
        self.dht_port = port;
        self
    }

    /// The TCP port peers connect to (default 0: any free port).
    pub fn torrent_port(&mut self, port: u16) -> &mut Self {
        self.torrent_port = port;
        self
    }

    /// Our BitTorrent peer id (default: `-SF0001-` and 12 random bytes).
    pub fn peer_id(&mut self, id: [u8; 20]) -> &mut Self {
        self.peer_id = Some(id);
        self
    }

    /// Where looked-up torrents are stored (default: memory). Each torrent lives under a
    /// directory named after its info-hash, so versions of one archive never share files.
    pub fn storage(&mut self, storage: Arc<dyn StorageFactory>) -> &mut Self {
        self.storage = storage;
        self
    }

    /// Stores looked-up torrents as files below directory `dir` (`<dir>/<info-hash>/<name>/..`).
    pub fn storage_dir(&mut self, dir: impl Into<std::path::PathBuf>) -> &mut Self {
        self.storage = Arc::new(swarmfs_file::FileStorage::in_dir(dir));
        self
    }

    /// Whether to run a DHT node (default on): peers of torrents, mutable magnets, publishing.
    pub fn dht(&mut self, on: bool) -> &mut Self {
        self.dht = on;
        self
    }

    /// Whether to use local service discovery, BEP 14 (default off: it multicasts to the local
    /// network).
    pub fn lsd(&mut self, on: bool) -> &mut Self {
        self.lsd = on;
        self
    }

    /// Whether to use peer exchange, BEP 11 (default on).
    pub fn pex(&mut self, on: bool) -> &mut Self {
        self.pex = on;
        self
    }

    /// How often an archive opened from a mutable magnet asks the DHT for a newer version
    /// (default 60 s).
    pub fn update_interval(&mut self, every: Duration) -> &mut Self {
        self.update_interval = every.max(Duration::from_millis(10));
        self
    }

    /// How often a published item is stored again so that it does not expire (default 30 min;
    /// DHT nodes keep items about two hours).
    pub fn republish_interval(&mut self, every: Duration) -> &mut Self {
        self.republish_interval = every.max(Duration::from_millis(10));
        self
    }

    /// How often each torrent is looked up and announced on the DHT (default 15 min).
    pub fn announce_interval(&mut self, every: Duration) -> &mut Self {
        self.announce_interval = every.max(Duration::from_millis(10));
        self
    }

    /// How soon a torrent's DHT peer search is repeated when the last one found nobody
    /// (default 2 s).
    pub fn peer_search_interval(&mut self, every: Duration) -> &mut Self {
        self.peer_search_interval = every.max(Duration::from_millis(10));
        self
    }

    /// Adds a further peer source beside the DHT, LSD and PEX (for example a rendezvous
    /// service, `swarmfs-rendezvous`); every torrent of the client is fed by it.
    pub fn discovery(&mut self, source: Arc<dyn Discovery>) -> &mut Self {
        self.discovery.push(source);
        self
    }

    /// Starts the client: binds the torrent listener, starts the DHT node and waits (at most
    /// 10 s) for its bootstrap.
    pub async fn build(&self) -> Result<Client, ClientError> {
        Client::start(self.clone()).await
    }

    pub(crate) fn torrent_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind_ip, self.torrent_port)
    }

    pub(crate) fn dht_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind_ip, self.dht_port)
    }
}

/// Options of [`Client::lookup`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LookupOptions {
    /// How long to wait for the metadata (and a mutable magnet's item) before
    /// [`LookupError::TimedOut`](crate::LookupError::TimedOut) (default 30 s).
    pub timeout: Duration,
    /// Whether to download the whole torrent and seed it (default); without, only what is read
    /// is fetched (and served to peers while the archive is open).
    pub seed: bool,
}

impl Default for LookupOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            seed: true,
        }
    }
}

impl LookupOptions {
    /// Sets [`LookupOptions::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`LookupOptions::seed`].
    pub fn seed(mut self, seed: bool) -> Self {
        self.seed = seed;
        self
    }
}
