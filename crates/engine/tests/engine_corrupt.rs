//! A seeder that sends corrupt blocks is banned; the leecher finishes from a good peer.

mod support;

use support::*;
use swarmfs_engine::{TorrentEvent, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_storage::{StorageFactory, StoragePath};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leecher_bans_corrupt_seeder_and_finishes_from_good_one() {
    let payload = data(2 << 20, 20);
    let info = info(&payload, 64 * 1024);
    let (good_engine, _good) = {
        let e = engine().await;
        let storage = filled_storage(&info, &payload).await;
        let t = e
            .add_info(
                info.clone(),
                storage,
                // The good seeder is slow, so the bad one gets asked for plenty.
                TorrentOptions::new()
                    .recheck(true)
                    .upload_rate_limit(Some(2 << 20)),
            )
            .expect("add");
        timeout(t.wait_done()).await.expect("verified");
        (e, t)
    };
    // The bad seeder verifies good data, then the data rots behind its back.
    let bad_engine = engine().await;
    let bad_storage = filled_storage(&info, &payload).await;
    let bad = bad_engine
        .add_info(
            info.clone(),
            bad_storage.clone(),
            TorrentOptions::new().recheck(true),
        )
        .expect("add");
    timeout(bad.wait_done()).await.expect("verified");
    let file = bad_storage
        .open(&StoragePath::new(["file.bin"]).expect("path"))
        .await
        .expect("open");
    let rot: Vec<u8> = payload.iter().map(|b| b ^ 0x5a).collect();
    file.write_at(0, &rot).await.expect("rot");

    let leech_engine = engine().await;
    let leech = leech_engine
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new()
                .paused(true)
                .peer(bad_engine.listen_addr())
                .peer(good_engine.listen_addr()),
        )
        .expect("add");
    let mut events = leech.events();
    leech.resume().expect("resume");
    timeout(leech.wait_done()).await.expect("done");
    assert_eq!(read_all(&leech, payload.len()).await, payload);
    let mut banned = Vec::new();
    let mut failed = 0;
    while let Ok(ev) = events.try_recv() {
        match ev {
            TorrentEvent::PeerBanned(a) => banned.push(a),
            TorrentEvent::HashFailed(_) => failed += 1,
            _ => {}
        }
    }
    assert!(failed > 0, "the bad seeder was never asked");
    assert_eq!(banned, vec![bad_engine.listen_addr()]);
    let stats = leech.stats().await.expect("stats");
    assert_eq!(stats.hash_failures, failed);
    for e in [&leech_engine, &bad_engine, &good_engine] {
        e.shutdown().await;
        assert_eq!(e.live_tasks(), 0);
    }
}
