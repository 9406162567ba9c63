//! The engine the server drives: either one the caller owns, or one created on the first add
//! and shut down when no torrents (and no mutable watches) remain.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use swarmfs::Client;

type Factory =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Client, String>> + Send>> + Send + Sync>;

pub(super) struct EngineSlot {
    factory: Option<Factory>,
    current: Mutex<Option<Client>>,
    /// Serialises creating and stopping, so that a stop never races a start.
    gate: tokio::sync::Mutex<()>,
    started: AtomicU64,
}

impl EngineSlot {
    /// An engine the caller owns: always there, never stopped by the server.
    pub(super) fn fixed(client: Client) -> Self {
        Self {
            factory: None,
            current: Mutex::new(Some(client)),
            gate: tokio::sync::Mutex::new(()),
            started: AtomicU64::new(0),
        }
    }

    pub(super) fn lazy<F, Fut, E>(factory: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Client, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        Self {
            factory: Some(Box::new(move || {
                let fut = factory();
                Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
            })),
            current: Mutex::new(None),
            gate: tokio::sync::Mutex::new(()),
            started: AtomicU64::new(0),
        }
    }

    /// The running engine, if any.
    pub(super) fn current(&self) -> Option<Client> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many engines the factory built.
    pub(super) fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// The running engine, created first if it is lazy and not running.
    pub(super) async fn get(&self) -> Result<Client, String> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _gate = self.gate.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let Some(factory) = &self.factory else {
            return Err("the engine was stopped".to_owned());
        };
        let client = factory().await?;
        self.started.fetch_add(1, Ordering::Relaxed);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(client.clone());
        Ok(client)
    }

    /// Stops a lazy engine when `idle()` holds (checked once no start is in progress).
    /// Returns whether it stopped one.
    pub(super) async fn stop_if(&self, idle: impl FnOnce() -> bool) -> bool {
        if self.factory.is_none() {
            return false;
        }
        let _gate = self.gate.lock().await;
        if self.current().is_none() || !idle() {
            return false;
        }
        let taken = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match taken {
            Some(c) => {
                c.stop().await;
                true
            }
            None => false,
        }
    }

    /// Stops a lazy engine unconditionally (server shutdown).
    pub(super) async fn stop_owned(&self) {
        self.stop_if(|| true).await;
    }
}
