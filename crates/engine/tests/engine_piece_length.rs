//! Torrents whose piece length is a multiple of 16 KiB but not a power of two (some tools make
//! them, and libtorrent reads them) transfer like any other.

mod support;

use support::*;
use swarmfs_engine::TorrentOptions;
use swarmfs_memory::MemoryStorage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pieces_of_three_blocks_transfer_and_verify() {
    // 48 KiB pieces; the last piece is one block and 5 bytes.
    let payload = data(48 * 1024 * 40 + 16 * 1024 + 5, 7);
    let info = info(&payload, 48 * 1024);
    assert_eq!(info.piece_count(), 41);
    let (seed_engine, _seed) = seeder(&info, &payload).await;
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
    leech_engine.shutdown().await;
    seed_engine.shutdown().await;
}
