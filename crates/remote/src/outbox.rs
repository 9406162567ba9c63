//! A connection's outgoing queue: bounded, with stale progress coalesced.
//!
//! `update`, `download` and `upload` only report the newest counters, so a queued one is
//! replaced by the next for the same client and torrent instead of queueing behind it. Every
//! other message is queued; when [`Outbox::LIMIT`] of them wait, the client is too slow and its
//! connection is closed, so a stuck client costs bounded memory and never blocks the server.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, watch};

use crate::protocol::ServerMessage;

/// What the writer gets: a message, or a raw line (the token refusal).
pub(crate) enum Out {
    Msg(Box<ServerMessage>),
    Raw(&'static str),
}

type Key = (&'static str, String, String);

enum Entry {
    Msg(Box<ServerMessage>),
    Latest(Key),
    Raw(&'static str),
}

#[derive(Default)]
struct State {
    queue: VecDeque<Entry>,
    latest: HashMap<Key, ServerMessage>,
    finishing: bool,
}

pub(crate) struct Outbox {
    state: Mutex<State>,
    ready: Notify,
    closed: watch::Sender<bool>,
    coalesced: AtomicU64,
}

impl Outbox {
    /// Messages (other than coalesced progress) that may wait before the connection closes.
    pub(crate) const LIMIT: usize = crate::transport::CLIENT_QUEUE;

    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            closed: watch::Sender::new(false),
            coalesced: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `msg`; returns false when the outbox is (now) closed.
    pub(crate) fn push(&self, msg: ServerMessage) -> bool {
        if self.is_closed() {
            return false;
        }
        let mut st = self.lock();
        let kind = msg.kind();
        if matches!(kind, "update" | "download" | "upload") {
            let key = (
                kind,
                msg.client_key().to_owned(),
                msg.torrent_key().unwrap_or("").to_owned(),
            );
            if let Some(slot) = st.latest.get_mut(&key) {
                *slot = msg;
                self.coalesced.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            st.latest.insert(key.clone(), msg);
            st.queue.push_back(Entry::Latest(key));
        } else {
            if st.queue.len() >= Self::LIMIT + st.latest.len() {
                drop(st);
                tracing::debug!("client too slow: outgoing queue full, closing");
                self.close();
                return false;
            }
            st.queue.push_back(Entry::Msg(Box::new(msg)));
        }
        drop(st);
        self.ready.notify_one();
        true
    }

    /// Queues a raw line and ends the connection once it is written.
    pub(crate) fn reject(&self, line: &'static str) {
        let mut st = self.lock();
        st.queue.push_back(Entry::Raw(line));
        st.finishing = true;
        drop(st);
        self.ready.notify_one();
    }

    /// Ends the connection once what is queued is written.
    pub(crate) fn finish(&self) {
        self.lock().finishing = true;
        self.ready.notify_one();
    }

    /// Waits for the next messages (at most 64); `None` when the writer should stop.
    pub(crate) async fn next_batch(&self) -> Option<Vec<Out>> {
        loop {
            if self.is_closed() {
                return None;
            }
            {
                let mut st = self.lock();
                if !st.queue.is_empty() {
                    let n = st.queue.len().min(64);
                    let mut out = Vec::with_capacity(n);
                    for _ in 0..n {
                        match st.queue.pop_front() {
                            Some(Entry::Msg(m)) => out.push(Out::Msg(m)),
                            Some(Entry::Raw(r)) => out.push(Out::Raw(r)),
                            Some(Entry::Latest(k)) => {
                                if let Some(m) = st.latest.remove(&k) {
                                    out.push(Out::Msg(Box::new(m)));
                                }
                            }
                            None => break,
                        }
                    }
                    return Some(out);
                }
                if st.finishing {
                    return None;
                }
            }
            // One consumer: a notify_one before this point left a permit.
            self.ready.notified().await;
        }
    }

    /// Closes at once: the writer stops, queued messages are dropped.
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
        let mut st = self.lock();
        st.queue.clear();
        st.latest.clear();
        drop(st);
        self.ready.notify_one();
    }

    pub(crate) fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Resolves once the outbox is closed.
    pub(crate) async fn wait_closed(&self) {
        let mut rx = self.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Entries waiting (coalesced progress counts once per client and torrent).
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Progress messages replaced by a newer one before they were written.
    #[cfg(test)]
    pub(crate) fn coalesced(&self) -> u64 {
        self.coalesced.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::TorrentInfo;

    fn update(c: &str, t: &str, p: f64) -> ServerMessage {
        ServerMessage::Update {
            client_key: c.into(),
            torrent_key: t.into(),
            torrent: TorrentInfo {
                progress: Some(p),
                ..TorrentInfo::default()
            },
        }
    }

    fn done(c: &str, t: &str) -> ServerMessage {
        ServerMessage::Done {
            client_key: c.into(),
            torrent_key: t.into(),
            torrent: TorrentInfo::default(),
        }
    }

    #[tokio::test]
    async fn stale_updates_coalesce_and_order_holds() {
        let o = Outbox::new();
        for i in 0..10_000 {
            assert!(o.push(update("c", "t1", f64::from(i))));
            assert!(o.push(update("c", "t2", f64::from(i))));
        }
        assert!(o.push(done("c", "t1")));
        assert_eq!(o.len(), 3, "two coalesced updates and a done");
        assert_eq!(o.coalesced(), 19_998);
        let batch = o.next_batch().await.unwrap();
        let got: Vec<(String, Option<f64>)> = batch
            .iter()
            .map(|b| match b {
                Out::Msg(m) => match &**m {
                    ServerMessage::Update {
                        torrent_key,
                        torrent,
                        ..
                    } => (torrent_key.clone(), torrent.progress),
                    m => (m.kind().to_owned(), None),
                },
                Out::Raw(_) => unreachable!(),
            })
            .collect();
        assert_eq!(
            got,
            [
                ("t1".to_owned(), Some(9999.0)),
                ("t2".to_owned(), Some(9999.0)),
                ("done".to_owned(), None)
            ]
        );
    }

    #[tokio::test]
    async fn a_full_queue_closes_instead_of_growing() {
        let o = Outbox::new();
        for _ in 0..Outbox::LIMIT {
            assert!(o.push(done("c", "t")));
        }
        assert!(!o.push(done("c", "t")));
        assert!(o.is_closed());
        assert_eq!(o.len(), 0, "closing frees the queue");
        assert!(o.next_batch().await.is_none());
        o.wait_closed().await;
    }

    #[tokio::test]
    async fn reject_writes_its_line_then_ends() {
        let o = Outbox::new();
        o.reject("{\"error\":\"bad token\"}");
        assert!(matches!(o.next_batch().await.unwrap()[..], [Out::Raw(_)]));
        assert!(o.next_batch().await.is_none());
    }
}
