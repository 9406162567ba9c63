//! Settings of the engine ([`EngineBuilder`]) and of one torrent ([`TorrentOptions`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use swarmfs_proto::Priority;
use swarmfs_wire::PeerId;

use crate::discovery::DiscoveryConfig;
use crate::engine::Engine;
use crate::error::EngineError;

/// Engine-wide settings, read by every task.
#[derive(Clone, Debug)]
pub(crate) struct EngineConfig {
    pub(crate) listen_addr: SocketAddr,
    pub(crate) peer_id: Option<PeerId>,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_torrent: usize,
    pub(crate) upload_rate_limit: Option<u64>,
    pub(crate) download_rate_limit: Option<u64>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) keepalive_interval: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) unchoke_slots: usize,
    pub(crate) max_unwritten_bytes: u64,
    pub(crate) ban_strikes: u32,
    pub(crate) reconnect_interval: Duration,
    pub(crate) discovery: DiscoveryConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            peer_id: None,
            max_connections: 200,
            max_connections_per_torrent: 50,
            upload_rate_limit: None,
            download_rate_limit: None,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            keepalive_interval: Duration::from_secs(60),
            request_timeout: Duration::from_secs(20),
            unchoke_slots: 4,
            max_unwritten_bytes: 16 << 20,
            ban_strikes: 3,
            reconnect_interval: Duration::from_secs(5),
            discovery: DiscoveryConfig::default(),
        }
    }
}

/// Builds an [`Engine`]: `Engine::builder().listen_addr(addr).build().await`.
#[derive(Clone, Debug, Default)]
pub struct EngineBuilder {
    pub(crate) config: EngineConfig,
}

impl EngineBuilder {
    /// Where to accept peer connections (default `127.0.0.1:0`: loopback, any free port).
    pub fn listen_addr(&mut self, addr: SocketAddr) -> &mut Self {
        self.config.listen_addr = addr;
        self
    }

    /// Our peer id (default: `-SF0001-` and 12 random bytes).
    pub fn peer_id(&mut self, id: PeerId) -> &mut Self {
        self.config.peer_id = Some(id);
        self
    }

    /// Most peer connections across all torrents (default 200).
    pub fn max_connections(&mut self, n: usize) -> &mut Self {
        self.config.max_connections = n.max(1);
        self
    }

    /// Most peer connections of one torrent (default 50).
    pub fn max_connections_per_torrent(&mut self, n: usize) -> &mut Self {
        self.config.max_connections_per_torrent = n.max(1);
        self
    }

    /// Global upload limit in bytes per second (`None`, the default: unlimited).
    pub fn upload_rate_limit(&mut self, bytes_per_sec: Option<u64>) -> &mut Self {
        self.config.upload_rate_limit = bytes_per_sec;
        self
    }

    /// Global download limit in bytes per second (`None`, the default: unlimited).
    pub fn download_rate_limit(&mut self, bytes_per_sec: Option<u64>) -> &mut Self {
        self.config.download_rate_limit = bytes_per_sec;
        self
    }

    /// How long a peer may take to send its handshake (default 10 s).
    pub fn handshake_timeout(&mut self, d: Duration) -> &mut Self {
        self.config.handshake_timeout = d;
        self
    }

    /// A peer that sends nothing for this long is dropped (default 120 s).
    pub fn idle_timeout(&mut self, d: Duration) -> &mut Self {
        self.config.idle_timeout = d;
        self
    }

    /// A keep-alive is sent after this long without sending anything (default 60 s).
    pub fn keepalive_interval(&mut self, d: Duration) -> &mut Self {
        self.config.keepalive_interval = d;
        self
    }

    /// Requests unanswered this long go to other peers (default 20 s).
    pub fn request_timeout(&mut self, d: Duration) -> &mut Self {
        self.config.request_timeout = d;
        self
    }

    /// Most bytes of a torrent's complete pieces held in memory while they wait to be hashed and
    /// written (default 16 MiB). A torrent at this mark requests no more blocks until its storage
    /// catches up, so a disk slower than the network bounds memory instead of filling it. One
    /// piece is always let through, however long.
    pub fn max_unwritten_bytes(&mut self, bytes: u64) -> &mut Self {
        self.config.max_unwritten_bytes = bytes;
        self
    }

    /// Peers unchoked for their rate, besides the optimistic unchoke (default 4).
    pub fn unchoke_slots(&mut self, n: usize) -> &mut Self {
        self.config.unchoke_slots = n;
        self
    }

    /// Strikes (a failed piece it sent alone counts two, one shared with others one) after which
    /// a peer is banned (default 3).
    pub fn ban_strikes(&mut self, n: u32) -> &mut Self {
        self.config.ban_strikes = n.max(1);
        self
    }

    /// Binds the listener and starts the engine.
    pub async fn build(&self) -> Result<Engine, EngineError> {
        Engine::start(self.config.clone()).await
    }
}

/// Settings of one torrent, given when it is added.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TorrentOptions {
    /// Upload limit of this torrent in bytes per second (on top of the global one).
    pub upload_rate_limit: Option<u64>,
    /// Download limit of this torrent in bytes per second (on top of the global one).
    pub download_rate_limit: Option<u64>,
    /// Keep completion durable: a resume bitfield beside the data. A piece is hashed once, from
    /// memory, written, and counts as verified (have, events, reads) once a group commit synced
    /// its data and then persisted the bitfield, so a crash loses no verified piece and never
    /// marks an unverified one; a restart on the same storage with `resume` neither fetches
    /// nor hashes those pieces again. Without it completion lives in memory only.
    pub resume: bool,
    /// Hash all existing data when the torrent starts (to seed data that is already there).
    pub recheck: bool,
    /// Start paused.
    pub paused: bool,
    /// Peers to connect to at once.
    pub peers: Vec<SocketAddr>,
    /// Priority of each file by index, applied before the first block is requested (also for a
    /// magnet, whose file list is known only later). Files past the end of this list get
    /// [`TorrentOptions::default_file_priority`]; indices past the torrent's files are ignored.
    pub file_priorities: Vec<Priority>,
    /// Priority of files [`TorrentOptions::file_priorities`] does not name (default
    /// [`Priority::NORMAL`]; [`Priority::SKIP`] downloads nothing until priorities are raised).
    pub default_file_priority: Priority,
}

impl TorrentOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`TorrentOptions::recheck`].
    pub fn recheck(mut self, on: bool) -> Self {
        self.recheck = on;
        self
    }

    /// Sets [`TorrentOptions::resume`].
    pub fn resume(mut self, on: bool) -> Self {
        self.resume = on;
        self
    }

    /// Sets [`TorrentOptions::paused`].
    pub fn paused(mut self, on: bool) -> Self {
        self.paused = on;
        self
    }

    /// Adds a peer to connect to.
    pub fn peer(mut self, addr: SocketAddr) -> Self {
        self.peers.push(addr);
        self
    }

    /// Sets the per-torrent upload limit.
    pub fn upload_rate_limit(mut self, bytes_per_sec: Option<u64>) -> Self {
        self.upload_rate_limit = bytes_per_sec;
        self
    }

    /// Sets the priority of file `index` before anything is requested (see
    /// [`TorrentOptions::file_priorities`]).
    pub fn file_priority(mut self, index: usize, priority: Priority) -> Self {
        if self.file_priorities.len() <= index {
            self.file_priorities
                .resize(index + 1, self.default_file_priority);
        }
        self.file_priorities[index] = priority;
        self
    }

    /// Sets [`TorrentOptions::default_file_priority`] (files given no priority of their own).
    pub fn default_file_priority(mut self, priority: Priority) -> Self {
        self.default_file_priority = priority;
        self
    }

    /// Downloads only the files `indices` (and the pieces they share with others): every other
    /// file is [`Priority::SKIP`]ped from the start.
    pub fn only_files(mut self, indices: &[usize]) -> Self {
        self.default_file_priority = Priority::SKIP;
        self.file_priorities.clear();
        for &i in indices {
            self = self.file_priority(i, Priority::NORMAL);
        }
        self
    }

    /// Sets the per-torrent download limit.
    pub fn download_rate_limit(mut self, bytes_per_sec: Option<u64>) -> Self {
        self.download_rate_limit = bytes_per_sec;
        self
    }
}
