//! Settings of a [`Node`](crate::Node).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::id::Id;

/// Node settings. Start from `Config::default()` and change fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Our node id; `None` derives one (BEP 42 from `external_ip` when given, else random).
    pub node_id: Option<Id>,
    /// Our public IP, for a BEP 42 id.
    pub external_ip: Option<IpAddr>,
    /// Nodes to bootstrap from (may be a persisted node list).
    pub bootstrap: Vec<SocketAddr>,
    /// BEP 43: send `ro=1`, answer no queries, and stay out of others' routing tables.
    pub read_only: bool,
    /// BEP 42: keep nodes whose id does not match their IP out of the routing table. Loopback and
    /// private addresses are always exempt.
    pub enforce_node_id: bool,
    /// How long a query may stay unanswered.
    pub query_timeout: Duration,
    /// Most queries accepted per source IP per second (loopback is exempt).
    pub max_queries_per_ip: u32,
    /// Client version sent as `v`.
    pub version: Option<[u8; 4]>,
    /// Torrents and peers per torrent the peer store holds.
    pub max_torrents: usize,
    /// Peers kept per torrent.
    pub max_peers_per_torrent: usize,
    /// How long an announce is kept.
    pub peer_ttl: Duration,
    /// BEP 44 items held for others.
    pub max_items: usize,
    /// How long a stored item is kept.
    pub item_ttl: Duration,
    /// Seed of the node's random generator (ids, secrets, transaction ids); `None` is random.
    pub rng_seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: None,
            external_ip: None,
            bootstrap: Vec::new(),
            read_only: false,
            enforce_node_id: true,
            query_timeout: Duration::from_secs(2),
            max_queries_per_ip: 250,
            version: Some(*b"SF\x00\x01"),
            max_torrents: 2000,
            max_peers_per_torrent: 100,
            peer_ttl: Duration::from_secs(30 * 60),
            max_items: 2000,
            item_ttl: Duration::from_secs(2 * 60 * 60),
            rng_seed: None,
        }
    }
}
