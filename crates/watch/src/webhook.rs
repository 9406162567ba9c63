//! Webhooks: every event POSTed as JSON, signed with HMAC-SHA256, retried with exponential
//! backoff and jitter, kept in a durable outbox until delivered (at-least-once; a redelivered
//! event carries the same `X-Swarmfs-Event-Id`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use tokio::sync::{Notify, watch};

use crate::event::Event;
use crate::http::{HttpResponse, post};
use crate::state::write_atomic;

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
    /// events, 10 s per request.
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
    done: Notify,
    stopped: watch::Sender<bool>,
}

struct Outbox {
    next_seq: u64,
    pending: HashSet<String>,
}

impl Webhook {
    pub(crate) fn start(config: WebhookConfig, shutdown: watch::Receiver<bool>) -> Arc<Self> {
        let (next_seq, pending) = scan(&config.outbox);
        let w = Arc::new(Self {
            config,
            state: Mutex::new(Outbox { next_seq, pending }),
            wake: Notify::new(),
            done: Notify::new(),
            stopped: watch::Sender::new(false),
        });
        tokio::spawn(worker(w.clone(), shutdown));
        w
    }

    /// Writes `events` to the outbox (durably) and wakes the worker.
    pub(crate) fn enqueue(&self, events: &[Event]) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for e in events {
            if st.pending.contains(&e.id) {
                continue;
            }
            if st.pending.len() >= self.config.queue_capacity {
                self.error(&format!(
                    "outbox full ({} events), event {} dropped",
                    st.pending.len(),
                    e.id
                ));
                continue;
            }
            let body = match serde_json::to_vec(e) {
                Ok(b) => b,
                Err(err) => {
                    self.error(&format!("encoding event {}: {err}", e.id));
                    continue;
                }
            };
            let path = self
                .config
                .outbox
                .join(format!("{:020}-{}.json", st.next_seq, e.id));
            match write_atomic(&path, &body) {
                Ok(()) => {
                    st.next_seq += 1;
                    st.pending.insert(e.id.clone());
                }
                Err(err) => self.error(&err.to_string()),
            }
        }
        drop(st);
        self.wake.notify_one();
    }

    /// Undelivered events in the outbox.
    pub(crate) fn pending(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pending
            .len()
    }

    pub(crate) async fn stopped(&self) {
        let mut rx = self.stopped.subscribe();
        let _ = rx.wait_for(|s| *s).await;
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

    async fn deliver(&self, path: &Path, shutdown: &mut watch::Receiver<bool>) -> bool {
        let Ok(body) = tokio::fs::read(path).await else {
            return true;
        };
        let id = id_of(path);
        let kind = serde_json::from_slice::<Event>(&body)
            .map(|e| e.event.as_str())
            .unwrap_or("unknown");
        let sig = sign(&self.config.secret, &body);
        let headers = [
            ("content-type", "application/json"),
            (SIGNATURE_HEADER, sig.as_str()),
            (EVENT_ID_HEADER, id.as_str()),
            (EVENT_HEADER, kind),
        ];
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let r = tokio::time::timeout(
                self.config.timeout,
                post(&self.config.url, &headers, body.clone()),
            )
            .await;
            match r {
                Ok(Ok(HttpResponse { status, .. })) if (200..300).contains(&status) => {
                    let _ = tokio::fs::remove_file(path).await;
                    self.forget(&id);
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
                self.error(&format!("event {id} given up after {attempt} attempts"));
                let dead = self.config.outbox.join("dead");
                let _ = tokio::fs::create_dir_all(&dead).await;
                if let Some(name) = path.file_name() {
                    let _ = tokio::fs::rename(path, dead.join(name)).await;
                }
                self.forget(&id);
                return true;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.backoff(attempt)) => {}
                _ = shutdown.changed() => return false,
            }
        }
    }

    fn forget(&self, id: &str) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pending
            .remove(id);
        self.done.notify_waiters();
    }
}

fn id_of(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    stem.split_once('-').map_or(stem, |(_, id)| id).to_owned()
}

fn outbox_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn scan(dir: &Path) -> (u64, HashSet<String>) {
    let files = outbox_files(dir);
    let next = files
        .iter()
        .filter_map(|p| {
            p.file_stem()?
                .to_str()?
                .split_once('-')?
                .0
                .parse::<u64>()
                .ok()
        })
        .max()
        .map_or(0, |m| m + 1);
    (next, files.iter().map(|p| id_of(p)).collect())
}

async fn worker(w: Arc<Webhook>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        let dir = w.config.outbox.clone();
        let files = tokio::task::spawn_blocking(move || outbox_files(&dir))
            .await
            .unwrap_or_default();
        if files.is_empty() {
            tokio::select! {
                _ = w.wake.notified() => continue,
                _ = shutdown.changed() => break,
            }
        }
        for f in files {
            if !w.deliver(&f, &mut shutdown).await {
                break;
            }
        }
    }
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

    #[test]
    fn outbox_names_sort_by_sequence_and_carry_the_id() {
        let p = Path::new("/x/00000000000000000012-abcd.json");
        assert_eq!(id_of(p), "abcd");
    }
}
