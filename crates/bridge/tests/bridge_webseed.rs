//! Web seeds (BEP 19) from the in-process loopback origin: a torrent's `url-list` alone fills
//! a store, which the engine then seeds.

use std::time::Duration;

use swarmfs_bridge::{BridgeError, download_from_web_seeds, web_seed_file_urls};
use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_http_storage::HttpOptions;
use swarmfs_http_storage::testing::TestServer;
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{SafePath, TorrentBuilder};
use swarmfs_storage::conformance::pattern;

fn http() -> HttpOptions {
    HttpOptions::default().backoff(Duration::from_millis(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_file_downloads_from_a_web_seed_then_seeds() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(21, 3 * 1024 * 1024 + 5);
    server.put("/pub/film.bin", data.clone());
    let torrent = TorrentBuilder::new()
        .piece_length(65536)
        .build_single("film.bin", &data)
        .unwrap();
    let info = torrent.info().clone();
    let storage = MemoryStorage::factory();
    // First seed is down (404), the second serves it.
    let seeds = [server.url("/missing/"), server.url("/pub/")];
    let report = download_from_web_seeds(&info, &seeds, storage.clone(), &http())
        .await
        .unwrap();
    assert_eq!(report.pieces_fetched, info.piece_count());
    assert_eq!(report.bytes, data.len() as u64);

    let engine = Engine::builder()
        .listen_addr("127.0.0.1:0".parse().unwrap())
        .build()
        .await
        .unwrap();
    let h = engine
        .add_info(info.clone(), storage, TorrentOptions::new().resume(true))
        .unwrap();
    h.wait_metadata().await.unwrap();
    let stats = h.stats().await.unwrap();
    assert_eq!(
        stats.pieces_verified, stats.pieces_total,
        "seeds what the web seed gave"
    );
    let mut buf = vec![0u8; data.len()];
    h.read_range(0, &mut buf).await.unwrap();
    assert_eq!(buf, data);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_file_web_seed_uses_bep19_paths_and_rejects_bad_pieces() {
    let server = TestServer::start().await.unwrap();
    let a = pattern(22, 100_000);
    let b = pattern(23, 250_000);
    let entries = [
        (SafePath::parse("a.txt").unwrap(), a.clone()),
        (SafePath::parse("sub dir/b.bin").unwrap(), b.clone()),
    ];
    let torrent = TorrentBuilder::new()
        .piece_length(32768)
        .build_entries("my set", &entries)
        .unwrap();
    let info = torrent.info().clone();
    let urls = web_seed_file_urls(&info, &server.url("/seed"));
    assert_eq!(
        urls,
        [
            server.url("/seed/my%20set/a.txt"),
            server.url("/seed/my%20set/sub%20dir/b.bin")
        ]
    );
    server.put("/seed/my%20set/a.txt", a.clone());
    let mut bad = b.clone();
    bad[200_000] ^= 1;
    server.put("/seed/my%20set/sub%20dir/b.bin", bad);
    let storage = MemoryStorage::factory();
    let err = download_from_web_seeds(&info, &[server.url("/seed")], storage.clone(), &http())
        .await
        .unwrap_err();
    match err {
        BridgeError::WebSeedIncomplete { missing, .. } => assert_eq!(missing, 1),
        other => panic!("{other}"),
    }
    // The origin is fixed: only the missing piece is fetched.
    server.put("/seed/my%20set/sub%20dir/b.bin", b.clone());
    let report = download_from_web_seeds(&info, &[server.url("/seed/")], storage, &http())
        .await
        .unwrap();
    assert_eq!(report.pieces_fetched, 1);
    assert_eq!(report.pieces_present, info.piece_count() - 1);
}
