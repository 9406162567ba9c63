//! swarmfs rendezvous: where peers meet when the DHT and local discovery cannot reach them.
//!
//! - A server ([`Server`], [`serve`]): HTTP/1.1 + JSON, loopback by default. Peers register for
//!   credentials, publish an offer (their addresses, and an opaque signaling blob for a later
//!   WebRTC transport) under each torrent's info-hash as a topic, query a topic with a bloom
//!   filter of peer ids they have already seen, answer offers, and withdraw. Memory is bounded
//!   per topic and per peer ([`Limits`]), offers expire, every credential is rate limited, and
//!   hostile requests get a 4xx with a JSON [`ErrorBody`]. The protocol is in [`api`], the
//!   filter format and sizing in [`bloom`].
//! - A client ([`RendezvousClient`]) for that API.
//! - An engine discovery source ([`RendezvousDiscovery`], plugged in with
//!   [`EngineBuilder::discovery`](swarmfs_engine::EngineBuilder::discovery)): per torrent it
//!   publishes our listen address, queries with a bloom filter of the peers already seen, offers
//!   new peers to the torrent, refreshes periodically and withdraws when the torrent ends.
//!
//! It does not implement WebRTC: the signaling blob is stored and relayed, never interpreted.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
pub mod bloom;
mod client;
mod error;
mod limit;
mod server;
mod source;
mod store;

pub use api::{Credentials, ErrorBody, Limits, Stats};
pub use bloom::BloomFilter;
pub use client::RendezvousClient;
pub use error::{ClientError, RequestError, ServeError};
pub use server::{DEFAULT_LISTEN, Server, ServerBuilder, serve};
pub use source::{
    RENDEZVOUS_SOURCE, RendezvousDiscovery, RendezvousOptions, SourceStats, TorrentStat,
};
