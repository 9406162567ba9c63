//! Connection limits per torrent and per session.

mod support;

use std::time::Duration;

use support::*;
use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_memory::MemoryStorage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_torrent_limit_caps_outgoing_and_incoming_connections() {
    let payload = data(256 * 1024, 90);
    let info = info(&payload, 32 * 1024);
    let (s1, _t1) = seeder(&info, &payload).await;
    let (s2, _t2) = seeder(&info, &payload).await;
    let (s3, t3) = seeder(&info, &payload).await;
    let e = Engine::builder()
        .max_connections_per_torrent(1)
        .build()
        .await
        .expect("engine");
    let t = e
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new()
                .peer(s1.listen_addr())
                .peer(s2.listen_addr()),
        )
        .expect("add");
    timeout(t.wait_done()).await.expect("done from one peer");
    // A third peer dialling in is refused as well.
    t3.add_peer(e.listen_addr()).expect("dial");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(t.stats().await.expect("stats").peers, 1);
    assert_eq!(e.connections(), 1);
    assert_eq!(t3.stats().await.expect("stats").peers, 0);
    for x in [&e, &s1, &s2, &s3] {
        x.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limit_is_shared_by_torrents() {
    let a = data(128 * 1024, 91);
    let b = data(128 * 1024, 92);
    let (ia, ib) = (info(&a, 32 * 1024), info(&b, 32 * 1024));
    let (sa, _ta) = seeder(&ia, &a).await;
    let (sb, _tb) = seeder(&ib, &b).await;
    let e = Engine::builder()
        .max_connections(1)
        .build()
        .await
        .expect("engine");
    let first = e
        .add_info(
            ia.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(sa.listen_addr()),
        )
        .expect("add");
    timeout(first.wait_done()).await.expect("first done");
    let second = e
        .add_info(
            ib.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(sb.listen_addr()),
        )
        .expect("add");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(e.connections(), 1);
    assert_eq!(second.stats().await.expect("stats").peers, 0);
    // Freeing the slot lets the second torrent connect.
    first.remove(false).await.expect("remove");
    timeout(second.wait_done()).await.expect("second done");
    for x in [&e, &sa, &sb] {
        x.shutdown().await;
    }
}
