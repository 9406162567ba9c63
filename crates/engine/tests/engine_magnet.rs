//! BEP 9: a leecher that starts from a magnet link gets the info dictionary from a peer.

mod support;

use std::time::Duration;

use support::*;
use swarmfs_engine::{TorrentEvent, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, PeerAddr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_only_leecher_gets_metadata_and_data_from_x_pe_peer() {
    let payload = data(16 << 20, 10);
    // 1024 pieces make an info dictionary of two metadata pieces (20 KiB of hashes).
    let info = info(&payload, 16 * 1024);
    assert!(info.as_bytes().len() > 16 * 1024);
    let (seed_engine, _seed) = seeder(&info, &payload).await;
    let mut magnet = Magnet::from_info_hash(info.info_hash());
    magnet.peers.push(PeerAddr::Ip(seed_engine.listen_addr()));
    let magnet = Magnet::parse(&magnet.to_string()).expect("round trip");

    let leech_engine = engine().await;
    let leech = leech_engine
        .add_magnet(&magnet, MemoryStorage::factory(), TorrentOptions::new())
        .expect("add magnet");
    let mut events = leech.events();
    // One deadline for the whole wait: peer events (reconnects) may keep coming without the
    // metadata, which must fail the test, not loop for ever.
    let mut seen = Vec::new();
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        // The metadata may have come before `events()` subscribed (a loopback fetch takes
        // a few ms): then the event was missed, but the torrent has its info.
        if leech.info().is_some() {
            return;
        }
        loop {
            match events.recv().await {
                Ok(TorrentEvent::Metadata) => break,
                Ok(other) => seen.push(format!("{other:?}")),
                Err(e) => panic!("events: {e}"),
            }
        }
    })
    .await;
    assert!(waited.is_ok(), "no metadata in 60 s; events: {seen:?}");
    let got = timeout(leech.wait_metadata()).await.expect("metadata");
    assert_eq!(got.as_bytes(), info.as_bytes());
    assert_eq!(got.info_hash(), info.info_hash());
    timeout(leech.wait_done()).await.expect("done");
    assert_eq!(read_all(&leech, payload.len()).await, payload);
    leech_engine.shutdown().await;
    seed_engine.shutdown().await;
    assert_eq!(leech_engine.live_tasks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leecher_that_got_metadata_serves_it_on() {
    let payload = data(512 * 1024, 11);
    let info = info(&payload, 16 * 1024);
    let (seed_engine, _seed) = seeder(&info, &payload).await;
    let magnet = Magnet::from_info_hash(info.info_hash());
    let first = engine().await;
    let a = first
        .add_magnet(
            &magnet,
            MemoryStorage::factory(),
            TorrentOptions::new().peer(seed_engine.listen_addr()),
        )
        .expect("add");
    timeout(a.wait_metadata()).await.expect("metadata a");
    // The seeder goes away; a second magnet leecher only knows the first leecher.
    seed_engine.shutdown().await;
    let second = engine().await;
    let b = second
        .add_magnet(
            &magnet,
            MemoryStorage::factory(),
            TorrentOptions::new().peer(first.listen_addr()),
        )
        .expect("add");
    let got = timeout(b.wait_metadata()).await.expect("metadata b");
    assert_eq!(got.info_hash(), info.info_hash());
    first.shutdown().await;
    second.shutdown().await;
}
