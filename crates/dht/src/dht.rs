//! The tokio driver: one task owns the UDP socket and the sans-IO [`Node`]; [`Dht`] is a cheap
//! handle that sends it commands.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant as TokioInstant;

use crate::builder::{DhtBuilder, Persist};
use crate::compact::NodeInfo;
use crate::config::Config;
use crate::error::ErrorCode;
use crate::event::{Event, OpId, Stats};
use crate::id::Id;
use crate::item::{ImmutableItem, MutableItem};
use crate::item_store::Item;
use crate::lookup::{LookupOutcome, StoreError};
use crate::node::Node;
use crate::nodes_file::{self, NodesFileError};
use crate::value::Value;

/// Errors of the async API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DhtError {
    /// Binding or reading the socket failed.
    #[error("dht socket error on {addr}: {source}")]
    Io {
        /// The address bound.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The driver task has stopped.
    #[error("dht node is shut down")]
    Shutdown,
    /// The node did not answer a ping.
    #[error("no answer from {addr}")]
    NoAnswer {
        /// The node pinged.
        addr: SocketAddr,
    },
    /// Some node refused a `put` because it holds another version (301 CAS mismatch or 302
    /// sequence number too low): re-read the item and retry. `stored` nodes (which held no copy)
    /// accepted it anyway.
    #[error("put rejected by {} nodes holding another version (stored on {stored})", errors.len())]
    Conflict {
        /// Nodes that accepted the item.
        stored: usize,
        /// The refusals.
        errors: Vec<StoreError>,
    },
    /// Writing the nodes file failed.
    #[error(transparent)]
    NodesFile(#[from] NodesFileError),
    /// No node accepted an `announce_peer` or `put`.
    #[error("no node stored the item or announce ({} errors)", errors.len())]
    NotStored {
        /// Error replies received.
        errors: Vec<StoreError>,
    },
}

/// The result of a successful `put`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PutResult {
    /// The item's target.
    pub target: Id,
    /// Nodes that stored it.
    pub stored: usize,
    /// Nodes that refused it (e.g. 301, 302).
    pub errors: Vec<StoreError>,
}

/// Peers of a torrent as a `get_peers` lookup finds them. Ends when the lookup ends.
#[derive(Debug)]
pub struct PeerStream {
    rx: mpsc::UnboundedReceiver<Vec<SocketAddr>>,
    buffered: std::vec::IntoIter<SocketAddr>,
}

impl PeerStream {
    /// The next peer, or `None` when the lookup is over.
    pub async fn next(&mut self) -> Option<SocketAddr> {
        loop {
            if let Some(peer) = self.buffered.next() {
                return Some(peer);
            }
            self.buffered = self.rx.recv().await?.into_iter();
        }
    }

    /// Every peer until the lookup ends.
    pub async fn collect(mut self) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        while let Some(peer) = self.next().await {
            out.push(peer);
        }
        out
    }
}

enum Op {
    Ping(SocketAddr),
    FindNode(Id),
    GetPeers(Id),
    Announce(Id, Option<u16>),
    GetImmutable(Id),
    GetMutable([u8; 32], Vec<u8>),
    PutImmutable(ImmutableItem),
    PutMutable(MutableItem, Option<i64>),
}

enum Command {
    Start {
        op: Op,
        done: oneshot::Sender<LookupOutcome>,
        peers: Option<mpsc::UnboundedSender<Vec<SocketAddr>>>,
    },
    Bootstrapped(oneshot::Sender<usize>),
    Stats(oneshot::Sender<Stats>),
    RoutingNodes(oneshot::Sender<Vec<NodeInfo>>),
}

/// A running DHT node (a handle; clones share the node).
#[derive(Debug, Clone)]
pub struct Dht {
    commands: mpsc::UnboundedSender<Command>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    local_addr: SocketAddr,
    id: Id,
    nodes_file: Option<Arc<PathBuf>>,
    nodes_file_warning: Option<Arc<NodesFileError>>,
}

impl Dht {
    /// A builder with loopback defaults.
    pub fn builder() -> DhtBuilder {
        DhtBuilder::default()
    }

    pub(crate) async fn start(
        bind: SocketAddr,
        config: Config,
        persist: Option<Persist>,
        nodes_file_warning: Option<NodesFileError>,
    ) -> Result<Dht, DhtError> {
        let io = |source| DhtError::Io { addr: bind, source };
        let socket = UdpSocket::bind(bind).await.map_err(io)?;
        let local_addr = socket.local_addr().map_err(io)?;
        let mut node = Node::new(config, now());
        let bootstrap = node.bootstrap(now());
        let id = node.id();
        let (commands, rx) = mpsc::unbounded_channel();
        let driver = Driver {
            node,
            socket,
            commands: rx,
            waiters: HashMap::new(),
            bootstrap: Some(bootstrap),
            bootstrap_waiters: Vec::new(),
            save_at: persist
                .as_ref()
                .map(|p| TokioInstant::now() + p.interval.max(Duration::from_secs(1))),
            persist: persist.clone(),
        };
        let task = tokio::spawn(driver.run());
        Ok(Dht {
            commands,
            task: Arc::new(Mutex::new(Some(task))),
            local_addr,
            id,
            nodes_file: persist.map(|p| Arc::new(p.path)),
            nodes_file_warning: nodes_file_warning.map(Arc::new),
        })
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Our node id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// Waits for the initial bootstrap lookup; returns the routing table size.
    pub async fn bootstrapped(&self) -> Result<usize, DhtError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Bootstrapped(tx))?;
        rx.await.map_err(|_| DhtError::Shutdown)
    }

    /// Pings a node; returns its id.
    pub async fn ping(&self, addr: SocketAddr) -> Result<Id, DhtError> {
        let outcome = self.run(Op::Ping(addr)).await?;
        outcome
            .closest
            .first()
            .map(|n| n.id)
            .ok_or(DhtError::NoAnswer { addr })
    }

    /// The closest nodes to `target` that answered.
    pub async fn find_node(&self, target: Id) -> Result<Vec<NodeInfo>, DhtError> {
        Ok(self.run(Op::FindNode(target)).await?.closest)
    }

    /// Starts a `get_peers` lookup; peers stream in as they are found.
    pub fn get_peers(&self, info_hash: Id) -> Result<PeerStream, DhtError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (done, _) = oneshot::channel();
        self.send(Command::Start {
            op: Op::GetPeers(info_hash),
            done,
            peers: Some(tx),
        })?;
        Ok(PeerStream {
            rx,
            buffered: Vec::new().into_iter(),
        })
    }

    /// Announces us as a peer of `info_hash` on `port` (`None`: this socket's port). Returns the
    /// number of nodes that accepted it.
    pub async fn announce_peer(&self, info_hash: Id, port: Option<u16>) -> Result<usize, DhtError> {
        let outcome = self.run(Op::Announce(info_hash, port)).await?;
        if outcome.stored == 0 {
            return Err(DhtError::NotStored {
                errors: outcome.errors,
            });
        }
        Ok(outcome.stored)
    }

    /// Fetches an immutable item's value.
    pub async fn get_immutable(&self, target: Id) -> Result<Option<Value>, DhtError> {
        Ok(match self.run(Op::GetImmutable(target)).await?.item {
            Some(Item::Immutable(item)) => Some(item.value().clone()),
            _ => None,
        })
    }

    /// Stores an immutable value; its target is SHA-1 of the value.
    pub async fn put_immutable(&self, value: Value) -> Result<PutResult, DhtError> {
        let item = ImmutableItem::new(value);
        let target = item.target();
        put_result(target, self.run(Op::PutImmutable(item)).await?)
    }

    /// The highest-seq mutable item of `key` and `salt` found (signature verified).
    pub async fn get_mutable(
        &self,
        key: &[u8; 32],
        salt: &[u8],
    ) -> Result<Option<MutableItem>, DhtError> {
        Ok(
            match self.run(Op::GetMutable(*key, salt.to_vec())).await?.item {
                Some(Item::Mutable(item)) => Some(item),
                _ => None,
            },
        )
    }

    /// Stores a signed mutable item; with `cas`, nodes holding another seq refuse it (301).
    /// Any 301 or 302 refusal makes the result [`DhtError::Conflict`].
    pub async fn put_mutable(
        &self,
        item: MutableItem,
        cas: Option<i64>,
    ) -> Result<PutResult, DhtError> {
        let target = item.target();
        put_result(target, self.run(Op::PutMutable(item, cas)).await?)
    }

    /// Counters of the node.
    pub async fn stats(&self) -> Result<Stats, DhtError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Stats(tx))?;
        rx.await.map_err(|_| DhtError::Shutdown)
    }

    /// The routing table's nodes (persist them for a warm restart).
    pub async fn routing_nodes(&self) -> Result<Vec<NodeInfo>, DhtError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::RoutingNodes(tx))?;
        rx.await.map_err(|_| DhtError::Shutdown)
    }

    /// Writes the routing table's nodes (at most [`MAX_SAVED_NODES`](crate::MAX_SAVED_NODES)) to
    /// `path` atomically (temporary file, fsync, rename); returns how many were written.
    ///
    /// The format is one bencoded dictionary with the fields of a `find_node` reply:
    /// `d5:nodes<26-byte IPv4 compact node infos>6:nodes6<38-byte IPv6 compact node infos>e`
    /// (see [`encode_nodes_file`](crate::encode_nodes_file)).
    pub async fn save_nodes(&self, path: impl AsRef<Path>) -> Result<usize, DhtError> {
        let nodes = self.routing_nodes().await?;
        let count = nodes.len().min(nodes_file::MAX_SAVED_NODES);
        save_blocking(path.as_ref().to_path_buf(), nodes).await?;
        Ok(count)
    }

    /// Why the configured nodes file was not used at start (missing, unreadable, too long or
    /// corrupt), if it was not.
    pub fn nodes_file_warning(&self) -> Option<&NodesFileError> {
        self.nodes_file_warning.as_deref()
    }

    /// Stops the driver task and waits for it to end. Pending operations fail with
    /// [`DhtError::Shutdown`]. A configured nodes file is rewritten first (unless the routing
    /// table is empty).
    pub async fn shutdown(&self) {
        if let Some(path) = &self.nodes_file
            && let Ok(nodes) = self.routing_nodes().await
            && !nodes.is_empty()
            && let Err(error) = save_blocking(path.to_path_buf(), nodes).await
        {
            tracing::warn!(%error, "dht nodes file not saved at shutdown");
        }
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// True once the driver task has ended.
    pub fn is_shut_down(&self) -> bool {
        self.commands.is_closed()
    }

    fn send(&self, command: Command) -> Result<(), DhtError> {
        self.commands.send(command).map_err(|_| DhtError::Shutdown)
    }

    async fn run(&self, op: Op) -> Result<LookupOutcome, DhtError> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Start {
            op,
            done,
            peers: None,
        })?;
        rx.await.map_err(|_| DhtError::Shutdown)
    }
}

fn put_result(target: Id, outcome: LookupOutcome) -> Result<PutResult, DhtError> {
    let conflict = outcome
        .errors
        .iter()
        .map(|e| e.code)
        .chain(outcome.local_error)
        .any(|code| matches!(code, ErrorCode::CasMismatch | ErrorCode::SequenceTooLow));
    if conflict {
        return Err(DhtError::Conflict {
            stored: outcome.stored,
            errors: outcome.errors,
        });
    }
    if outcome.stored == 0 {
        return Err(DhtError::NotStored {
            errors: outcome.errors,
        });
    }
    Ok(PutResult {
        target,
        stored: outcome.stored,
        errors: outcome.errors,
    })
}

async fn save_blocking(path: PathBuf, nodes: Vec<NodeInfo>) -> Result<(), NodesFileError> {
    let fallback = path.clone();
    tokio::task::spawn_blocking(move || nodes_file::save(&path, &nodes))
        .await
        .unwrap_or_else(|join| {
            Err(NodesFileError::Io {
                path: fallback,
                source: std::io::Error::other(join.to_string()),
            })
        })
}

fn now() -> std::time::Instant {
    TokioInstant::now().into_std()
}

struct Waiter {
    done: oneshot::Sender<LookupOutcome>,
    peers: Option<mpsc::UnboundedSender<Vec<SocketAddr>>>,
}

struct Driver {
    node: Node,
    socket: UdpSocket,
    commands: mpsc::UnboundedReceiver<Command>,
    waiters: HashMap<OpId, Waiter>,
    bootstrap: Option<OpId>,
    bootstrap_waiters: Vec<oneshot::Sender<usize>>,
    persist: Option<Persist>,
    save_at: Option<TokioInstant>,
}

impl Driver {
    async fn run(mut self) {
        let mut buf = vec![0u8; 65_536];
        loop {
            self.flush().await;
            let deadline = self.node.poll_timeout().map(TokioInstant::from_std);
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => self.node.handle_datagram(now(), from, &buf[..len]),
                    Err(error) => tracing::debug!(%error, "dht recv error"),
                },
                command = self.commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                () = sleep_until(deadline) => self.node.handle_timeout(now()),
                () = sleep_until(self.save_at) => self.save_periodically(),
            }
        }
    }

    fn save_periodically(&mut self) {
        let Some(persist) = &self.persist else {
            self.save_at = None;
            return;
        };
        self.save_at = Some(TokioInstant::now() + persist.interval.max(Duration::from_secs(1)));
        let nodes = self.node.routing_nodes(now());
        if nodes.is_empty() {
            return;
        }
        let path = persist.path.clone();
        tokio::spawn(async move {
            if let Err(error) = save_blocking(path, nodes).await {
                tracing::warn!(%error, "dht nodes file not saved");
            }
        });
    }

    async fn flush(&mut self) {
        while let Some(transmit) = self.node.poll_transmit() {
            if let Err(error) = self.socket.send_to(&transmit.payload, transmit.to).await {
                tracing::debug!(to = %transmit.to, %error, "dht send error");
            }
        }
        while let Some(event) = self.node.poll_event() {
            match event {
                Event::Peers { op, peers } => {
                    if let Some(tx) = self.waiters.get(&op).and_then(|w| w.peers.as_ref()) {
                        let _ = tx.send(peers);
                    }
                }
                Event::Finished { op, outcome } => {
                    if self.bootstrap == Some(op) {
                        self.bootstrap = None;
                        let size = self.node.stats().routing_nodes;
                        for waiter in self.bootstrap_waiters.drain(..) {
                            let _ = waiter.send(size);
                        }
                    }
                    if let Some(waiter) = self.waiters.remove(&op) {
                        let _ = waiter.done.send(outcome);
                    }
                }
                _ => {}
            }
        }
    }

    fn command(&mut self, command: Command) {
        let at = now();
        let (op, done, peers) = match command {
            Command::Start { op, done, peers } => (op, done, peers),
            Command::Bootstrapped(tx) => {
                if self.bootstrap.is_some() {
                    self.bootstrap_waiters.push(tx);
                } else {
                    let _ = tx.send(self.node.stats().routing_nodes);
                }
                return;
            }
            Command::Stats(tx) => {
                let _ = tx.send(self.node.stats());
                return;
            }
            Command::RoutingNodes(tx) => {
                let _ = tx.send(self.node.routing_nodes(at));
                return;
            }
        };
        let node = &mut self.node;
        let id = match op {
            Op::Ping(addr) => node.ping(at, addr),
            Op::FindNode(target) => node.find_node(at, target),
            Op::GetPeers(info_hash) => node.get_peers(at, info_hash),
            Op::Announce(info_hash, port) => node.announce_peer(at, info_hash, port),
            Op::GetImmutable(target) => node.get_immutable(at, target),
            Op::GetMutable(key, salt) => node.get_mutable(at, &key, &salt),
            Op::PutImmutable(item) => node.put_immutable(at, item),
            Op::PutMutable(item, cas) => node.put_mutable(at, item, cas),
        };
        self.waiters.insert(id, Waiter { done, peers });
    }
}

async fn sleep_until(deadline: Option<TokioInstant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
