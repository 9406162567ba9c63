//! Carrying messages: the [`Transport`] the server hands outgoing messages to, and [`Router`],
//! which delivers each to the one connection that registered its `clientKey`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::outbox::Outbox;
use crate::protocol::ServerMessage;

/// Capacity of each client's outgoing queue. An in-process client that does not drain it loses
/// messages (counted by [`Router::dropped`]); a connection whose queue fills is closed. Stale
/// `update`/`download`/`upload` messages of a connection are replaced by newer ones instead of
/// queueing. Either way the engine and the other clients never wait.
pub const CLIENT_QUEUE: usize = 1024;

/// Where the server puts outgoing messages: the seed's `send(message)`. Each message must reach
/// only the client whose `clientKey` it carries. `send` must not block.
pub trait Transport: Send + Sync + 'static {
    /// Delivers one message to the client `message.client_key()`.
    fn send(&self, message: ServerMessage);
}

enum Sink {
    Channel(mpsc::Sender<ServerMessage>),
    Outbox(Arc<Outbox>),
}

impl Sink {
    fn is_closed(&self) -> bool {
        match self {
            Self::Channel(tx) => tx.is_closed(),
            Self::Outbox(o) => o.is_closed(),
        }
    }
}

struct Route {
    conn: u64,
    sink: Sink,
}

/// A [`Transport`] that routes by `clientKey` to registered bounded queues. A key belongs to
/// the first connection that registers it; another connection cannot take it over.
#[derive(Default)]
pub struct Router {
    routes: Mutex<HashMap<String, Route>>,
    next_conn: AtomicU64,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A fresh connection id.
    pub fn connection_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Routes `client_key` to `tx` for connection `conn`. Returns false (and changes nothing)
    /// when another live connection owns the key.
    pub fn register(&self, client_key: &str, conn: u64, tx: &mpsc::Sender<ServerMessage>) -> bool {
        self.route(client_key, conn, || Sink::Channel(tx.clone()))
    }

    /// Routes `client_key` to a connection's outbox; false when another connection owns it.
    pub(crate) fn register_outbox(
        &self,
        client_key: &str,
        conn: u64,
        outbox: &Arc<Outbox>,
    ) -> bool {
        self.route(client_key, conn, || Sink::Outbox(outbox.clone()))
    }

    fn route(&self, client_key: &str, conn: u64, sink: impl FnOnce() -> Sink) -> bool {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        match routes.get(client_key) {
            Some(r) if r.conn == conn => true,
            Some(r) if r.conn != conn && !r.sink.is_closed() => false,
            _ => {
                routes.insert(client_key.to_owned(), Route { conn, sink: sink() });
                true
            }
        }
    }

    /// Forgets every key of connection `conn`.
    pub fn unregister(&self, conn: u64) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        routes.retain(|_, r| r.conn != conn);
    }

    /// Messages dropped because a client's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Client keys routed now.
    pub fn routes(&self) -> usize {
        self.routes.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Messages waiting in connection outboxes, summed (each counted once per key it serves).
    pub fn queued(&self) -> usize {
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        routes
            .values()
            .map(|r| match &r.sink {
                Sink::Channel(tx) => tx.max_capacity() - tx.capacity(),
                Sink::Outbox(o) => o.len(),
            })
            .sum()
    }
}

impl Transport for Router {
    fn send(&self, message: ServerMessage) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let key = message.client_key();
        let Some(route) = routes.get(key) else {
            return;
        };
        match &route.sink {
            Sink::Channel(tx) => match tx.try_send(message) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Closed(m)) => {
                    routes.remove(m.client_key());
                }
            },
            Sink::Outbox(o) => {
                let key = message.client_key().to_owned();
                if !o.push(message) {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    routes.remove(&key);
                }
            }
        }
    }
}

impl<T: Transport> Transport for Arc<T> {
    fn send(&self, message: ServerMessage) {
        (**self).send(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(key: &str) -> ServerMessage {
        ServerMessage::TorrentSubscribed {
            client_key: key.into(),
            torrent_key: "t".into(),
            torrent: None,
        }
    }

    #[test]
    fn routes_only_to_the_owner_of_a_key() {
        let r = Router::new();
        let (a, mut ra) = mpsc::channel(4);
        let (b, mut rb) = mpsc::channel(4);
        let (ca, cb) = (r.connection_id(), r.connection_id());
        assert!(r.register("a", ca, &a));
        assert!(r.register("b", cb, &b));
        assert!(!r.register("a", cb, &b), "b must not take a's key");
        r.send(msg("a"));
        r.send(msg("nobody"));
        assert_eq!(ra.try_recv().unwrap().client_key(), "a");
        assert!(ra.try_recv().is_err());
        assert!(rb.try_recv().is_err());
        for _ in 0..10 {
            r.send(msg("b"));
        }
        assert_eq!(r.dropped(), 6);
        r.unregister(ca);
        r.send(msg("a"));
        assert!(ra.try_recv().is_err());
    }
}
