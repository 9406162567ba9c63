//! The bridge end to end on loopback: an in-process HTTP origin, a bridging engine and a
//! leeching engine.

use std::sync::Arc;
use std::time::Duration;

use swarmfs_bridge::{Bridge, BridgeError, BridgeEvent, BridgeOptions};
use swarmfs_engine::{Engine, TorrentEvent, TorrentHandle, TorrentOptions};
use swarmfs_http_storage::testing::TestServer;
use swarmfs_http_storage::{HttpError, HttpOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, TorrentBuilder};
use swarmfs_storage::conformance::pattern;

async fn engine() -> Engine {
    Engine::builder()
        .listen_addr("127.0.0.1:0".parse().unwrap())
        .build()
        .await
        .unwrap()
}

fn options() -> BridgeOptions {
    let mut o = BridgeOptions::default();
    o.http = HttpOptions::default().backoff(Duration::from_millis(5));
    o
}

async fn leech(leecher: &Engine, magnet: &str) -> TorrentHandle {
    let m = Magnet::parse(magnet).unwrap();
    leecher
        .add_magnet(&m, MemoryStorage::factory(), TorrentOptions::new())
        .unwrap()
}

async fn read_all(h: &TorrentHandle, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    h.read_range(0, &mut buf).await.unwrap();
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_seeds_a_url_and_a_leecher_downloads_it() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(1, 5 * 1024 * 1024 + 1234);
    server.put("/files/movie.webm", data.clone());
    let seeder = engine().await;
    let mut progress = Vec::new();
    let bridge = Bridge::seed_urls(
        &seeder,
        &[server.url("/files/movie.webm")],
        &options(),
        |done, total| progress.push((done, total)),
    )
    .await
    .unwrap();
    assert_eq!(
        progress.last(),
        Some(&(data.len() as u64, data.len() as u64))
    );
    assert_eq!(bridge.torrent().info().name(), "movie.webm");
    let streamed = bridge.build_stats().expect("built from urls").bytes_fetched;
    // Each byte streamed once; opening pins validators with a one-byte range.
    assert!(
        streamed <= data.len() as u64 + 1,
        "built by streaming once: {streamed}"
    );
    assert!(bridge.magnet().contains("ws="));

    let leecher = engine().await;
    let h = leech(&leecher, &bridge.magnet()).await;
    tokio::time::timeout(Duration::from_secs(60), h.wait_done())
        .await
        .expect("download finishes")
        .unwrap();
    assert_eq!(read_all(&h, data.len()).await, data);
    // Origin bytes fetched per byte served stays near 1 (windows and the piece cache).
    let served = bridge.verify_stats().bytes_served;
    let fetched = bridge.http_stats().bytes_fetched;
    assert!(served >= data.len() as u64, "served {served}");
    assert!(
        (fetched as f64) < 1.5 * data.len() as f64,
        "fetched {fetched} for {} bytes",
        data.len()
    );
    assert_eq!(bridge.verify_stats().pieces_refused, 0);
    leecher.shutdown().await;
    seeder.shutdown().await;
    assert_eq!(seeder.live_tasks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_seeds_several_urls_as_a_multi_file_torrent() {
    let server = TestServer::start().await.unwrap();
    let a = pattern(2, 700_000);
    let b = pattern(3, 1_300_001);
    server.put("/a.bin", a.clone());
    server.put("/dir/b.bin", b.clone());
    let seeder = engine().await;
    let mut opts = options();
    opts.build.name = Some("set".into());
    opts.build.piece_length = Some(65536);
    let bridge = Bridge::seed_urls(
        &seeder,
        &[server.url("/a.bin"), server.url("/dir/b.bin")],
        &opts,
        |_, _| {},
    )
    .await
    .unwrap();
    let info = bridge.torrent().info();
    assert!(info.is_multi_file());
    assert_eq!(info.files().len(), 2);
    let leecher = engine().await;
    let h = leech(&leecher, &bridge.magnet()).await;
    tokio::time::timeout(Duration::from_secs(60), h.wait_done())
        .await
        .expect("download finishes")
        .unwrap();
    let got = read_all(&h, a.len() + b.len()).await;
    assert_eq!(&got[..a.len()], &a[..]);
    assert_eq!(&got[a.len()..], &b[..]);
    leecher.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_torrent_plus_url_is_seeded() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(4, 1_000_000);
    server.put("/x/data.bin", data.clone());
    let torrent = TorrentBuilder::new()
        .piece_length(32768)
        .build_single("data.bin", &data)
        .unwrap();
    let seeder = engine().await;
    // A BEP 19 base URL ending in '/' gets the name appended.
    let bridge = Bridge::seed_torrent(&seeder, torrent.clone(), &[server.url("/x/")], &options())
        .await
        .unwrap();
    assert_eq!(bridge.urls(), [server.url("/x/data.bin")]);
    let leecher = engine().await;
    let h = leech(&leecher, &bridge.magnet()).await;
    tokio::time::timeout(Duration::from_secs(60), h.wait_done())
        .await
        .expect("download finishes")
        .unwrap();
    assert_eq!(read_all(&h, data.len()).await, data);
    leecher.shutdown().await;
    seeder.shutdown().await;

    // A URL whose length does not match the torrent is refused before seeding.
    server.put("/short.bin", pattern(4, 999_999));
    let seeder = engine().await;
    let err = Bridge::seed_torrent(&seeder, torrent, &[server.url("/short.bin")], &options())
        .await
        .unwrap_err();
    assert!(matches!(err, BridgeError::LengthMismatch { .. }), "{err}");
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_origin_pieces_are_refused_and_reported() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(5, 2 * 1024 * 1024);
    server.put("/f.bin", data.clone());
    let seeder = engine().await;
    let mut opts = options();
    opts.build.piece_length = Some(65536);
    let bridge = Bridge::seed_urls(&seeder, &[server.url("/f.bin")], &opts, |_, _| {})
        .await
        .unwrap();
    let mut events = bridge.events();

    // The origin's bytes change but its validators do not (a misbehaving server): only the
    // piece hashes can tell. Every piece fails and none reaches the leecher.
    let mut changed = data.clone();
    for b in changed.iter_mut() {
        *b ^= 0x5a;
    }
    server.put_keep_validators("/f.bin", changed);
    let leecher = engine().await;
    let h = leech(&leecher, &bridge.magnet()).await;
    let mut leecher_events = h.events();
    let done = tokio::time::timeout(Duration::from_secs(3), h.wait_done()).await;
    assert!(done.is_err(), "nothing can complete from a changed origin");
    let mut refused = 0;
    loop {
        match events.try_recv() {
            Ok(BridgeEvent::PieceRefused { .. }) => refused += 1,
            Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    assert!(refused > 0, "refusals are reported");
    assert!(bridge.verify_stats().pieces_refused > 0);
    assert_eq!(
        bridge.verify_stats().bytes_served,
        0,
        "no refused byte was served"
    );
    while let Ok(ev) = leecher_events.try_recv() {
        assert!(
            !matches!(ev, TorrentEvent::HashFailed(_)),
            "the leecher got bad bytes"
        );
    }
    leecher.shutdown().await;
    // Refused pieces are not fetched again and again while peers keep asking.
    let fetched = bridge.http_stats().bytes_fetched;
    // Without the cooldown this was ~200x the data in 3 s.
    assert!(
        fetched < 16 * data.len() as u64,
        "origin hammered: {fetched} bytes"
    );

    // Now the origin changes properly (new ETag): reads fail with a typed error, reported.
    server.put("/f.bin", pattern(6, data.len()));
    tokio::time::sleep(Duration::from_millis(2100)).await; // past the refusal cooldown
    let mut buf = vec![0u8; 1000];
    let err = bridge.read(0, &mut buf).await.unwrap_err();
    let BridgeError::Storage(e) = &err else {
        panic!("{err}")
    };
    assert!(
        matches!(HttpError::from_storage(e), Some(HttpError::Changed { .. })),
        "{err}"
    );
    let mut origin_changed = false;
    loop {
        match events.try_recv() {
            Ok(ev) => origin_changed |= matches!(ev, BridgeEvent::OriginChanged { .. }),
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => continue,
            Err(_) => break,
        }
    }
    assert!(origin_changed, "a changed etag is reported");
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_origins_are_clear_errors() {
    let server = TestServer::start().await.unwrap();
    server.put("/f", pattern(7, 10_000));
    let seeder = engine().await;
    server.set_no_range(true);
    let err = Bridge::seed_urls(&seeder, &[server.url("/f")], &options(), |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, BridgeError::Http(HttpError::NoRangeSupport { .. })),
        "{err}"
    );
    server.set_no_range(false);
    let err = Bridge::seed_urls(&seeder, &[server.url("/gone")], &options(), |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, BridgeError::Http(HttpError::Vanished { .. })),
        "{err}"
    );
    let err = Bridge::seed_urls(&seeder, &[], &options(), |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, BridgeError::NoUrls), "{err}");
    // Origin down: a closed port is a socket error after the retries.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut o = options();
    o.http = o.http.retries(1);
    let err = Bridge::seed_urls(&seeder, &[format!("http://{closed}/f")], &o, |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, BridgeError::Http(HttpError::Io { .. })),
        "{err}"
    );
    seeder.shutdown().await;
    let _ = Arc::new(());
}

/// Connects to `addr` as a bare BitTorrent peer (no extensions) and returns the bitfield the
/// seeder sends after the handshake.
async fn advertised(addr: std::net::SocketAddr, info_hash: [u8; 20]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut hs = vec![19u8];
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0; 8]);
    hs.extend_from_slice(&info_hash);
    hs.extend_from_slice(b"-PROBE-0000000000000");
    s.write_all(&hs).await.unwrap();
    let mut theirs = [0u8; 68];
    s.read_exact(&mut theirs).await.unwrap();
    assert_eq!(&theirs[28..48], &info_hash);
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let len = s.read_u32().await.unwrap() as usize;
            if len == 0 {
                continue;
            }
            let mut msg = vec![0u8; len];
            s.read_exact(&mut msg).await.unwrap();
            if msg[0] == 5 {
                return msg[1..].to_vec();
            }
        }
    })
    .await
    .expect("a bitfield")
}

fn bit(field: &[u8], i: u32) -> bool {
    field[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_piece_is_refused_unadvertised_reported_and_restored() {
    let server = TestServer::start().await.unwrap();
    let data = pattern(8, 2 * 1024 * 1024);
    server.put("/f.bin", data.clone());
    let seeder = engine().await;
    let mut opts = options();
    opts.build.piece_length = Some(65536);
    let bridge = Bridge::seed_urls(&seeder, &[server.url("/f.bin")], &opts, |_, _| {})
        .await
        .unwrap();
    let info_hash = bridge.torrent().info_hash().0;
    let pieces = bridge.torrent().info().piece_count();
    let mut events = bridge.events();
    // Piece 5 changes at the origin behind unchanged validators: only its hash can tell.
    let mut changed = data.clone();
    changed[5 * 65536 + 100] ^= 0xff;
    server.put_keep_validators("/f.bin", changed);
    let before = advertised(seeder.listen_addr(), info_hash).await;
    assert!(
        bit(&before, 5) && bit(&before, 0),
        "all pieces advertised at first"
    );

    let leecher = engine().await;
    let h = leech(&leecher, &bridge.magnet()).await;
    let mut leecher_events = h.events();
    // The leecher gets every other piece; piece 5 is refused, then no longer advertised.
    let mut lost = None;
    let mut refused = false;
    tokio::time::timeout(Duration::from_secs(30), async {
        while lost.is_none() {
            match events.recv().await {
                Ok(BridgeEvent::PieceRefused { piece }) => refused |= piece == 5,
                Ok(BridgeEvent::PieceLost { piece, error }) => lost = Some((piece, error)),
                _ => {}
            }
        }
    })
    .await
    .expect("the lost piece is reported");
    let (piece, error) = lost.unwrap();
    assert_eq!(piece, 5, "{error}");
    assert!(refused, "the refusal was reported first");
    assert!(error.contains("does not match its hash"), "{error}");
    assert!(
        !bridge.handle().verified().unwrap().get(5),
        "the engine no longer counts it"
    );
    let after = advertised(seeder.listen_addr(), info_hash).await;
    assert!(!bit(&after, 5), "piece 5 is not advertised to new peers");
    assert!((0..pieces).filter(|&p| p != 5).all(|p| bit(&after, p)));
    for _ in 0..200 {
        if h.stats().await.unwrap().pieces_verified == pieces - 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.stats().await.unwrap().pieces_verified, pieces - 1);

    // The origin is fixed: the bridge notices on a retry and advertises the piece again; the
    // leecher completes.
    server.put_keep_validators("/f.bin", data.clone());
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(BridgeEvent::PieceRestored(5)) = events.recv().await {
                break;
            }
        }
    })
    .await
    .expect("the piece is restored");
    tokio::time::timeout(Duration::from_secs(30), h.wait_done())
        .await
        .expect("the leecher completes once the piece is back")
        .unwrap();
    assert_eq!(read_all(&h, data.len()).await, data);
    while let Ok(ev) = leecher_events.try_recv() {
        assert!(
            !matches!(ev, TorrentEvent::HashFailed(_)),
            "the leecher got bad bytes"
        );
    }
    leecher.shutdown().await;
    seeder.shutdown().await;
}
