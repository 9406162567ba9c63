//! A disk slower than the network bounds what a torrent holds in memory: with its writes
//! stalled, a torrent stops requesting blocks once `max_unwritten_bytes` of complete pieces
//! wait for storage, and goes on when storage catches up.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::faulty::{Faults, Faulty};
use support::*;
use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_storage_stops_requests_at_the_mark_and_catches_up() {
    const PIECE: u32 = 256 * 1024;
    const MARK: u64 = 4 << 20;
    let payload = data(48 << 20, 150);
    let info = info(&payload, PIECE);
    let (seed_engine, _seed) = seeder(&info, &payload).await;
    let (gate, open) = watch::channel(false);
    let storage = Arc::new(Faulty {
        inner: Arc::new(MemoryStorage::new()),
        faults: Faults {
            hold_writes: Some(open),
            ..Faults::default()
        },
    });
    let e = Engine::builder()
        .max_unwritten_bytes(MARK)
        .build()
        .await
        .expect("engine");
    let t = e
        .add_info(
            info.clone(),
            storage.clone(),
            TorrentOptions::new().peer(seed_engine.listen_addr()),
        )
        .expect("add");
    // Until received bytes stop growing: the torrent is at its mark.
    let mut last = u64::MAX;
    let downloaded = timeout(async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let d = t.stats().await.expect("stats").downloaded;
            if d == last && d > 0 {
                return d;
            }
            last = d;
        }
    })
    .await;
    // Past the mark by at most what was already requested when it was reached (the pipeline
    // holds at most 500 blocks of 16 KiB) and the pieces those blocks were part of.
    assert!(downloaded >= MARK, "stopped early: {downloaded} bytes");
    assert!(
        downloaded <= MARK + 500 * 16 * 1024 + 2 * u64::from(PIECE),
        "{downloaded} of {} bytes received with storage stalled",
        payload.len()
    );
    assert_eq!(t.verified().expect("bits").count_ones(), 0);
    gate.send(true).expect("gate");
    timeout(t.wait_done()).await.expect("done");
    assert_eq!(read_all(&t, payload.len()).await, payload);
    e.shutdown().await;
    seed_engine.shutdown().await;
}
