//! The manager: several named backends, each polled on its own interval, their changes turned
//! into events for listeners, subscribers and webhooks; state persisted per backend.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;

use crate::backend::{Backend, BackendError};
use crate::event::{Event, diff_snapshots};
use crate::record::TorrentRecord;
use crate::state::SnapshotFile;
use crate::webhook::{Webhook, WebhookConfig};

/// Default bound on one backend call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Receives every event (dTorrent's listener object: one method, match on [`Event::event`]).
pub trait Listener: Send + Sync + 'static {
    /// Called once per event, in order, from the backend's polling task. Keep it short.
    fn on_event(&self, event: &Event);
}

/// One watched backend.
pub struct BackendConfig {
    /// Its name (unique; appears in every event).
    pub name: String,
    /// The backend.
    pub backend: Arc<dyn Backend>,
    /// Time between polls (push backends are also polled when they signal a change).
    pub interval: Duration,
    /// Directory for this backend's persisted state.
    pub root: PathBuf,
    /// Bound on each backend call; a call past it is an `error` event.
    pub timeout: Duration,
}

impl BackendConfig {
    /// A backend polled every `interval`, state under `root`, calls bounded by [`DEFAULT_TIMEOUT`].
    pub fn new(
        name: impl Into<String>,
        backend: Arc<dyn Backend>,
        interval: Duration,
        root: impl Into<PathBuf>,
    ) -> Self {
        Self {
            name: name.into(),
            backend,
            interval,
            root: root.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A failure of a manager operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// No backend of that name.
    #[error("no backend named {name}")]
    NoBackend {
        /// The name.
        name: String,
    },
    /// No backend holds that torrent.
    #[error("no backend holds torrent {hash}")]
    NotFound {
        /// The info-hash.
        hash: String,
    },
    /// The backend failed.
    #[error("backend {name}: {source}")]
    Backend {
        /// The backend's name.
        name: String,
        /// Its error.
        #[source]
        source: BackendError,
    },
    /// Reading a .torrent file failed.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

/// Builds a [`Manager`]: backends, listeners and webhooks first, so the first poll's events
/// reach all of them.
#[derive(Default)]
pub struct ManagerBuilder {
    backends: Vec<BackendConfig>,
    listeners: Vec<Arc<dyn Listener>>,
    webhooks: Vec<WebhookConfig>,
}

impl ManagerBuilder {
    /// Adds a backend.
    pub fn backend(&mut self, config: BackendConfig) -> &mut Self {
        self.backends.push(config);
        self
    }

    /// Adds a listener.
    pub fn listener(&mut self, listener: Arc<dyn Listener>) -> &mut Self {
        self.listeners.push(listener);
        self
    }

    /// Adds a webhook.
    pub fn webhook(&mut self, config: WebhookConfig) -> &mut Self {
        self.webhooks.push(config);
        self
    }

    /// Starts the webhook workers (they deliver what their outbox still holds) and one polling
    /// task per backend.
    pub fn start(&mut self) -> Manager {
        let (tx, _) = broadcast::channel(4096);
        let (shutdown, _) = watch::channel(false);
        let webhooks: Vec<Arc<Webhook>> = self
            .webhooks
            .drain(..)
            .map(|c| Webhook::start(c, shutdown.subscribe()))
            .collect();
        let inner = Arc::new(Inner {
            slots: Mutex::new(BTreeMap::new()),
            listeners: Mutex::new(std::mem::take(&mut self.listeners)),
            tx,
            webhooks,
            shutdown,
            tasks: Mutex::new(Vec::new()),
        });
        for c in self.backends.drain(..) {
            let poke = c
                .backend
                .changes()
                .unwrap_or_else(|| Arc::new(Notify::new()));
            let slot = Slot {
                backend: c.backend.clone(),
                poke: poke.clone(),
                timeout: c.timeout,
            };
            inner.lock_slots().insert(c.name.clone(), slot);
            let task = tokio::spawn(poll_loop(inner.clone(), c, poke));
            inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(task);
        }
        Manager { inner }
    }
}

/// Watches named backends; see the crate doc.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("backends", &self.backend_names())
            .finish_non_exhaustive()
    }
}

struct Inner {
    slots: Mutex<BTreeMap<String, Slot>>,
    listeners: Mutex<Vec<Arc<dyn Listener>>>,
    tx: broadcast::Sender<Event>,
    webhooks: Vec<Arc<Webhook>>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Clone)]
struct Slot {
    backend: Arc<dyn Backend>,
    poke: Arc<Notify>,
    timeout: Duration,
}

impl Inner {
    fn lock_slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, events: &[Event]) {
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for e in events {
            for l in &listeners {
                l.on_event(e);
            }
            let _ = self.tx.send(e.clone());
        }
    }
}

impl Manager {
    /// A builder.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// The backends' names.
    pub fn backend_names(&self) -> Vec<String> {
        self.inner.lock_slots().keys().cloned().collect()
    }

    /// Adds a listener (it sees events from now on).
    pub fn add_listener(&self, listener: Arc<dyn Listener>) {
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(listener);
    }

    /// A stream of every event from now on (a subscriber that falls 4,096 events behind
    /// sees `Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.tx.subscribe()
    }

    /// Every torrent of every backend, as `(backend, record)`.
    pub async fn get_all(&self) -> Result<Vec<(String, TorrentRecord)>, ManagerError> {
        let slots: Vec<(String, Slot)> = self.inner.lock_slots().clone().into_iter().collect();
        let mut out = Vec::new();
        for (name, s) in slots {
            let recs = bounded(&name, s.timeout, s.backend.get_all()).await?;
            out.extend(recs.into_iter().map(|r| (name.clone(), r)));
        }
        Ok(out)
    }

    /// One torrent by info-hash, with its backend's name.
    pub async fn get_one(&self, hash: &str) -> Result<(String, TorrentRecord), ManagerError> {
        let (name, s) = self.find(hash).await?;
        let r = bounded(&name, s.timeout, s.backend.get(hash)).await?;
        Ok((name, r))
    }

    /// Pauses a torrent; returns its record afterwards.
    pub async fn pause(&self, hash: &str) -> Result<TorrentRecord, ManagerError> {
        let (name, s) = self.find(hash).await?;
        bounded(&name, s.timeout, s.backend.pause(hash)).await?;
        s.poke.notify_one();
        bounded(&name, s.timeout, s.backend.get(hash)).await
    }

    /// Resumes a torrent; returns its record afterwards.
    pub async fn resume(&self, hash: &str) -> Result<TorrentRecord, ManagerError> {
        let (name, s) = self.find(hash).await?;
        bounded(&name, s.timeout, s.backend.resume(hash)).await?;
        s.poke.notify_one();
        bounded(&name, s.timeout, s.backend.get(hash)).await
    }

    /// Removes a torrent (and its data if `with_data`); returns its last record.
    pub async fn delete(&self, hash: &str, with_data: bool) -> Result<TorrentRecord, ManagerError> {
        let (name, s) = self.find(hash).await?;
        let r = bounded(&name, s.timeout, s.backend.get(hash)).await?;
        bounded(&name, s.timeout, s.backend.remove(hash, with_data)).await?;
        s.poke.notify_one();
        Ok(r)
    }

    /// Adds .torrent bytes to `backend`; returns the new torrent's record.
    pub async fn add_torrent(
        &self,
        backend: &str,
        torrent: &[u8],
    ) -> Result<TorrentRecord, ManagerError> {
        let s = self.slot(backend)?;
        let hash = bounded(backend, s.timeout, s.backend.add_torrent(torrent)).await?;
        s.poke.notify_one();
        bounded(backend, s.timeout, s.backend.get(&hash)).await
    }

    /// Adds a .torrent file to `backend` (dTorrent's `createFromTorrent`).
    pub async fn add_torrent_file(
        &self,
        backend: &str,
        file: impl Into<PathBuf>,
    ) -> Result<TorrentRecord, ManagerError> {
        let path = file.into();
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|source| ManagerError::Read { path, source })?;
        self.add_torrent(backend, &bytes).await
    }

    /// Adds .torrent bytes plus existing data under `data` to `backend`: verified, then seeded
    /// (dTorrent's `createFromTorrentAndData`). Verification is not bounded by the call timeout.
    pub async fn add_torrent_with_data(
        &self,
        backend: &str,
        torrent: &[u8],
        data: impl Into<PathBuf>,
    ) -> Result<TorrentRecord, ManagerError> {
        let s = self.slot(backend)?;
        let hash = s
            .backend
            .add_torrent_with_data(torrent, data.into())
            .await
            .map_err(|source| ManagerError::Backend {
                name: backend.to_owned(),
                source,
            })?;
        s.poke.notify_one();
        bounded(backend, s.timeout, s.backend.get(&hash)).await
    }

    /// Events written to webhook outboxes and not yet delivered (or given up), over all webhooks.
    pub fn webhook_backlog(&self) -> usize {
        self.inner.webhooks.iter().map(|w| w.pending()).sum()
    }

    /// Asks every backend's task to poll now.
    pub fn poll_now(&self) {
        for s in self.inner.lock_slots().values() {
            s.poke.notify_one();
        }
    }

    /// Stops polling and webhook delivery (undelivered webhooks stay in their outbox) and waits
    /// for the polling tasks to end.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        let tasks: Vec<_> = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for t in tasks {
            let _ = t.await;
        }
        for w in &self.inner.webhooks {
            w.stopped().await;
        }
    }

    fn slot(&self, name: &str) -> Result<Slot, ManagerError> {
        self.inner
            .lock_slots()
            .get(name)
            .cloned()
            .ok_or_else(|| ManagerError::NoBackend {
                name: name.to_owned(),
            })
    }

    async fn find(&self, hash: &str) -> Result<(String, Slot), ManagerError> {
        let hash_l = hash.to_ascii_lowercase();
        let slots: Vec<(String, Slot)> = self.inner.lock_slots().clone().into_iter().collect();
        for (name, s) in slots {
            if let Ok(Ok(list)) = tokio::time::timeout(s.timeout, s.backend.list()).await {
                if list.iter().any(|h| h.eq_ignore_ascii_case(&hash_l)) {
                    return Ok((name, s));
                }
            }
        }
        Err(ManagerError::NotFound {
            hash: hash.to_owned(),
        })
    }
}

async fn bounded<T>(
    name: &str,
    timeout: Duration,
    f: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, ManagerError> {
    let r = match tokio::time::timeout(timeout, f).await {
        Ok(r) => r,
        Err(_) => Err(BackendError::Timeout {
            millis: timeout.as_millis() as u64,
        }),
    };
    r.map_err(|source| ManagerError::Backend {
        name: name.to_owned(),
        source,
    })
}

async fn poll_loop(inner: Arc<Inner>, c: BackendConfig, poke: Arc<Notify>) {
    let file = SnapshotFile::new(&c.root);
    let mut errors = 0u64;
    let mut shutdown = inner.shutdown.subscribe();
    let mut snap = match file.load() {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => {
            errors += 1;
            publish(&inner, vec![Event::error(&c.name, e.to_string(), errors)]).await;
            BTreeMap::new()
        }
    };
    loop {
        if *shutdown.borrow() {
            return;
        }
        let polled = bounded(&c.name, c.timeout, c.backend.get_all()).await;
        match polled {
            Ok(recs) => {
                let new: BTreeMap<String, TorrentRecord> =
                    recs.into_iter().map(|r| (r.hash.clone(), r)).collect();
                let events = diff_snapshots(&c.name, &snap, &new);
                if !events.is_empty() {
                    // Durable first (webhook outboxes), then the snapshot: a crash in between
                    // re-detects the same changes, with the same event ids.
                    // Group commit: this poll's events are one outbox batch, one fsync.
                    for w in &inner.webhooks {
                        w.enqueue(&events).await;
                    }
                    if let Err(e) = file.store(&new) {
                        errors += 1;
                        publish(&inner, vec![Event::error(&c.name, e.to_string(), errors)]).await;
                    }
                    inner.emit(&events);
                    snap = new;
                }
            }
            Err(e) => {
                errors += 1;
                publish(&inner, vec![Event::error(&c.name, e.to_string(), errors)]).await;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(c.interval) => {}
            _ = poke.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn publish(inner: &Inner, events: Vec<Event>) {
    for w in &inner.webhooks {
        w.enqueue(&events).await;
    }
    inner.emit(&events);
}
