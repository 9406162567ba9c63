//! What a [`Node`](crate::Node) hands out: datagrams, operation ids, events and counters.

use std::net::SocketAddr;

use crate::item_store::Item;
use crate::lookup::LookupOutcome;

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// The bencoded KRPC message.
    pub payload: Vec<u8>,
}

/// Names an operation started on a [`Node`](crate::Node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// Something an operation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// New peers from a `get_peers` or `announce_peer` lookup (each peer reported once).
    Peers {
        /// The operation.
        op: OpId,
        /// Peers not reported before.
        peers: Vec<SocketAddr>,
    },
    /// A `get` found an item (mutable: each time a higher seq is seen).
    Item {
        /// The operation.
        op: OpId,
        /// The verified item.
        item: Item,
    },
    /// The operation is over.
    Finished {
        /// The operation.
        op: OpId,
        /// What it found.
        outcome: LookupOutcome,
    },
}

/// Counters for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Nodes in the routing table.
    pub routing_nodes: usize,
    /// Peers held in the peer store.
    pub stored_peers: usize,
    /// BEP 44 items held.
    pub stored_items: usize,
    /// Queries awaiting an answer.
    pub pending_queries: usize,
    /// Lookups running.
    pub lookups: usize,
    /// Datagrams received.
    pub received: u64,
    /// Datagrams queued for sending.
    pub sent: u64,
    /// Queries answered (with a response or an error).
    pub queries_answered: u64,
    /// Datagrams dropped (undecodable, unexpected or rate-limited).
    pub dropped: u64,
}
