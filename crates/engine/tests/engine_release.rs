//! `TorrentHandle::release_range`: a reader that goes away takes back the urgency its reads
//! gave, so an on-demand torrent does not fetch pieces for nobody, while another reader of the
//! same pieces keeps them wanted.

mod support;

use std::time::Duration;

use support::*;
use swarmfs_engine::{Priority, TorrentHandle, TorrentOptions};
use swarmfs_memory::MemoryStorage;

/// Starts a `wait_range` that cannot finish (no peers) and gives it time to ask.
async fn ask(t: &TorrentHandle, offset: u64, len: u64) -> tokio::task::JoinHandle<()> {
    let t = t.clone();
    let task = tokio::spawn(async move {
        let _ = t.wait_range(offset, len).await;
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    task
}

async fn wanted(t: &TorrentHandle) -> Vec<u32> {
    let w = t.wanted_pieces().await.expect("wanted");
    (0..w.len()).filter(|&i| w.get(i)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_ranges_are_skipped_again_unless_another_read_holds_them() {
    const PIECE: u64 = 16 * 1024;
    let payload = data(16 * PIECE as usize, 3);
    let info = info(&payload, PIECE as u32);
    let engine = engine().await;
    let t = engine
        .add_info(
            info,
            MemoryStorage::factory(),
            TorrentOptions::new().default_file_priority(Priority::SKIP),
        )
        .expect("add");
    assert!(wanted(&t).await.is_empty(), "on demand: nothing wanted");

    let a = ask(&t, 2 * PIECE, 4 * PIECE).await; // pieces 2..=5
    let b = ask(&t, 5 * PIECE, 2 * PIECE).await; // pieces 5..=6
    assert_eq!(wanted(&t).await, vec![2, 3, 4, 5, 6]);

    a.abort();
    t.release_range(2 * PIECE, 4 * PIECE);
    assert_eq!(wanted(&t).await, vec![5, 6], "piece 5 is still read by b");
    b.abort();
    t.release_range(5 * PIECE, 2 * PIECE);
    assert!(wanted(&t).await.is_empty());
    engine.shutdown().await;
}
