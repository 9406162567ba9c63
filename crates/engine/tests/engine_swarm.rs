//! In-process loopback swarms: one seeder and several leechers.

mod support;

use std::time::Duration;

use support::*;
use swarmfs_engine::{TorrentEvent, TorrentOptions};
use swarmfs_memory::MemoryStorage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leecher_downloads_and_verifies() {
    let payload = data(3 << 20, 1);
    let info = info(&payload, 64 * 1024);
    let (seed_engine, seed) = seeder(&info, &payload).await;
    let leech_engine = engine().await;
    let leech = leech_engine
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(seed_engine.listen_addr()),
        )
        .expect("add leecher");
    timeout(leech.wait_done()).await.expect("done");
    assert_eq!(read_all(&leech, payload.len()).await, payload);
    let stats = leech.stats().await.expect("stats");
    assert_eq!(stats.pieces_verified, info.piece_count());
    assert!(stats.done && stats.progress == 1.0);
    assert!(stats.downloaded >= payload.len() as u64);
    assert!(seed.stats().await.expect("stats").uploaded >= payload.len() as u64);
    leech_engine.shutdown().await;
    seed_engine.shutdown().await;
    assert_eq!(leech_engine.live_tasks(), 0);
    assert_eq!(seed_engine.live_tasks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_leechers_finish_and_exchange_pieces() {
    let payload = data(4 << 20, 2);
    let info = info(&payload, 32 * 1024);
    let (seed_engine, _seed) = seeder(&info, &payload).await;
    let mut engines = Vec::new();
    for _ in 0..5 {
        engines.push(engine().await);
    }
    let addrs: Vec<_> = engines.iter().map(|e| e.listen_addr()).collect();
    let mut handles = Vec::new();
    for (i, e) in engines.iter().enumerate() {
        let mut opts = TorrentOptions::new()
            .peer(seed_engine.listen_addr())
            // A slow seeder makes the leechers depend on each other.
            .download_rate_limit(Some(8 << 20));
        for (j, a) in addrs.iter().enumerate() {
            if i != j {
                opts = opts.peer(*a);
            }
        }
        handles.push(
            e.add_info(info.clone(), MemoryStorage::factory(), opts)
                .expect("add leecher"),
        );
    }
    for h in &handles {
        timeout(h.wait_done()).await.expect("done");
    }
    let mut uploaded_by_leechers = 0;
    for h in &handles {
        assert_eq!(read_all(h, payload.len()).await, payload);
        uploaded_by_leechers += h.stats().await.expect("stats").uploaded;
    }
    // Only leechers download, so anything a leecher uploaded went to another leecher.
    assert!(uploaded_by_leechers > 0, "leechers exchanged nothing");
    for e in engines.iter().chain([&seed_engine]) {
        e.shutdown().await;
        assert_eq!(e.live_tasks(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_report_connection_pieces_and_done() {
    let payload = data(1 << 20, 3);
    let info = info(&payload, 64 * 1024);
    let (seed_engine, _seed) = seeder(&info, &payload).await;
    let leech_engine = engine().await;
    let leech = leech_engine
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().paused(true),
        )
        .expect("add");
    let mut events = leech.events();
    leech.add_peer(seed_engine.listen_addr()).expect("add peer");
    leech.resume().expect("resume");
    let (mut connected, mut verified, mut done) = (false, 0, false);
    while !done {
        match timeout(events.recv()).await.expect("event") {
            TorrentEvent::PeerConnected(a) => connected |= a == seed_engine.listen_addr(),
            TorrentEvent::PieceVerified(_) => verified += 1,
            TorrentEvent::Done => done = true,
            _ => {}
        }
    }
    assert!(connected);
    assert_eq!(verified, info.piece_count());
    let s = leech.stats().await.expect("stats");
    assert_eq!(s.time_remaining, Some(Duration::ZERO));
    leech_engine.shutdown().await;
    seed_engine.shutdown().await;
}
