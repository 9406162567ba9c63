//! Webhooks: every event POSTed as JSON, signed with HMAC-SHA256, retried with exponential
//! backoff and jitter, kept in a durable outbox until delivered (at-least-once; a redelivered
//! event carries the same `X-Swarmfs-Event-Id`). Several requests run at once, but the events
//! of one torrent are delivered one after the other, in order.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::event::Event;
use crate::http::{HttpResponse, post};
use crate::outbox::{Outbox, Queued, write_batch};

/// Header carrying `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "x-swarmfs-signature";
/// Header carrying the event id (the idempotency key).
pub const EVENT_ID_HEADER: &str = "x-swarmfs-event-id";
/// Header carrying the event kind.
pub const EVENT_HEADER: &str = "x-swarmfs-event";

/// Called when the receiver answered with a non-2xx status: `(url, status, body, headers)`.
pub type FailedCallback = Arc<dyn Fn(&str, u16, &[u8], &[(String, String)]) + Send + Sync>;
/// Called when the request failed without an answer: `(url, error)`.
pub type ErrorCallback = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// One webhook.
#[derive(Clone)]
pub struct WebhookConfig {
    /// `http://host:port/path` (plain HTTP/1.1).
    pub url: String,
    /// HMAC key for the signature header.
    pub secret: Vec<u8>,
    /// Durable outbox directory (under the watcher's root path).
    pub outbox: PathBuf,
    /// Attempts per event before it is moved to `outbox/dead`.
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt, plus up to 50 % jitter.
    pub base_backoff: Duration,
    /// Cap on the retry delay.
    pub max_backoff: Duration,
    /// Bound on undelivered events; past it new events are refused (error callback).
    pub queue_capacity: usize,
    /// Requests in flight at once. Events of one torrent are still delivered one at a time,
    /// in order: the next is sent after the previous one got a 2xx answer or was given up.
    pub concurrency: usize,
    /// Bound on one request.
    pub timeout: Duration,
    /// Non-2xx callback.
    pub on_failed: Option<FailedCallback>,
    /// Transport error callback.
    pub on_error: Option<ErrorCallback>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// A webhook with defaults: 10 attempts, 200 ms base backoff capped at 60 s, 10,000 queued
    /// events, 8 requests in flight, 10 s per request.
    pub fn new(
        url: impl Into<String>,
        secret: impl Into<Vec<u8>>,
        outbox: impl Into<PathBuf>,
    ) -> Self {
        Self {
            url: url.into(),
            secret: secret.into(),
            outbox: outbox.into(),
            max_attempts: 10,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(60),
            queue_capacity: 10_000,
            concurrency: 8,
            timeout: Duration::from_secs(10),
            on_failed: None,
            on_error: None,
        }
    }
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is the signature of `body` under `secret` (constant-time compare).
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// A running webhook: its outbox and delivery worker.
pub(crate) struct Webhook {
    config: WebhookConfig,
    state: Mutex<Outbox>,
    wake: Notify,
    stopped: watch::Sender<bool>,
}

impl Webhook {
    pub(crate) fn start(config: WebhookConfig, shutdown: watch::Receiver<bool>) -> Arc<Self> {
        let mut warnings = Vec::new();
        let outbox = Outbox::open(&config.outbox, &mut |m| warnings.push(m));
        let w = Arc::new(Self {
            config,
            state: Mutex::new(outbox),
            wake: Notify::new(),
            stopped: watch::Sender::new(false),
        });
        for m in warnings {
            w.error(&m);
        }
        tokio::spawn(worker(w.clone(), shutdown));
        w
    }

    /// Writes `events` to the outbox as one batch with one fsync, then wakes the worker. The
    /// events are accepted (delivered at least once) when this returns, except those reported
    /// to the error callback.
    pub(crate) async fn enqueue(self: &Arc<Self>, events: &[Event]) {
        let mut refused = Vec::new();
        let prepared = self
            .lock()
            .prepare(events, self.config.queue_capacity, &mut |m| refused.push(m));
        for m in refused {
            self.error(&m);
        }
        if prepared.is_empty() {
            return;
        }
        let written = tokio::task::spawn_blocking(move || {
            let r = write_batch(&prepared);
            (prepared, r)
        })
        .await;
        match written {
            Ok((p, Ok(()))) => {
                self.lock().commit(p);
                self.wake.notify_one();
            }
            Ok((p, Err(e))) => {
                self.lock().abort(p);
                self.error(&e.to_string());
            }
            Err(e) => self.error(&format!("outbox writer: {e}")),
        }
    }

    /// Undelivered events in the outbox.
    pub(crate) fn pending(&self) -> usize {
        self.lock().pending()
    }

    pub(crate) async fn stopped(&self) {
        let mut rx = self.stopped.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, msg: &str) {
        tracing::warn!(url = %self.config.url, "webhook: {msg}");
        if let Some(cb) = &self.config.on_error {
            cb(&self.config.url, msg);
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.config.base_backoff.as_secs_f64() * 2f64.powi(attempt.min(30) as i32 - 1);
        let capped = base.min(self.config.max_backoff.as_secs_f64());
        let jitter = rand::thread_rng().gen_range(0.0..=0.5);
        Duration::from_secs_f64(capped * (1.0 + jitter))
    }

    /// Posts one event until a 2xx answer (`true`) or `max_attempts` failures (`false`).
    async fn deliver(&self, q: &Queued) -> bool {
        let sig = sign(&self.config.secret, &q.body);
        let headers = [
            ("content-type", "application/json"),
            (SIGNATURE_HEADER, sig.as_str()),
            (EVENT_ID_HEADER, q.id.as_str()),
            (EVENT_HEADER, q.kind),
        ];
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let r = tokio::time::timeout(
                self.config.timeout,
                post(&self.config.url, &headers, q.body.clone()),
            )
            .await;
            match r {
                Ok(Ok(HttpResponse { status, .. })) if (200..300).contains(&status) => {
                    return true;
                }
                Ok(Ok(resp)) => {
                    if let Some(cb) = &self.config.on_failed {
                        cb(&self.config.url, resp.status, &resp.body, &resp.headers);
                    }
                }
                Ok(Err(e)) => self.error(&e.to_string()),
                Err(_) => self.error(&format!("timed out after {:?}", self.config.timeout)),
            }
            if attempt >= self.config.max_attempts {
                self.error(&format!("event {} given up after {attempt} attempts", q.id));
                return false;
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    /// Records the end of a delivery.
    fn finish(&self, q: &Queued, delivered: bool) {
        let mut warnings = Vec::new();
        {
            let mut st = self.lock();
            if !delivered {
                st.bury(q, &mut |m| warnings.push(m));
            }
            st.done(q, &mut |m| warnings.push(m));
        }
        for m in warnings {
            self.error(&m);
        }
    }
}

/// Delivers the outbox with up to `concurrency` requests in flight, one per key at a time.
async fn worker(w: Arc<Webhook>, mut shutdown: watch::Receiver<bool>) {
    let limit = w.config.concurrency.max(1);
    let mut inflight = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, Queued> = HashMap::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        while inflight.len() < limit {
            let Some(q) = w.lock().take() else {
                break;
            };
            let (w2, q2) = (w.clone(), q.clone());
            let handle = inflight.spawn(async move { w2.deliver(&q2).await });
            running.insert(handle.id(), q);
        }
        tokio::select! {
            Some(r) = inflight.join_next_with_id(), if !inflight.is_empty() => {
                match r {
                    Ok((id, delivered)) => {
                        if let Some(q) = running.remove(&id) {
                            w.finish(&q, delivered);
                        }
                    }
                    Err(e) => {
                        // A callback panicked: the event stays in the outbox for the next run.
                        if let Some(q) = running.remove(&e.id()) {
                            w.error(&format!("delivery of event {} panicked", q.id));
                            w.lock().requeue(q);
                        }
                    }
                }
            }
            _ = w.wake.notified() => {}
            _ = shutdown.changed() => break,
        }
    }
    inflight.abort_all();
    while inflight.join_next().await.is_some() {}
    w.stopped.send_replace(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_and_rejects_tampering() {
        let s = sign(b"key", b"{\"a\":1}");
        assert!(verify(b"key", b"{\"a\":1}", &s));
        assert!(!verify(b"key", b"{\"a\":2}", &s));
        assert!(!verify(b"other", b"{\"a\":1}", &s));
        assert!(!verify(b"key", b"{\"a\":1}", "sha256=zz"));
    }
}
