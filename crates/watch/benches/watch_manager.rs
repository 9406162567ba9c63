//! Events per second through the manager, and webhook delivery latency, for 1,000 torrents on
//! one in-memory backend, with sequential and parallel webhook delivery. Prints figures; run
//! with `cargo bench -p swarmfs-watch --bench watch_manager`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use swarmfs_watch::{
    Backend, BackendConfig, BackendError, EventKind, Manager, TorrentRecord, WebhookConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const N: usize = 1000;

#[derive(Default)]
struct Mem(Mutex<BTreeMap<String, TorrentRecord>>);

#[async_trait]
impl Backend for Mem {
    async fn list(&self) -> Result<Vec<String>, BackendError> {
        Ok(self.0.lock().unwrap().keys().cloned().collect())
    }
    async fn get(&self, hash: &str) -> Result<TorrentRecord, BackendError> {
        self.0
            .lock()
            .unwrap()
            .get(hash)
            .cloned()
            .ok_or(BackendError::NotFound { hash: hash.into() })
    }
    async fn get_all(&self) -> Result<Vec<TorrentRecord>, BackendError> {
        Ok(self.0.lock().unwrap().values().cloned().collect())
    }
    async fn pause(&self, _: &str) -> Result<(), BackendError> {
        Ok(())
    }
    async fn resume(&self, _: &str) -> Result<(), BackendError> {
        Ok(())
    }
    async fn remove(&self, _: &str, _: bool) -> Result<(), BackendError> {
        Ok(())
    }
    async fn add_torrent(&self, _: &[u8]) -> Result<String, BackendError> {
        Err(BackendError::Refused {
            reason: "bench".into(),
        })
    }
    async fn add_torrent_with_data(
        &self,
        _: &[u8],
        _: std::path::PathBuf,
    ) -> Result<String, BackendError> {
        Err(BackendError::Refused {
            reason: "bench".into(),
        })
    }
}

fn record(i: usize, downloaded: u64) -> TorrentRecord {
    TorrentRecord {
        hash: format!("{i:040x}"),
        name: format!("torrent {i}"),
        active: true,
        downloaded,
        uploaded: 0,
        length: 1 << 30,
        path: String::new(),
        progress: 0.0,
        ratio: 0.0,
        finished: false,
        playing: true,
        files: vec![],
        extra: BTreeMap::new(),
    }
    .computed()
}

/// A loopback receiver answering 200 after `delay` (a real endpoint's processing time).
async fn receiver(seen: Arc<Mutex<HashMap<String, Instant>>>, delay: Duration) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 8192];
                loop {
                    let n = s.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    let Some(h) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .unwrap()
                        .trim()
                        .parse()
                        .unwrap();
                    if buf.len() < h + 4 + len {
                        continue;
                    }
                    let id = head
                        .lines()
                        .find_map(|l| l.strip_prefix("x-swarmfs-event-id: "))
                        .unwrap()
                        .trim()
                        .to_owned();
                    seen.lock().unwrap().insert(id, Instant::now());
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    return;
                }
            });
        }
    });
    url
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Interleaved: sequential delivery (the old behaviour) and the default of 8 in flight,
    // against a receiver answering at once and one taking 5 ms per request.
    for _ in 0..3 {
        fsync_cost();
    }
    for _ in 0..2 {
        for (concurrency, delay_ms, rounds) in [(1, 0, 5), (8, 0, 5), (1, 5, 1), (8, 5, 1)] {
            run(concurrency, Duration::from_millis(delay_ms), rounds).await;
        }
    }
}

/// The outbox's durable write for 1,000 events, both ways, side by side: one atomic file per
/// event (the old outbox) against one batch file (group commit).
fn fsync_cost() {
    let dir = tempfile::tempdir().unwrap();
    let body = serde_json::to_vec(&record(1, 0)).unwrap();
    let t0 = Instant::now();
    for i in 0..N {
        swarmfs_watch::write_atomic(&dir.path().join(format!("{i:020}.json")), &body).unwrap();
    }
    let single = t0.elapsed();
    let mut batch = Vec::new();
    for _ in 0..N {
        batch.extend_from_slice(&body);
        batch.push(b'\n');
    }
    let t0 = Instant::now();
    swarmfs_watch::write_atomic(&dir.path().join("batch.jsonl"), &batch).unwrap();
    let grouped = t0.elapsed();
    println!(
        "outbox write of {N} events: one fsync'd file each {:.0} ms = {:.0} events/s; one batch {:.2} ms = {:.0} events/s",
        single.as_secs_f64() * 1e3,
        N as f64 / single.as_secs_f64(),
        grouped.as_secs_f64() * 1e3,
        N as f64 / grouped.as_secs_f64()
    );
}

async fn run(concurrency: usize, delay: Duration, rounds: u64) {
    println!("--- webhook concurrency {concurrency}, receiver answers after {delay:?}");
    let root = tempfile::tempdir().unwrap();
    let mem = Arc::new(Mem::default());
    let delivered = Arc::new(Mutex::new(HashMap::new()));
    let url = receiver(delivered.clone(), delay).await;
    let mut hook = WebhookConfig::new(url, b"k".to_vec(), root.path().join("outbox"));
    hook.concurrency = concurrency;
    let m = Manager::builder()
        .backend(BackendConfig::new(
            "mem",
            mem.clone(),
            Duration::from_secs(3600),
            root.path().join("mem"),
        ))
        .webhook(hook)
        .start();
    let mut rx = m.subscribe();
    let mut emitted = HashMap::new();
    let t_all = Instant::now();
    for round in 0..rounds {
        {
            let mut t = mem.0.lock().unwrap();
            for i in 0..N {
                t.insert(format!("{i:040x}"), record(i, round * 1000));
            }
        }
        let t0 = Instant::now();
        m.poll_now();
        let mut got = 0;
        while got < N {
            let e = rx.recv().await.unwrap();
            assert!(matches!(e.event, EventKind::Added | EventKind::Updated));
            emitted.insert(e.id, Instant::now());
            got += 1;
        }
        let dt = t0.elapsed();
        println!(
            "round {round}: {N} {} events accepted in {:.1} ms = {:.0} events/s (poll + diff + one outbox batch fsync + snapshot)",
            if round == 0 { "added" } else { "updated" },
            dt.as_secs_f64() * 1e3,
            N as f64 / dt.as_secs_f64()
        );
        // Let delivery of this round finish before the next, so latency is per round.
        while m.webhook_backlog() > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        println!(
            "round {round}: delivered in {:.1} ms after the poll = {:.0} webhooks/s",
            t0.elapsed().as_secs_f64() * 1e3,
            N as f64 / t0.elapsed().as_secs_f64()
        );
    }
    let total = t_all.elapsed();
    let d = delivered.lock().unwrap().clone();
    let mut lat: Vec<f64> = emitted
        .iter()
        .filter_map(|(id, t)| {
            d.get(id)
                .map(|r| r.saturating_duration_since(*t).as_secs_f64() * 1e3)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    println!(
        "concurrency {concurrency}, receiver delay {delay:?}: {} events end to end in {:.2} s; webhook latency (emit -> receiver): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        total.as_secs_f64(),
        q(0.5),
        q(0.99),
        q(1.0)
    );
    m.shutdown().await;
}
