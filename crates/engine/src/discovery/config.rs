//! Discovery settings and their [`EngineBuilder`] setters.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use swarmfs_wire::lsd::LSD_IPV4;

use super::Discovery;
use super::queue::QueueConfig;
use crate::config::EngineBuilder;

/// The public mainline DHT routers (host names; resolve them and pass them to
/// [`EngineBuilder::dht_bootstrap`]). The engine never uses them by itself: its DHT is off until
/// enabled, and then joins only the nodes it is given.
pub const PUBLIC_DHT_BOOTSTRAP: &[&str] = &[
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// Settings of every discovery source.
#[derive(Clone, Debug)]
pub(crate) struct DiscoveryConfig {
    pub(crate) dht: bool,
    pub(crate) dht_bind: SocketAddr,
    pub(crate) dht_bootstrap: Vec<SocketAddr>,
    pub(crate) dht_announce_interval: Duration,
    pub(crate) dht_retry_interval: Duration,
    pub(crate) lsd: bool,
    pub(crate) lsd_group: SocketAddr,
    pub(crate) lsd_interface: Ipv4Addr,
    pub(crate) lsd_announce_interval: Duration,
    pub(crate) lsd_min_gap: Duration,
    pub(crate) pex: bool,
    pub(crate) pex_interval: Duration,
    pub(crate) queue: QueueConfig,
    pub(crate) sources: Vec<Arc<dyn Discovery>>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            dht: false,
            dht_bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            dht_bootstrap: Vec::new(),
            dht_announce_interval: Duration::from_secs(15 * 60),
            dht_retry_interval: Duration::from_secs(60),
            lsd: false,
            lsd_group: LSD_IPV4,
            lsd_interface: Ipv4Addr::UNSPECIFIED,
            // BEP 14: "it should send a LSD announce every 5 minutes"; "no more than 1 announce
            // per minute".
            lsd_announce_interval: Duration::from_secs(5 * 60),
            lsd_min_gap: Duration::from_secs(60),
            pex: true,
            pex_interval: Duration::from_secs(60),
            queue: QueueConfig::default(),
            sources: Vec::new(),
        }
    }
}

impl EngineBuilder {
    /// Runs a DHT node (BEP 5) shared by all torrents (default: off). Enabling it with no
    /// bootstrap nodes makes a node others join through.
    pub fn dht(&mut self, on: bool) -> &mut Self {
        self.config.discovery.dht = on;
        self
    }

    /// Nodes the DHT joins through, and turns the DHT on. The engine has no default list (see
    /// [`PUBLIC_DHT_BOOTSTRAP`](crate::PUBLIC_DHT_BOOTSTRAP) for the public routers).
    pub fn dht_bootstrap(&mut self, nodes: &[SocketAddr]) -> &mut Self {
        self.config.discovery.dht = true;
        self.config.discovery.dht_bootstrap = nodes.to_vec();
        self
    }

    /// The DHT's UDP address (default `127.0.0.1:0`: loopback, any free port).
    pub fn dht_bind(&mut self, addr: SocketAddr) -> &mut Self {
        self.config.discovery.dht_bind = addr;
        self
    }

    /// How often each torrent is looked up and announced on the DHT (default 15 minutes).
    pub fn dht_announce_interval(&mut self, d: Duration) -> &mut Self {
        self.config.discovery.dht_announce_interval = d;
        self
    }

    /// How soon a DHT lookup is repeated when the last one found no peer (default 60 s).
    pub fn dht_retry_interval(&mut self, d: Duration) -> &mut Self {
        self.config.discovery.dht_retry_interval = d;
        self
    }

    /// Local service discovery (BEP 14) over multicast (default: off, since it sends to the
    /// local network).
    pub fn lsd(&mut self, on: bool) -> &mut Self {
        self.config.discovery.lsd = on;
        self
    }

    /// The LSD group and port (default `239.192.152.143:6771`; `[ff15::efc0:988f]:6771` for
    /// IPv6). Tests may use another group or port.
    pub fn lsd_group(&mut self, group: SocketAddr) -> &mut Self {
        self.config.discovery.lsd_group = group;
        self
    }

    /// The IPv4 interface LSD joins the group on and sends from (default: chosen by the
    /// system). With IPv6 groups the interface is the system's default.
    pub fn lsd_interface(&mut self, addr: Ipv4Addr) -> &mut Self {
        self.config.discovery.lsd_interface = addr;
        self
    }

    /// How often each torrent is announced over LSD (default 5 minutes, as BEP 14 says).
    pub fn lsd_announce_interval(&mut self, d: Duration) -> &mut Self {
        self.config.discovery.lsd_announce_interval = d;
        self
    }

    /// Least time between two LSD datagrams (default 60 s: BEP 14 asks for "no more than 1
    /// announce per minute"). Shorter only for tests.
    pub fn lsd_min_gap(&mut self, d: Duration) -> &mut Self {
        self.config.discovery.lsd_min_gap = d;
        self
    }

    /// Peer exchange (BEP 11) with peers that support it (default: on; never for private
    /// torrents).
    pub fn pex(&mut self, on: bool) -> &mut Self {
        self.config.discovery.pex = on;
        self
    }

    /// Time between two PEX messages to one peer (default 60 s, the least BEP 11 allows).
    /// Shorter only for tests.
    pub fn pex_interval(&mut self, d: Duration) -> &mut Self {
        self.config.discovery.pex_interval = d;
        self
    }

    /// Most candidate addresses remembered per torrent (default 2000).
    pub fn max_candidates(&mut self, n: usize) -> &mut Self {
        self.config.discovery.queue.max_known = n.max(1);
        self
    }

    /// Backoff after a failed dial: `base`, doubled after each further failure up to `max`
    /// (defaults 15 s and 30 minutes).
    pub fn dial_backoff(&mut self, base: Duration, max: Duration) -> &mut Self {
        self.config.discovery.queue.backoff_base = base;
        self.config.discovery.queue.backoff_max = max.max(base);
        self
    }

    /// Adds a discovery source (e.g. a rendezvous client) fed every torrent the engine adds.
    pub fn discovery(&mut self, source: Arc<dyn Discovery>) -> &mut Self {
        self.config.discovery.sources.push(source);
        self
    }
}
