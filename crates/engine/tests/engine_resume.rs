//! Durable completion: with `TorrentOptions::resume` verified pieces are committed with their
//! data, and an engine restarted on the same storage neither fetches nor hashes them again.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_file::FileStorage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_download_resumes_complete_without_peers() {
    let payload = data(2 << 20, 130);
    let info = info(&payload, 64 * 1024);
    let (seed_engine, _seed) = seeder(&info, &payload).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let e = engine().await;
    let t = e
        .add_info(
            info.clone(),
            Arc::new(FileStorage::in_dir(dir.path())),
            TorrentOptions::new()
                .resume(true)
                .peer(seed_engine.listen_addr()),
        )
        .expect("add");
    timeout(t.wait_done()).await.expect("done");
    // Verified means durable: no shutdown needed for the marks to be on disk.
    drop(t);
    e.shutdown().await;
    seed_engine.shutdown().await;

    // No recheck and no peer: only the persisted marks can make it complete.
    let again = engine().await;
    let t = again
        .add_info(
            info.clone(),
            Arc::new(FileStorage::in_dir(dir.path())),
            TorrentOptions::new().resume(true),
        )
        .expect("add again");
    timeout(t.wait_done()).await.expect("done from resume");
    let s = t.stats().await.expect("stats");
    assert_eq!(s.pieces_verified, info.piece_count(), "{s:?}");
    assert_eq!(s.downloaded, 0, "{s:?}");
    assert_eq!(read_all(&t, payload.len()).await, payload);
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_download_resumes_without_fetching_verified_pieces() {
    let payload = data(4 << 20, 140);
    let info = info(&payload, 64 * 1024);
    let n = info.piece_count();
    let (seed_engine, seed) = seeder(&info, &payload).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Engine::builder()
        .download_rate_limit(Some(1 << 20))
        .build()
        .await
        .expect("engine");
    let t = e
        .add_info(
            info.clone(),
            Arc::new(FileStorage::in_dir(dir.path())),
            TorrentOptions::new()
                .resume(true)
                .peer(seed_engine.listen_addr()),
        )
        .expect("add");
    t.wait_metadata().await.expect("metadata");
    let start = Instant::now();
    while t.verified().expect("bits").count_ones() < n / 4 {
        assert!(start.elapsed() < Duration::from_secs(30), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = t.verified().expect("bits");
    e.shutdown().await;
    assert!(
        before.count_ones() < n,
        "finished too early to test a partial resume"
    );
    let uploaded_before = seed.stats().await.expect("stats").uploaded;

    let again = engine().await;
    let t = again
        .add_info(
            info.clone(),
            Arc::new(FileStorage::in_dir(dir.path())),
            TorrentOptions::new()
                .resume(true)
                .peer(seed_engine.listen_addr()),
        )
        .expect("add again");
    t.wait_metadata().await.expect("metadata");
    let resumed = t.verified().expect("bits");
    // Every piece announced verified before the shutdown is still verified (the shutdown may
    // have committed a few more that were written but not yet committed).
    assert!(
        before.ones().all(|p| resumed.get(p)),
        "lost verified pieces"
    );
    timeout(t.wait_done()).await.expect("done");
    assert_eq!(read_all(&t, payload.len()).await, payload);
    let s = t.stats().await.expect("stats");
    let missing = u64::from(n - resumed.count_ones()) * 64 * 1024;
    assert_eq!(
        s.downloaded, missing,
        "only the missing pieces are fetched: {s:?}"
    );
    let sent = seed.stats().await.expect("stats").uploaded - uploaded_before;
    assert!(
        sent <= missing + 8 * 64 * 1024,
        "seeder sent {sent} for {missing} missing"
    );
    again.shutdown().await;
    seed_engine.shutdown().await;
}
