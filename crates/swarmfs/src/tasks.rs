//! The client's background tasks (discovery, republishing, update polls) and their shutdown.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Tasks that end when the client stops (each also ends by itself when its work is done).
#[derive(Debug)]
pub(crate) struct Tasks {
    handles: Mutex<Vec<JoinHandle<()>>>,
    stop: watch::Sender<bool>,
}

impl Tasks {
    pub(crate) fn new() -> Self {
        Self {
            handles: Mutex::new(Vec::new()),
            stop: watch::Sender::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Spawns `task`, which is dropped at its next await once the client stops.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.is_stopped() {
            return;
        }
        let mut stop = self.stop.subscribe();
        let handle = tokio::spawn(async move {
            tokio::select! {
                () = task => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
        let mut handles = self.lock();
        handles.retain(|h| !h.is_finished());
        handles.push(handle);
    }

    /// Tasks still running.
    pub(crate) fn live(&self) -> usize {
        self.lock().iter().filter(|h| !h.is_finished()).count()
    }

    /// Signals every task to end and waits until all have.
    pub(crate) async fn stop(&self) {
        self.stop.send_replace(true);
        let handles = std::mem::take(&mut *self.lock());
        for h in handles {
            let _ = h.await;
        }
    }
}

/// Resolves once `rx` turns `true` (or its sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
