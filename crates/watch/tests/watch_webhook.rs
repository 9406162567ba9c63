//! Webhooks against a real loopback HTTP receiver: signed payloads for every event type
//! (including `updated`), retries after failures, delivery after a crash; and hostile backends
//! (hanging, failing) producing `error` events instead of a stuck manager.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use swarmfs_watch::{
    Backend, BackendConfig, BackendError, EVENT_ID_HEADER, Event, EventKind, Manager,
    SIGNATURE_HEADER, TorrentRecord, WebhookConfig, verify,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &[u8] = b"hook secret";

/// A backend whose torrents the test edits directly.
#[derive(Default)]
struct Fake {
    torrents: Mutex<BTreeMap<String, TorrentRecord>>,
    hang: std::sync::atomic::AtomicBool,
    fail: std::sync::atomic::AtomicBool,
}

fn record(hash: &str) -> TorrentRecord {
    TorrentRecord {
        hash: hash.into(),
        name: format!("t-{hash}"),
        active: true,
        downloaded: 0,
        uploaded: 0,
        length: 1000,
        path: String::new(),
        progress: 0.0,
        ratio: 0.0,
        finished: false,
        playing: false,
        files: vec![],
        extra: BTreeMap::new(),
    }
    .computed()
}

impl Fake {
    fn edit(&self, hash: &str, f: impl FnOnce(&mut TorrentRecord)) {
        let mut m = self.torrents.lock().unwrap();
        let r = m.entry(hash.to_owned()).or_insert_with(|| record(hash));
        f(r);
        *r = r.clone().computed();
    }
}

#[async_trait]
impl Backend for Fake {
    async fn list(&self) -> Result<Vec<String>, BackendError> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(BackendError::Protocol {
                reason: "malformed answer".into(),
            });
        }
        Ok(self.torrents.lock().unwrap().keys().cloned().collect())
    }
    async fn get(&self, hash: &str) -> Result<TorrentRecord, BackendError> {
        self.torrents
            .lock()
            .unwrap()
            .get(hash)
            .cloned()
            .ok_or_else(|| BackendError::NotFound { hash: hash.into() })
    }
    async fn pause(&self, hash: &str) -> Result<(), BackendError> {
        self.edit(hash, |r| r.active = false);
        Ok(())
    }
    async fn resume(&self, hash: &str) -> Result<(), BackendError> {
        self.edit(hash, |r| r.active = true);
        Ok(())
    }
    async fn remove(&self, hash: &str, _: bool) -> Result<(), BackendError> {
        self.torrents.lock().unwrap().remove(hash);
        Ok(())
    }
    async fn add_torrent(&self, _: &[u8]) -> Result<String, BackendError> {
        Err(BackendError::Refused {
            reason: "fake".into(),
        })
    }
    async fn add_torrent_with_data(
        &self,
        _: &[u8],
        _: std::path::PathBuf,
    ) -> Result<String, BackendError> {
        Err(BackendError::Refused {
            reason: "fake".into(),
        })
    }
}

#[derive(Debug, Clone)]
struct Delivery {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A loopback HTTP receiver answering 500 to the first `fail_first` requests, then 200.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Delivery>>>,
    requests: Arc<AtomicUsize>,
}

async fn receiver(fail_first: usize) -> Receiver {
    receiver_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), fail_first)
}

fn receiver_on(l: TcpListener, fail_first: usize) -> Receiver {
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let requests = Arc::new(AtomicUsize::new(0));
    let (g, r) = (got.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let (g, r) = (g.clone(), r.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let head_end = loop {
                    let n = s.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let headers: BTreeMap<String, String> = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(": "))
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                    .collect();
                let len: usize = headers["content-length"].parse().unwrap();
                while buf.len() < head_end + len {
                    let n = s.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
                let body = buf[head_end..head_end + len].to_vec();
                let nth = r.fetch_add(1, Ordering::SeqCst);
                let status = if nth < fail_first {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                if nth >= fail_first {
                    g.lock().unwrap().push(Delivery { headers, body });
                }
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: 4\r\nconnection: close\r\nx-test: yes\r\n\r\nnope"
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    Receiver { url, got, requests }
}

fn hook(url: &str, outbox: &Path) -> WebhookConfig {
    let mut c = WebhookConfig::new(url, SECRET, outbox);
    c.base_backoff = Duration::from_millis(20);
    c.max_backoff = Duration::from_millis(200);
    c.timeout = Duration::from_secs(5);
    c
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn events(got: &Mutex<Vec<Delivery>>) -> Vec<Event> {
    got.lock()
        .unwrap()
        .iter()
        .map(|d| serde_json::from_slice(&d.body).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_is_posted_signed_after_retries() {
    let rx = receiver(3).await;
    let root = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::default());
    let failed = Arc::new(Mutex::new(Vec::new()));
    let mut h = hook(&rx.url, &root.path().join("outbox"));
    let f2 = failed.clone();
    h.on_failed = Some(Arc::new(
        move |url: &str, status, body: &[u8], headers: &[(String, String)]| {
            f2.lock()
                .unwrap()
                .push((url.to_owned(), status, body.to_vec(), headers.to_vec()));
        },
    ));
    let m = Manager::builder()
        .backend(BackendConfig::new(
            "fake",
            fake.clone(),
            Duration::from_millis(20),
            root.path().join("fake"),
        ))
        .webhook(h)
        .start();
    fake.edit("aa", |_| {});
    m.poll_now();
    wait_for("added", || {
        m.webhook_backlog() == 0 && rx.got.lock().unwrap().len() == 1
    })
    .await;
    fake.edit("aa", |r| r.downloaded = 1000);
    m.poll_now();
    wait_for("finished", || events(&rx.got).len() == 3).await;
    m.pause("aa").await.unwrap();
    wait_for("paused", || events(&rx.got).len() == 5).await;
    m.resume("aa").await.unwrap();
    wait_for("resumed", || events(&rx.got).len() == 7).await;
    m.delete("aa", false).await.unwrap();
    wait_for("removed", || events(&rx.got).len() == 8).await;
    fake.fail.store(true, Ordering::SeqCst);
    m.poll_now();
    wait_for("error", || events(&rx.got).len() >= 9).await;
    m.shutdown().await;

    let got = rx.got.lock().unwrap().clone();
    let kinds: Vec<EventKind> = events(&rx.got).iter().map(|e| e.event).collect();
    use EventKind::*;
    assert_eq!(
        kinds[..9],
        [
            Added, Updated, Finished, Updated, Paused, Updated, Resumed, Removed, Error
        ]
    );
    for d in &got {
        assert!(
            verify(SECRET, &d.body, &d.headers[SIGNATURE_HEADER]),
            "bad signature"
        );
        assert!(!verify(b"wrong", &d.body, &d.headers[SIGNATURE_HEADER]));
        let e: Event = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(d.headers[EVENT_ID_HEADER], e.id);
        assert_eq!(e.backend, "fake");
    }
    let updated: Event = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(
        updated.diff.unwrap().fields(),
        ["downloaded", "progress", "finished"]
    );
    // The first event went through three 500s (each reported) before it was accepted.
    assert!(rx.requests.load(Ordering::SeqCst) >= got.len() + 3);
    let failed = failed.lock().unwrap();
    assert_eq!(failed.len(), 3);
    assert!(
        failed
            .iter()
            .all(|f| f.0 == rx.url && f.1 == 500 && f.2 == b"nope")
    );
    assert!(failed[0].3.iter().any(|(k, v)| k == "x-test" && v == "yes"));
}

#[test]
fn undelivered_events_survive_a_crash_and_are_delivered_after_restart() {
    let root = tempfile::tempdir().unwrap();
    let outbox = root.path().join("outbox");
    let state = root.path().join("fake");
    let fake = Arc::new(Fake::default());
    for h in ["01", "02", "03"] {
        fake.edit(h, |_| {});
    }
    // Reserve a port, then close it: the first run's receiver is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");

    let first = tokio::runtime::Runtime::new().unwrap();
    let pending_ids = first.block_on(async {
        let m = Manager::builder()
            .backend(BackendConfig::new(
                "fake",
                fake.clone(),
                Duration::from_millis(20),
                &state,
            ))
            .webhook(hook(&url, &outbox))
            .start();
        let mut rx = m.subscribe();
        let mut ids = Vec::new();
        while ids.len() < 3 {
            ids.push(rx.recv().await.unwrap().id);
        }
        wait_for("backlog", || m.webhook_backlog() == 3).await;
        ids
    });
    // "kill -9": every task dropped mid-retry, nothing flushed or shut down cleanly.
    first.shutdown_background();

    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        let rx = receiver_on(TcpListener::bind(("127.0.0.1", port)).await.unwrap(), 0);
        let m = Manager::builder()
            .backend(BackendConfig::new(
                "fake",
                fake.clone(),
                Duration::from_millis(20),
                &state,
            ))
            .webhook(hook(&url, &outbox))
            .start();
        wait_for("redelivery", || rx.got.lock().unwrap().len() >= 3).await;
        // One more change is still delivered after the replayed ones, and nothing is re-added.
        fake.edit("02", |r| r.active = false);
        m.poll_now();
        wait_for("pause", || rx.got.lock().unwrap().len() >= 5).await;
        m.shutdown().await;
        let evs = events(&rx.got);
        // Three torrents: delivered in parallel, so in any order among them.
        let mut ids: Vec<String> = evs[..3].iter().map(|e| e.id.clone()).collect();
        let mut pending_ids = pending_ids;
        ids.sort();
        pending_ids.sort();
        assert_eq!(ids, pending_ids);
        assert!(evs[..3].iter().all(|e| e.event == EventKind::Added));
        assert_eq!(
            evs[3..].iter().map(|e| e.event).collect::<Vec<_>>(),
            [EventKind::Updated, EventKind::Paused]
        );
        for d in rx.got.lock().unwrap().iter() {
            assert!(verify(SECRET, &d.body, &d.headers[SIGNATURE_HEADER]));
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_failing_backend_yields_error_events_not_a_stuck_manager() {
    let root = tempfile::tempdir().unwrap();
    let hanging = Arc::new(Fake::default());
    hanging.hang.store(true, Ordering::SeqCst);
    let good = Arc::new(Fake::default());
    good.edit("bb", |_| {});
    let mut slow = BackendConfig::new(
        "hang",
        hanging.clone(),
        Duration::from_millis(20),
        root.path().join("h"),
    );
    slow.timeout = Duration::from_millis(100);
    let m = Manager::builder()
        .backend(slow)
        .backend(BackendConfig::new(
            "good",
            good.clone(),
            Duration::from_millis(20),
            root.path().join("g"),
        ))
        .start();
    let mut rx = m.subscribe();
    let mut errors = 0;
    let mut added = false;
    while errors < 2 || !added {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        match e.event {
            EventKind::Error => {
                assert_eq!(e.backend, "hang");
                assert!(e.error.unwrap().contains("timed out"));
                errors += 1;
            }
            EventKind::Added => {
                assert_eq!(e.backend, "good");
                added = true;
            }
            k => panic!("unexpected {k:?}"),
        }
    }
    // Operations on the good backend still answer; on an unknown hash they fail fast.
    assert_eq!(m.get_one("bb").await.unwrap().0, "good");
    assert!(m.get_all().await.is_err(), "hanging backend must time out");
    assert!(m.pause("zz").await.is_err());
    m.shutdown().await;
}

/// A receiver that holds each request 0-7 ms, answers 500 to every third one, and tracks how
/// many requests it holds at once.
fn slow_receiver(l: TcpListener) -> (String, Arc<Mutex<Vec<Event>>>, Arc<AtomicUsize>) {
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Event>>> = Arc::default();
    let peak = Arc::new(AtomicUsize::new(0));
    let now = Arc::new(AtomicUsize::new(0));
    let n = Arc::new(AtomicUsize::new(0));
    let (g, p) = (got.clone(), peak.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let (g, p, now, n) = (g.clone(), p.clone(), now.clone(), n.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let (head_end, len) = loop {
                    let k = s.read(&mut tmp).await.unwrap_or(0);
                    if k == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..k]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .unwrap()
                            .trim()
                            .parse()
                            .unwrap();
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let k = s.read(&mut tmp).await.unwrap_or(0);
                    if k == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..k]);
                }
                let cur = now.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(cur, Ordering::SeqCst);
                let nth = n.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis((nth * 7919 % 8) as u64)).await;
                let ok = nth % 3 != 2;
                if ok {
                    let e: Event = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap();
                    g.lock().unwrap().push(e);
                }
                now.fetch_sub(1, Ordering::SeqCst);
                let status = if ok { "200 OK" } else { "500 Oops" };
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    (url, got, peak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_delivery_keeps_each_torrents_events_in_order() {
    let (url, got, peak) = slow_receiver(TcpListener::bind("127.0.0.1:0").await.unwrap());
    let root = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::default());
    let hashes = ["a1", "b2", "c3", "d4", "e5", "f6"];
    let mut h = hook(&url, &root.path().join("outbox"));
    h.base_backoff = Duration::from_millis(1);
    h.max_backoff = Duration::from_millis(5);
    h.concurrency = 4;
    let m = Manager::builder()
        .backend(BackendConfig::new(
            "fake",
            fake.clone(),
            Duration::from_secs(3600),
            root.path().join("fake"),
        ))
        .webhook(h)
        .start();
    let mut rx = m.subscribe();
    // Ten polls, each changing every torrent: ten batches of six events (plus `added`).
    let mut accepted = 0;
    for step in 0..=10u64 {
        for h in hashes {
            fake.edit(h, |r| r.downloaded = step * 10);
        }
        m.poll_now();
        while accepted < (step as usize + 1) * hashes.len() {
            let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap();
            assert!(
                matches!(e.event, EventKind::Added | EventKind::Updated),
                "{e:?}"
            );
            accepted += 1;
        }
    }
    wait_for("all delivered", || m.webhook_backlog() == 0).await;
    m.shutdown().await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 11 * hashes.len(), "each event delivered once");
    for h in hashes {
        let steps: Vec<u64> = got
            .iter()
            .filter_map(|e| e.torrent.as_ref().filter(|t| t.hash == h))
            .map(|t| t.downloaded)
            .collect();
        assert_eq!(steps, (0..=10).map(|s| s * 10).collect::<Vec<_>>(), "{h}");
    }
    let p = peak.load(Ordering::SeqCst);
    assert!((2..=4).contains(&p), "peak in flight {p}, limit 4");
}
