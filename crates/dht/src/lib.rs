//! swarmfs's own KRPC DHT node: BEP 5 (mainline DHT), BEP 42 (node-id from IP), BEP 43 (read-only
//! nodes) and BEP 44 (arbitrary data: immutable and mutable items, with any bencoded value).
//!
//! The crate has two layers, the way `quinn-proto`/`quinn` are split:
//! - a sans-IO core (`Node`): it takes datagrams and `now` in, and hands datagrams, deadlines and
//!   events out. It owns no socket and no timer and never touches tokio; the simulated-network
//!   tests drive hundreds of nodes in one process under a fake clock;
//! - a small tokio driver (`Dht`), one task owning a UDP socket around the core.
//!
//! It does not know torrents beyond info-hashes, and never contacts a public bootstrap node by
//! itself: the bootstrap list is the caller's.
//!
//! ```no_run
//! # async fn demo() -> Result<(), swarmfs_dht::DhtError> {
//! use swarmfs_dht::{Dht, Id, MutableItem, Value};
//! let dht = Dht::builder().bootstrap(&["127.0.0.1:6881".parse().unwrap()]).build().await?;
//! dht.bootstrapped().await?;
//! let info_hash = Id::sha1(b"some torrent");
//! dht.announce_peer(info_hash, Some(6881)).await?;
//! let mut peers = dht.get_peers(info_hash)?;
//! while let Some(peer) = peers.next().await {
//!     println!("peer {peer}");
//! }
//! // BEP 46: a mutable item whose value is `{ih: <info-hash>}`.
//! let key = swarmfs_dht::SigningKey::from_bytes(&[7; 32]);
//! let item = MutableItem::sign(&key, b"", 1, Value::bep46(info_hash.as_bytes())).expect("salt fits");
//! dht.put_mutable(item, None).await?;
//! let latest = dht.get_mutable(&key.verifying_key().to_bytes(), b"").await?;
//! # let _ = latest;
//! dht.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Interop (tested on loopback): libtorrent 2.1.1, bittorrent-dht 11 and mainline 8 nodes share
//! one private DHT with swarmfs nodes; mainline 8 cannot carry dict values (BEP 46), see
//! `tests/interop_mainline.rs`.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod bencode;
mod bep42;
mod builder;
mod compact;
mod config;
mod decode;
mod dht;
mod error;
mod event;
mod id;
mod item;
mod item_store;
mod lookup;
mod message;
mod node;
mod nodes_file;
mod peer_store;
mod routing;
mod server;
mod token;
mod value;

pub use bep42::{is_exempt as is_bep42_exempt, is_valid_node_id, node_id_for_ip};
pub use builder::DhtBuilder;
pub use compact::NodeInfo;
pub use config::Config;
pub use decode::{MAX_DATAGRAM_LEN, MAX_TOKEN_LEN, MAX_TRANSACTION_ID_LEN};
pub use dht::{Dht, DhtError, PeerStream, PutResult};
/// The ed25519 key type that signs mutable items (re-exported from `ed25519-dalek` 2).
pub use ed25519_dalek::SigningKey;
pub use error::{DecodeError, ErrorCode, FieldError};
pub use event::{Event, OpId, Stats, Transmit};
pub use id::Id;
pub use item::{ImmutableItem, ItemError, MAX_SALT_LEN, MutableItem, mutable_target, signable};
pub use item_store::Item;
pub use lookup::{LookupOutcome, StoreError};
pub use message::{Body, ErrorReply, Message, MutablePut, PutRequest, Query, QueryKind, Response};
pub use node::{ALPHA, Node};
pub use nodes_file::{
    MAX_NODES_FILE_LEN, MAX_SAVED_NODES, NodesFileError, decode_nodes_file, encode_nodes_file,
};
pub use routing::{K, Liveness};
pub use value::{MAX_VALUE_LEN, Value, ValueError};
