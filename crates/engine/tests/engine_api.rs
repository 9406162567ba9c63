//! The handle API: awaiting byte ranges, file priorities, pause/resume, removal, rate limits.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use swarmfs_engine::{Priority, TorrentError, TorrentEvent, TorrentOptions};
use swarmfs_file::FileStorage;
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{SafePath, TorrentBuilder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_range_returns_once_those_bytes_are_verified() {
    // 8 MiB at 1 MiB/s: the whole torrent takes ~8 s, so the early range is verified long
    // before the end even on a loaded machine (2 MiB raced the burst allowance under load).
    let payload = data(8 << 20, 40);
    let info = info(&payload, 32 * 1024);
    let (seed_engine, _seed) = seeder(&info, &payload).await;
    let e = engine().await;
    let t = e
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new()
                .peer(seed_engine.listen_addr())
                .download_rate_limit(Some(1 << 20)),
        )
        .expect("add");
    let (offset, len) = (1_500_000u64, 100_000u64);
    timeout(t.wait_range(offset, len)).await.expect("range");
    let mut buf = vec![0u8; len as usize];
    t.read_range(offset, &mut buf).await.expect("read");
    assert_eq!(buf, payload[offset as usize..(offset + len) as usize]);
    // Those pieces came first: far from everything is there yet at 1 MiB/s.
    let s = t.stats().await.expect("stats");
    assert!(!s.done, "{s:?}");
    assert!(matches!(
        t.wait_range(payload.len() as u64, 1).await,
        Err(TorrentError::OutOfRange { .. })
    ));
    e.shutdown().await;
    seed_engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_file_is_not_downloaded() {
    let files: Vec<(SafePath, Vec<u8>)> = (0..3u64)
        .map(|i| {
            (
                SafePath::parse(&format!("f{i}.bin")).expect("path"),
                data(600 * 1024, 50 + i),
            )
        })
        .collect();
    let torrent = TorrentBuilder::new()
        .piece_length(64 * 1024)
        .build_entries("dir", &files)
        .expect("build");
    let info = torrent.into_info();
    let stream: Vec<u8> = files.iter().flat_map(|f| f.1.clone()).collect();
    let (seed_engine, _seed) = seeder(&info, &stream).await;
    let e = engine().await;
    let t = e
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new()
                .paused(true)
                .peer(seed_engine.listen_addr()),
        )
        .expect("add");
    t.wait_metadata().await.expect("metadata");
    t.set_file_priority(1, Priority::SKIP)
        .await
        .expect("priority");
    assert!(matches!(
        t.set_file_priority(3, Priority::SKIP).await,
        Err(TorrentError::NoSuchFile { index: 3, count: 3 })
    ));
    t.resume().expect("resume");
    timeout(t.wait_done()).await.expect("done");
    let g = info.geometry();
    let have = t.verified().expect("bits");
    for (i, f) in info.files().iter().enumerate() {
        let first = g.piece_at(f.offset()).expect("piece").get();
        let last = g
            .piece_at(f.offset() + f.length() - 1)
            .expect("piece")
            .get();
        let got = (first..=last).filter(|&p| have.get(p)).count() as u32;
        if i == 1 {
            // Only the pieces it shares with its neighbours.
            assert!(got <= 2, "skipped file has {got} pieces");
        } else {
            assert_eq!(got, last - first + 1, "file {i}");
            let mut buf = vec![0u8; f.length() as usize];
            t.read_range(f.offset(), &mut buf).await.expect("read");
            assert_eq!(buf, files[i].1);
        }
    }
    e.shutdown().await;
    seed_engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_disconnects_and_remove_ends_the_torrent() {
    let payload = data(512 * 1024, 60);
    let info = info(&payload, 32 * 1024);
    let (seed_engine, seed) = seeder(&info, &payload).await;
    let e = engine().await;
    let storage = MemoryStorage::factory();
    let t = e
        .add_info(
            info.clone(),
            storage.clone(),
            TorrentOptions::new().peer(seed_engine.listen_addr()),
        )
        .expect("add");
    timeout(t.wait_done()).await.expect("done");
    t.pause().expect("pause");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = t.stats().await.expect("stats");
    assert!(s.paused && s.peers == 0, "{s:?}");
    t.resume().expect("resume");
    let start = Instant::now();
    while t.stats().await.expect("stats").peers == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "no reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(storage.allocated_bytes() >= payload.len() as u64);
    t.remove(true).await.expect("remove");
    assert!(e.torrent(&info.info_hash()).is_none());
    assert!(matches!(t.stats().await, Err(TorrentError::Removed)));
    assert_eq!(storage.allocated_bytes(), 0, "data deleted");
    // The seeder sees the connection end.
    let start = Instant::now();
    while seed.stats().await.expect("stats").peers != 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "still connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    e.shutdown().await;
    seed_engine.shutdown().await;
    assert_eq!(e.live_tasks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_rate_limit_holds() {
    let payload = data(3 << 20, 70);
    let info = info(&payload, 64 * 1024);
    let (seed_engine, _seed) = seeder(&info, &payload).await;
    let e = engine().await;
    let limit = 1u64 << 20;
    let start = Instant::now();
    let t = e
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new()
                .peer(seed_engine.listen_addr())
                .download_rate_limit(Some(limit)),
        )
        .expect("add");
    timeout(t.wait_done()).await.expect("done");
    let secs = start.elapsed().as_secs_f64();
    let rate = payload.len() as f64 / secs;
    // 3 MiB at 1 MiB/s with a ~100 KiB burst: about three seconds, not much less.
    assert!(rate < limit as f64 * 1.15, "{rate} B/s over {secs} s");
    e.shutdown().await;
    seed_engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_subscriber_sees_events_sent_before_it_subscribed() {
    let payload = data(256 * 1024, 60);
    let info = info(&payload, 64 * 1024);
    let e = engine().await;
    let storage = filled_storage(&info, &payload).await;
    let t = e
        .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
        .expect("add");
    // The torrent finishes its check before anyone subscribes.
    timeout(t.wait_done()).await.expect("done");
    let mut first = t.clone().events();
    let mut late = t.events();
    let mut seen = Vec::new();
    while let Ok(ev) = first.try_recv() {
        seen.push(ev);
    }
    assert_eq!(seen.first(), Some(&TorrentEvent::Metadata), "{seen:?}");
    assert!(seen.contains(&TorrentEvent::Done), "{seen:?}");
    // Later subscribers see events from their call on only.
    assert!(late.try_recv().is_err());
    t.pause().expect("pause");
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_end_with_the_failure_when_the_storage_cannot_be_checked() {
    let payload = data(200 * 1024, 61);
    let info = info(&payload, 64 * 1024);
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory where the torrent's file belongs: it can be neither checked nor written.
    std::fs::create_dir(dir.path().join("file.bin")).expect("mkdir");
    let e = engine().await;
    let t = e
        .add_info(
            info,
            Arc::new(FileStorage::in_dir(dir.path())),
            TorrentOptions::new().recheck(true),
        )
        .expect("add");
    let mut events = t.events();
    let done = timeout(t.wait_done()).await;
    assert!(matches!(done, Err(TorrentError::Failed { .. })), "{done:?}");
    let range = timeout(t.wait_range(0, 10)).await;
    assert!(
        matches!(range, Err(TorrentError::Failed { .. })),
        "{range:?}"
    );
    // The same reason arrives as an error event.
    let reason = loop {
        match timeout(events.recv()).await.expect("event") {
            TorrentEvent::Error(reason) => break reason,
            _ => continue,
        }
    };
    assert_eq!(
        done.expect_err("failed").to_string(),
        format!("torrent failed: {reason}")
    );
    e.shutdown().await;
}
