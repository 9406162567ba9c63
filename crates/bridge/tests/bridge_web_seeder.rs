//! The web-seed driver beside engine downloads, against the in-process loopback origin: peers
//! and web servers together, failing and lying web servers, a removed torrent.

use std::sync::Arc;
use std::time::Duration;

use swarmfs_bridge::{
    WebSeedOptions, WebSeeder, add_magnet_with_web_seeds, add_torrent_with_web_seeds,
};
use swarmfs_engine::{Engine, TorrentHandle, TorrentOptions};
use swarmfs_http_storage::HttpOptions;
use swarmfs_http_storage::testing::TestServer;
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Info, Magnet, Torrent, TorrentBuilder};
use swarmfs_storage::conformance::pattern;
use swarmfs_storage::{StorageFactory, StoragePath};

async fn engine(upload_limit: Option<u64>) -> Engine {
    Engine::builder()
        .listen_addr("127.0.0.1:0".parse().unwrap())
        .upload_rate_limit(upload_limit)
        .build()
        .await
        .unwrap()
}

fn options() -> WebSeedOptions {
    WebSeedOptions::default()
        .http(
            HttpOptions::default()
                .backoff(Duration::from_millis(5))
                .retries(1),
        )
        .backoff(Duration::from_millis(50), Duration::from_millis(400))
}

/// A peer holding the first `have` bytes of `data` (its other pieces fail the recheck).
async fn partial_peer(
    info: &Info,
    data: &[u8],
    have: usize,
    limit: u64,
) -> (Engine, TorrentHandle) {
    let storage = MemoryStorage::factory();
    let safe = info.storage_path(0).unwrap();
    let file = storage
        .open(&StoragePath::new(safe.components()).unwrap())
        .await
        .unwrap();
    file.write_at(0, &data[..have]).await.unwrap();
    let e = engine(Some(limit)).await;
    let h = e
        .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
        .unwrap();
    h.wait_metadata().await.unwrap();
    (e, h)
}

async fn wait_done(h: &TorrentHandle, secs: u64) {
    tokio::time::timeout(Duration::from_secs(secs), h.wait_done())
        .await
        .expect("download finishes")
        .unwrap();
}

async fn read_all(h: &TorrentHandle, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    h.read_range(0, &mut buf).await.unwrap();
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_partial_peer_and_a_web_seed_finish_together() {
    let server = TestServer::start().await.unwrap();
    // A slowish web server (30 ms per request) so that the peer gets to supply pieces too.
    server.set_delay(Duration::from_millis(30));
    let data = pattern(41, 6 * 1024 * 1024);
    server.put("/pub/film.bin", data.clone());
    let mut torrent = TorrentBuilder::new()
        .piece_length(65536)
        .build_single("film.bin", &data)
        .unwrap();
    torrent.set_url_list(&[server.url("/pub/")]);
    let info = torrent.info().clone();
    // The peer holds the first half and uploads at 1 MiB/s.
    let half = data.len() / 2;
    let (peer, peer_handle) = partial_peer(&info, &data, half, 1 << 20).await;
    let peer_pieces = peer_handle.stats().await.unwrap().pieces_verified;
    assert_eq!(peer_pieces, info.piece_count() / 2, "the peer is partial");

    let leecher = engine(None).await;
    let (h, seeder) = add_torrent_with_web_seeds(
        &leecher,
        &torrent,
        MemoryStorage::factory(),
        TorrentOptions::new().peer(peer.listen_addr()),
        options(),
    )
    .unwrap();
    wait_done(&h, 60).await;
    assert!(read_all(&h, data.len()).await == data, "bytes differ");
    let stats = seeder.stop().await;
    let from_peers = info.piece_count() - stats.pieces;
    println!(
        "web seed supplied {} pieces, peers {from_peers}: {stats:?}",
        stats.pieces
    );
    // The peer lacks the second half: at least that came from the web seed.
    assert!(
        stats.pieces >= info.piece_count() - peer_pieces,
        "web seed supplied {} pieces",
        stats.pieces
    );
    assert!(from_peers > 0, "the peer supplied nothing");
    assert_eq!(stats.hash_failures, 0);
    // Origin bytes per byte supplied: whole pieces, nothing fetched twice (a piece the peer
    // finished first may have been fetched and dropped; opening reads one byte).
    assert!(
        stats.bytes_fetched <= stats.bytes + u64::from(stats.redundant) * 65536 + 1,
        "{stats:?}"
    );
    leecher.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_and_lying_web_seeds_back_off_and_a_good_one_finishes() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(42, 2 * 1024 * 1024 + 100);
    let mut bad = data.clone();
    for b in bad.iter_mut().step_by(4096) {
        *b ^= 0xff;
    }
    server.put("/good/f.bin", data.clone());
    server.put("/bad/f.bin", bad);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut torrent = TorrentBuilder::new()
        .piece_length(32768)
        .build_single("f.bin", &data)
        .unwrap();
    torrent.set_url_list(&[
        format!("http://{closed}/"),
        server.url("/bad/"),
        server.url("/missing/"),
        server.url("/good/"),
    ]);
    let leecher = engine(None).await;
    let (h, seeder) = add_torrent_with_web_seeds(
        &leecher,
        &torrent,
        MemoryStorage::factory(),
        TorrentOptions::new(),
        options().concurrency(4),
    )
    .unwrap();
    wait_done(&h, 60).await;
    assert!(read_all(&h, data.len()).await == data);
    // Stopping lets the last fetches be counted: every piece came from the good seed.
    let stats = seeder.stop().await;
    assert_eq!(stats.pieces, torrent.info().piece_count(), "{stats:?}");
    assert!(
        stats.hash_failures > 0,
        "the lying seed was tried: {stats:?}"
    );
    assert!(stats.errors > 0, "the down seeds were tried: {stats:?}");
    // Backoff keeps the liar from being asked for every piece.
    assert!(
        stats.hash_failures < torrent.info().piece_count() / 2,
        "{stats:?}"
    );
    // A driver on a finished torrent idles; removing the torrent ends it.
    let idle = WebSeeder::start(h.clone(), vec![server.url("/good/")], options());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(idle.is_running());
    h.remove(false).await.unwrap();
    for _ in 0..200 {
        if !idle.is_running() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!idle.is_running(), "driver ended with the torrent");
    assert_eq!(idle.stop().await.pieces, 0);
    leecher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_seed_only_magnet_gets_metadata_from_xs_and_downloads() {
    let server = TestServer::start().await.unwrap();
    let a = pattern(43, 700_000);
    let b = pattern(44, 300_001);
    let torrent = TorrentBuilder::new()
        .piece_length(32768)
        .build_entries(
            "set",
            &[
                (
                    swarmfs_metainfo::SafePath::parse("a.bin").unwrap(),
                    a.clone(),
                ),
                (
                    swarmfs_metainfo::SafePath::parse("d/b.bin").unwrap(),
                    b.clone(),
                ),
            ],
        )
        .unwrap();
    server.put("/ws/set/a.bin", a.clone());
    server.put("/ws/set/d/b.bin", b.clone());
    server.put("/meta/set.torrent", torrent.to_bytes());
    server.put("/meta/other.torrent", other_torrent().to_bytes());
    let mut magnet = Magnet::from_info_hash(torrent.info_hash());
    // A source with the wrong torrent is skipped; the right one is used.
    magnet
        .extra
        .push(("xs".into(), server.url("/meta/other.torrent")));
    magnet
        .extra
        .push(("xs".into(), server.url("/meta/set.torrent")));
    magnet.web_seeds.push(server.url("/ws/"));
    let uri = magnet.to_string();
    assert!(uri.contains("xs=") && uri.contains("ws="), "{uri}");
    let leecher = engine(None).await;
    let (h, seeder) = add_magnet_with_web_seeds(
        &leecher,
        &Magnet::parse(&uri).unwrap(),
        MemoryStorage::factory(),
        TorrentOptions::new(),
        options(),
    )
    .await
    .unwrap();
    wait_done(&h, 60).await;
    let got = read_all(&h, a.len() + b.len()).await;
    assert!(got[..a.len()] == a[..] && got[a.len()..] == b[..]);
    assert_eq!(seeder.stop().await.pieces, torrent.info().piece_count());
    leecher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeder_without_web_seeds_does_nothing_and_stops_at_once() {
    let leecher = engine(None).await;
    let torrent = other_torrent();
    let h = leecher
        .add_info(
            torrent.info().clone(),
            Arc::new(MemoryStorage::default()),
            TorrentOptions::new(),
        )
        .unwrap();
    let seeder = WebSeeder::start(h, Vec::new(), options());
    assert!(!seeder.is_running());
    assert_eq!(seeder.stop().await.pieces, 0);
    leecher.shutdown().await;
}

fn other_torrent() -> Torrent {
    TorrentBuilder::new()
        .piece_length(16384)
        .build_single("o.bin", &pattern(45, 50_000))
        .unwrap()
}
