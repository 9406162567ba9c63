//! The sans-IO DHT node: every datagram, deadline and operation goes through [`Node`].
//!
//! Call order (as with `quinn-proto`'s `Connection`): feed received datagrams to
//! [`Node::handle_datagram`], call [`Node::handle_timeout`] when [`Node::poll_timeout`] passes, and
//! after each of those (and after starting an operation) drain [`Node::poll_transmit`] onto the
//! socket and [`Node::poll_event`] to the callers. The node never reads a clock: `now` is always
//! an argument, so tests run it under a fake clock.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::bep42;
use crate::compact::NodeInfo;
use crate::config::Config;
use crate::error::{DecodeError, ErrorCode};
use crate::event::{Event, OpId, Stats, Transmit};
use crate::id::Id;
use crate::item::{ImmutableItem, MutableItem, mutable_target};
use crate::item_store::{Item, ItemStore};
use crate::lookup::{LookupOutcome, Search, StoreError};
use crate::message::{
    Body, ErrorReply, Message, MutablePut, PutRequest, Query, QueryKind, Response,
};
use crate::peer_store::PeerStore;
use crate::routing::{Contact, GOOD_FOR, K, RoutingTable};
use crate::token::TokenManager;
use crate::value::Value;

/// Queries in flight per lookup (Kademlia's alpha).
pub const ALPHA: usize = 3;
const MAINTENANCE_EVERY: Duration = Duration::from_secs(5);
const PINGS_PER_ROUND: usize = 4;
const REFRESHES_PER_ROUND: usize = 2;
/// Source IPs tracked by the per-IP query rate limit.
const MAX_RATE_ENTRIES: usize = 10_000;

#[derive(Debug, Clone)]
enum Kind {
    FindNode,
    GetPeers,
    Announce { port: Option<u16> },
    GetImmutable,
    GetMutable { salt: Vec<u8> },
    PutImmutable(ImmutableItem),
    PutMutable { item: MutableItem, cas: Option<i64> },
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Search,
    Store,
}

#[derive(Debug)]
struct Lookup {
    kind: Kind,
    search: Search,
    phase: Phase,
    internal: bool,
    bootstrap: bool,
    store_pending: usize,
    stored: usize,
    errors: Vec<StoreError>,
    peers_seen: HashSet<SocketAddr>,
    item: Option<Item>,
    local_error: Option<ErrorCode>,
}

#[derive(Debug, Clone, Copy)]
enum Purpose {
    Ping(OpId),
    Search(OpId),
    Store(OpId),
    Liveness,
}

#[derive(Debug)]
struct Pending {
    to: SocketAddr,
    node_id: Option<Id>,
    deadline: Instant,
    purpose: Purpose,
}

/// A DHT node without I/O. See the module documentation for the call order.
pub struct Node {
    pub(crate) config: Config,
    pub(crate) id: Id,
    pub(crate) table: RoutingTable,
    pub(crate) tokens: TokenManager,
    pub(crate) peers: PeerStore,
    pub(crate) items: ItemStore,
    rng: StdRng,
    next_tid: u32,
    next_op: u64,
    pending: BTreeMap<u32, Pending>,
    lookups: BTreeMap<OpId, Lookup>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    rate: HashMap<IpAddr, (Instant, u32)>,
    next_maintenance: Instant,
    pending_local_error: Option<ErrorCode>,
    pub(crate) stats: Stats,
}

impl Node {
    /// Creates a node. Nothing is sent until an operation (such as [`Node::bootstrap`]) starts.
    pub fn new(config: Config, now: Instant) -> Self {
        let mut rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let id = match (config.node_id, config.external_ip) {
            (Some(id), _) => id,
            (None, Some(ip)) if !bep42::is_exempt(ip) => {
                let r = rng.r#gen();
                bep42::node_id_for_ip(ip, r, &mut rng)
            }
            _ => Id::random(&mut rng),
        };
        let tokens = TokenManager::new(now, &mut rng);
        Node {
            table: RoutingTable::new(id, now),
            tokens,
            peers: PeerStore::new(
                config.max_torrents,
                config.max_peers_per_torrent,
                config.peer_ttl,
            ),
            items: ItemStore::new(config.max_items, config.item_ttl),
            next_tid: rng.r#gen(),
            next_op: 0,
            pending: BTreeMap::new(),
            lookups: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            rate: HashMap::new(),
            next_maintenance: now + MAINTENANCE_EVERY,
            pending_local_error: None,
            stats: Stats::default(),
            rng,
            id,
            config,
        }
    }

    /// Our node id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            routing_nodes: self.table.len(),
            stored_peers: self.peers.len(),
            stored_items: self.items.len(),
            pending_queries: self.pending.len(),
            lookups: self.lookups.len(),
            ..self.stats
        }
    }

    /// Every node in the routing table (persist it and pass it back as `bootstrap` for a warm
    /// restart).
    pub fn routing_nodes(&self, now: Instant) -> Vec<NodeInfo> {
        self.table
            .entries(now)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// The `count` known nodes closest to `target`.
    pub fn closest_nodes(&self, target: &Id, count: usize, now: Instant) -> Vec<NodeInfo> {
        self.table.closest(target, count, now)
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the caller.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Node::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let earliest = self.pending.values().map(|p| p.deadline).min();
        Some(earliest.map_or(self.next_maintenance, |d| d.min(self.next_maintenance)))
    }

    /// Expires unanswered queries and runs periodic maintenance.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(tid, _)| *tid)
            .collect();
        for tid in expired {
            if let Some(pending) = self.pending.remove(&tid) {
                self.on_failure(now, pending, None);
            }
        }
        if now >= self.next_maintenance {
            self.next_maintenance = now + MAINTENANCE_EVERY;
            self.maintain(now);
        }
    }

    /// Joins the DHT: a `find_node` lookup for our own id through the bootstrap nodes.
    pub fn bootstrap(&mut self, now: Instant) -> OpId {
        let own = self.id;
        let op = self.start(now, own, Kind::FindNode, false);
        if let Some(lookup) = self.lookups.get_mut(&op) {
            lookup.bootstrap = true;
        } else {
            self.refresh_all(now);
        }
        op
    }

    /// Pings one address.
    pub fn ping(&mut self, now: Instant, addr: SocketAddr) -> OpId {
        let op = self.next_op();
        self.send_query(now, addr, None, QueryKind::Ping, Purpose::Ping(op));
        op
    }

    /// Finds the nodes closest to `target`.
    pub fn find_node(&mut self, now: Instant, target: Id) -> OpId {
        self.start(now, target, Kind::FindNode, false)
    }

    /// Looks for peers of `info_hash` ([`Event::Peers`] as they arrive).
    pub fn get_peers(&mut self, now: Instant, info_hash: Id) -> OpId {
        self.start(now, info_hash, Kind::GetPeers, false)
    }

    /// Announces that we are a peer of `info_hash` on `port` (`None`: the DHT socket's port,
    /// `implied_port`) to the closest nodes, after a `get_peers` lookup that also reports peers.
    pub fn announce_peer(&mut self, now: Instant, info_hash: Id, port: Option<u16>) -> OpId {
        self.start(now, info_hash, Kind::Announce { port }, false)
    }

    /// Fetches an immutable item.
    pub fn get_immutable(&mut self, now: Instant, target: Id) -> OpId {
        self.start(now, target, Kind::GetImmutable, false)
    }

    /// Fetches the highest-seq mutable item of `key` and `salt`.
    pub fn get_mutable(&mut self, now: Instant, key: &[u8; 32], salt: &[u8]) -> OpId {
        let target = mutable_target(key, salt);
        let salt = salt.to_vec();
        self.start(now, target, Kind::GetMutable { salt }, false)
    }

    /// Stores an immutable item on the closest nodes (and, unless read-only, in our own store).
    pub fn put_immutable(&mut self, now: Instant, item: ImmutableItem) -> OpId {
        let target = item.target();
        self.store_locally(Item::Immutable(item.clone()), None, now);
        self.start(now, target, Kind::PutImmutable(item), false)
    }

    /// Stores a signed mutable item on the closest nodes; with `cas`, only where the stored seq
    /// equals it.
    ///
    /// Unless read-only, the item also goes into our own store, under the same CAS and seq rules;
    /// a refusal there shows up in [`LookupOutcome::local_error`].
    pub fn put_mutable(&mut self, now: Instant, item: MutableItem, cas: Option<i64>) -> OpId {
        let target = item.target();
        self.pending_local_error = self.store_locally(Item::Mutable(item.clone()), cas, now);
        let op = self.start(now, target, Kind::PutMutable { item, cas }, false);
        self.pending_local_error = None;
        op
    }

    fn store_locally(&mut self, item: Item, cas: Option<i64>, now: Instant) -> Option<ErrorCode> {
        if self.config.read_only {
            return None;
        }
        match self.items.put(item, cas, now) {
            Err(code @ (ErrorCode::CasMismatch | ErrorCode::SequenceTooLow)) => Some(code),
            _ => None,
        }
    }

    /// Handles one received datagram.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.stats.received += 1;
        match Message::decode(bytes) {
            Ok(message) => match message.body {
                Body::Query(query) => {
                    if self.config.read_only || self.rate_limited(now, from.ip()) {
                        self.stats.dropped += 1;
                        return;
                    }
                    self.handle_query(now, from, message.transaction_id, message.read_only, query);
                }
                Body::Response(response) => {
                    self.handle_reply(now, from, &message.transaction_id, Ok(response));
                }
                Body::Error(error) => {
                    self.handle_reply(now, from, &message.transaction_id, Err(error));
                }
            },
            Err(DecodeError::InvalidQuery {
                transaction_id,
                error,
            }) if !self.config.read_only && !self.rate_limited(now, from.ip()) => {
                self.send_error(
                    from,
                    transaction_id,
                    ErrorCode::Protocol,
                    &error.to_string(),
                );
            }
            Err(error) => {
                tracing::trace!(%from, %error, "dropped datagram");
                self.stats.dropped += 1;
            }
        }
    }

    fn next_op(&mut self) -> OpId {
        self.next_op += 1;
        OpId(self.next_op)
    }

    fn start(&mut self, now: Instant, target: Id, kind: Kind, internal: bool) -> OpId {
        let op = self.next_op();
        let seeds = self.table.closest(&target, K * 2, now);
        let bootstrap = if seeds.len() < K {
            self.config.bootstrap.clone()
        } else {
            Vec::new()
        };
        let search = Search::new(self.id, target, &seeds, &bootstrap);
        self.lookups.insert(
            op,
            Lookup {
                kind,
                search,
                phase: Phase::Search,
                internal,
                bootstrap: false,
                store_pending: 0,
                stored: 0,
                errors: Vec::new(),
                peers_seen: HashSet::new(),
                item: None,
                local_error: self.pending_local_error.take(),
            },
        );
        self.drive(now, op);
        op
    }

    fn send_query(
        &mut self,
        now: Instant,
        to: SocketAddr,
        node_id: Option<Id>,
        kind: QueryKind,
        purpose: Purpose,
    ) {
        self.next_tid = self.next_tid.wrapping_add(1);
        let tid = self.next_tid;
        let message = Message {
            transaction_id: tid.to_be_bytes().to_vec(),
            version: self.config.version.map(|v| v.to_vec()),
            read_only: self.config.read_only,
            requester_ip: None,
            body: Body::Query(Query { id: self.id, kind }),
        };
        self.push_transmit(to, &message);
        self.pending.insert(
            tid,
            Pending {
                to,
                node_id,
                deadline: now + self.config.query_timeout,
                purpose,
            },
        );
    }

    pub(crate) fn push_transmit(&mut self, to: SocketAddr, message: &Message) {
        self.stats.sent += 1;
        self.transmits.push_back(Transmit {
            to,
            payload: message.to_bytes(),
        });
    }

    pub(crate) fn send_error(
        &mut self,
        to: SocketAddr,
        transaction_id: Vec<u8>,
        code: ErrorCode,
        text: &str,
    ) {
        self.stats.queries_answered += 1;
        let message = Message {
            transaction_id,
            version: self.config.version.map(|v| v.to_vec()),
            read_only: false,
            requester_ip: Some(to),
            body: Body::Error(ErrorReply {
                code,
                message: text.to_owned(),
            }),
        };
        self.push_transmit(to, &message);
    }

    fn rate_limited(&mut self, now: Instant, ip: IpAddr) -> bool {
        if ip.is_loopback() {
            return false;
        }
        if self.rate.len() >= MAX_RATE_ENTRIES {
            // Bounded map: drop stale windows; if a flood of fresh IPs keeps it large, forget
            // them all (fail open), so this costs O(1) amortised per query.
            self.rate.retain(|_, (since, _)| {
                now.saturating_duration_since(*since) < Duration::from_secs(1)
            });
            if self.rate.len() >= MAX_RATE_ENTRIES / 2 {
                self.rate.clear();
            }
        }
        let entry = self.rate.entry(ip).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= Duration::from_secs(1) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 > self.config.max_queries_per_ip
    }

    /// True when a node with this id at this address may enter the routing table.
    pub(crate) fn admissible(&self, id: &Id, addr: &SocketAddr) -> bool {
        *id != self.id
            && addr.port() != 0
            && (!self.config.enforce_node_id || bep42::is_valid_node_id(id, addr.ip()))
    }

    fn handle_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transaction_id: &[u8],
        reply: Result<Response, ErrorReply>,
    ) {
        let Some(tid) = <[u8; 4]>::try_from(transaction_id)
            .ok()
            .map(u32::from_be_bytes)
        else {
            self.stats.dropped += 1;
            return;
        };
        // Only the address we asked may answer (no spoofed replies from elsewhere).
        if self.pending.get(&tid).is_none_or(|p| p.to != from) {
            self.stats.dropped += 1;
            return;
        }
        let Some(pending) = self.pending.remove(&tid) else {
            return;
        };
        let response = match reply {
            Ok(response) => response,
            Err(error) => {
                self.on_failure(now, pending, Some(error));
                return;
            }
        };
        let info = NodeInfo {
            id: response.id,
            addr: from,
        };
        if self.admissible(&info.id, &from) {
            self.table.heard_from(info, Contact::Responded, now);
        }
        match pending.purpose {
            Purpose::Ping(op) => self.events.push_back(Event::Finished {
                op,
                outcome: LookupOutcome {
                    closest: vec![info],
                    ..LookupOutcome::default()
                },
            }),
            Purpose::Liveness => {}
            Purpose::Search(op) => self.on_search_response(now, op, from, response),
            Purpose::Store(op) => {
                if let Some(lookup) = self.lookups.get_mut(&op) {
                    lookup.store_pending = lookup.store_pending.saturating_sub(1);
                    lookup.stored += 1;
                }
                self.drive(now, op);
            }
        }
    }

    fn on_failure(&mut self, now: Instant, pending: Pending, error: Option<ErrorReply>) {
        if error.is_none()
            && let Some(id) = pending.node_id
        {
            self.table.failed(&id, now);
        }
        match pending.purpose {
            Purpose::Ping(op) => self.events.push_back(Event::Finished {
                op,
                outcome: LookupOutcome::default(),
            }),
            Purpose::Liveness => {}
            Purpose::Search(op) => {
                if let Some(lookup) = self.lookups.get_mut(&op) {
                    lookup.search.failed(pending.to);
                }
                self.drive(now, op);
            }
            Purpose::Store(op) => {
                if let Some(lookup) = self.lookups.get_mut(&op) {
                    lookup.store_pending = lookup.store_pending.saturating_sub(1);
                    if let Some(error) = error {
                        lookup.errors.push(StoreError {
                            node: pending.to,
                            code: error.code,
                            message: error.message,
                        });
                    }
                }
                self.drive(now, op);
            }
        }
    }

    fn on_search_response(&mut self, now: Instant, op: OpId, from: SocketAddr, response: Response) {
        let Some(lookup) = self.lookups.get_mut(&op) else {
            return;
        };
        let nodes = if from.is_ipv6() {
            &response.nodes6
        } else {
            &response.nodes
        };
        for node in nodes {
            lookup.search.add(*node);
        }
        lookup
            .search
            .responded(from, response.id, response.token.clone());
        let target = lookup.search.target();
        match &lookup.kind {
            Kind::GetPeers | Kind::Announce { .. } => {
                let fresh: Vec<SocketAddr> = response
                    .values
                    .iter()
                    .filter(|p| p.port() != 0 && lookup.peers_seen.insert(**p))
                    .copied()
                    .collect();
                if !fresh.is_empty() {
                    self.events.push_back(Event::Peers { op, peers: fresh });
                }
            }
            Kind::GetImmutable => {
                if lookup.item.is_none()
                    && let Some(raw) = response.value
                    && Id::sha1(&raw) == target
                    && let Ok(value) = Value::from_bencode(raw)
                {
                    let item = Item::Immutable(ImmutableItem::new(value));
                    lookup.item = Some(item.clone());
                    self.events.push_back(Event::Item { op, item });
                }
            }
            Kind::GetMutable { salt } => {
                if let (Some(key), Some(signature), Some(seq), Some(raw)) = (
                    response.key,
                    response.signature,
                    response.seq,
                    response.value,
                ) && mutable_target(&key, salt) == target
                    && let Ok(value) = Value::from_bencode(raw)
                    && let Ok(item) =
                        MutableItem::from_parts(key, salt.clone(), seq, value, signature)
                    && !matches!(&lookup.item, Some(Item::Mutable(best)) if best.seq() >= seq)
                {
                    let item = Item::Mutable(item);
                    lookup.item = Some(item.clone());
                    self.events.push_back(Event::Item { op, item });
                }
            }
            Kind::FindNode | Kind::PutImmutable(_) | Kind::PutMutable { .. } => {}
        }
        self.drive(now, op);
    }

    /// Advances a lookup: more queries, the store phase, or the end.
    fn drive(&mut self, now: Instant, op: OpId) {
        let Some(lookup) = self.lookups.get_mut(&op) else {
            return;
        };
        if lookup.phase == Phase::Store {
            if lookup.store_pending == 0 {
                self.finish(now, op);
            }
            return;
        }
        let found_immutable = matches!(lookup.kind, Kind::GetImmutable) && lookup.item.is_some();
        if !found_immutable && !lookup.search.is_done() {
            let target = lookup.search.target();
            let query = match &lookup.kind {
                Kind::FindNode => QueryKind::FindNode { target },
                Kind::GetPeers | Kind::Announce { .. } => QueryKind::GetPeers { info_hash: target },
                _ => QueryKind::Get { target, seq: None },
            };
            for (id, addr) in lookup.search.next(ALPHA) {
                self.send_query(now, addr, id, query.clone(), Purpose::Search(op));
            }
            return;
        }
        // Search over: store where needed.
        let stores: Vec<(SocketAddr, Id, QueryKind)> = lookup
            .search
            .closest_responded(K)
            .into_iter()
            .filter_map(|(node, token)| {
                let token = token?;
                let target = lookup.search.target();
                let kind = match &lookup.kind {
                    Kind::Announce { port } => QueryKind::AnnouncePeer {
                        info_hash: target,
                        port: port.unwrap_or(0),
                        implied_port: port.is_none(),
                        token,
                    },
                    Kind::PutImmutable(item) => QueryKind::Put(PutRequest {
                        token,
                        value: item.value().as_bencode().to_vec(),
                        mutable: None,
                        salt: Vec::new(),
                        cas: None,
                    }),
                    Kind::PutMutable { item, cas } => QueryKind::Put(PutRequest {
                        token,
                        value: item.value().as_bencode().to_vec(),
                        mutable: Some(MutablePut {
                            key: *item.key(),
                            signature: *item.signature(),
                            seq: item.seq(),
                        }),
                        salt: item.salt().to_vec(),
                        cas: *cas,
                    }),
                    _ => return None,
                };
                Some((node.addr, node.id, kind))
            })
            .collect();
        lookup.phase = Phase::Store;
        lookup.store_pending = stores.len();
        if stores.is_empty() {
            self.finish(now, op);
            return;
        }
        for (addr, id, kind) in stores {
            self.send_query(now, addr, Some(id), kind, Purpose::Store(op));
        }
    }

    /// After joining: one lookup per bucket (random id inside it) to fill the far buckets.
    fn refresh_all(&mut self, now: Instant) {
        for index in self.table.stale_buckets(now, Duration::ZERO) {
            self.table.touch_bucket(index, now);
            let target = self.id.random_in_bucket(index as u32, &mut self.rng);
            self.start(now, target, Kind::FindNode, true);
        }
    }

    fn finish(&mut self, now: Instant, op: OpId) {
        let Some(lookup) = self.lookups.remove(&op) else {
            return;
        };
        if lookup.bootstrap {
            self.refresh_all(now);
        }
        if lookup.internal {
            return;
        }
        let outcome = LookupOutcome {
            closest: lookup
                .search
                .closest_responded(K)
                .into_iter()
                .map(|(n, _)| n)
                .collect(),
            item: lookup.item,
            stored: lookup.stored,
            errors: lookup.errors,
            queried: lookup.search.queried,
            local_error: lookup.local_error,
        };
        self.events.push_back(Event::Finished { op, outcome });
    }

    fn maintain(&mut self, now: Instant) {
        self.tokens.maybe_rotate(now, &mut self.rng);
        self.peers.expire(now);
        self.items.expire(now);
        self.rate
            .retain(|_, (since, _)| now.saturating_duration_since(*since) < Duration::from_secs(1));
        let refreshing = self.lookups.values().filter(|l| l.internal).count();
        if refreshing == 0 {
            if self.table.len() == 0 && !self.config.bootstrap.is_empty() {
                let own = self.id;
                self.start(now, own, Kind::FindNode, true);
            } else {
                let stale = self.table.stale_buckets(now, GOOD_FOR);
                for index in stale.into_iter().take(REFRESHES_PER_ROUND) {
                    self.table.touch_bucket(index, now);
                    let target = self.id.random_in_bucket(index as u32, &mut self.rng);
                    self.start(now, target, Kind::FindNode, true);
                }
            }
        }
        let busy: HashSet<SocketAddr> = self.pending.values().map(|p| p.to).collect();
        for node in self.table.questionable(now, PINGS_PER_ROUND) {
            if !busy.contains(&node.addr) {
                self.send_query(
                    now,
                    node.addr,
                    Some(node.id),
                    QueryKind::Ping,
                    Purpose::Liveness,
                );
            }
        }
    }
}
