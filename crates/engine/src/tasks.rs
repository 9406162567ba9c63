//! Every task the engine spawns is counted, so that shutdown can wait until all of them ended.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Spawns tasks and counts the live ones.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tasks {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    live: AtomicUsize,
    idle: Notify,
}

/// Decrements the live count when the task (its future) is dropped, finished or not.
struct Guard(Tasks);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.inner.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.inner.idle.notify_waiters();
        }
    }
}

impl Tasks {
    /// Spawns `fut` on the current runtime as a counted task.
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.live.fetch_add(1, Ordering::AcqRel);
        let guard = Guard(self.clone());
        tokio::spawn(async move {
            let _guard = guard;
            fut.await;
        });
    }

    /// Tasks spawned and not yet ended.
    pub(crate) fn live(&self) -> usize {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Waits until no counted task is alive.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_idle_returns_once_every_task_ended() {
        let tasks = Tasks::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn(async move {
            let _ = rx.await;
        });
        assert_eq!(tasks.live(), 1);
        let waiter = tokio::spawn({
            let tasks = tasks.clone();
            async move { tasks.wait_idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        tx.send(()).expect("task waits");
        waiter.await.expect("waiter");
        assert_eq!(tasks.live(), 0);
    }
}
