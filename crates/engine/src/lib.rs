//! The swarmfs engine: the tokio layer that drives `swarmfs-proto`'s state machines with real
//! peer connections.
//!
//! - [`Engine`] (built with [`EngineBuilder`]) listens for peers, holds torrents, enforces the
//!   session's connection and rate limits, and ends every task on [`Engine::shutdown`].
//! - A torrent is added from a magnet ([`Engine::add_magnet`]: the info dictionary is fetched
//!   from peers, BEP 9) or from its info dictionary ([`Engine::add_info`]), with a storage
//!   factory. [`TorrentHandle`] reports [`TorrentEvent`]s and [`TorrentStats`], adds peers,
//!   pauses, removes, sets file priorities and lets a reader await a byte range.
//! - Each peer connection is two tasks: a reader (large socket reads into the bounded decoder)
//!   and a writer (batched writes, blocks served from the piece store). Pieces are hashed from
//!   memory as they complete, two at a time when they complete close together
//!   ([`swarmfs_metainfo::sha1_pair`]), and written whole.
//!
//! - Peers are discovered through one interface ([`Discovery`]): the DHT (BEP 5, one node per
//!   engine), local service discovery (BEP 14 multicast), peer exchange (BEP 11), a magnet's
//!   `x.pe`, [`TorrentOptions::peers`] and [`TorrentHandle::add_peer`] all feed each torrent's
//!   bounded, de-duplicated candidate queue. DHT and LSD are off unless enabled on the
//!   [`EngineBuilder`]; the engine never contacts a public DHT router by itself.
//!
//! The engine speaks plain TCP (no MSE/PE encryption, no uTP).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod config;
mod connect;
mod discovery;
mod engine;
mod error;
mod event;
mod handle;
mod limit;
mod peer;
mod shared;
mod tasks;
mod torrent;

pub use config::{EngineBuilder, TorrentOptions};
pub use discovery::{Discovery, DiscoveryTorrent, PUBLIC_DHT_BOOTSTRAP, PeerSink, PeerSource};
pub use engine::Engine;
pub use error::{AddError, EngineError, TorrentError};
pub use event::{TorrentEvent, TorrentStats};
pub use handle::TorrentHandle;
pub use swarmfs_proto::Priority;
pub use swarmfs_wire::PeerId;
