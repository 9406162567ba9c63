//! The bridge and web seeds against a real web server: nginx from Debian, started by the test
//! on 127.0.0.1 serving a temporary directory. Prints a SKIP line when nginx is not installed
//! (`apt-get install nginx-light`).

mod support;

use std::time::{Duration, SystemTime};

use support::nginx::{libtorrent_or_skip, lt_leech, nginx_or_skip};
use swarmfs_bridge::{
    Bridge, BridgeError, BridgeOptions, WebSeedOptions, add_magnet_with_web_seeds,
    add_torrent_with_web_seeds, download_from_web_seeds,
};
use swarmfs_engine::{Engine, TorrentHandle, TorrentOptions};
use swarmfs_http_storage::{HttpError, HttpOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, SafePath, Torrent, TorrentBuilder};
use swarmfs_storage::conformance::pattern;

async fn engine() -> Engine {
    Engine::builder()
        .listen_addr("127.0.0.1:0".parse().unwrap())
        .build()
        .await
        .unwrap()
}

async fn download(magnet: &str, len: usize) -> (Engine, TorrentHandle, Vec<u8>) {
    let e = engine().await;
    let h = e
        .add_magnet(
            &Magnet::parse(magnet).unwrap(),
            MemoryStorage::factory(),
            TorrentOptions::new(),
        )
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), h.wait_done())
        .await
        .expect("download finishes")
        .unwrap();
    let mut buf = vec![0u8; len];
    h.read_range(0, &mut buf).await.unwrap();
    (e, h, buf)
}

fn options() -> BridgeOptions {
    let mut o = BridgeOptions::default();
    o.http = HttpOptions::default().backoff(Duration::from_millis(5));
    o
}

/// Downloads the bridge's torrent with a libtorrent leecher (skipped without libtorrent) and
/// compares what it saved with `files` (path under the save directory, bytes).
fn libtorrent_leech(
    nginx: &support::nginx::Nginx,
    bridge: &Bridge,
    listen: std::net::SocketAddr,
    files: &[(&str, &[u8])],
) {
    if !libtorrent_or_skip("libtorrent leecher") {
        return;
    }
    let scratch = nginx.scratch(bridge.torrent().info().name());
    // Without url-list: every byte must come from the bridge, not from nginx directly.
    let torrent = Torrent::new(bridge.torrent().info().clone());
    let path = scratch.join("t.torrent");
    std::fs::write(&path, torrent.to_bytes()).unwrap();
    let save = scratch.join("lt");
    std::fs::create_dir_all(&save).unwrap();
    let (ok, out) = lt_leech(&path, &save, listen);
    assert!(ok, "libtorrent leecher failed: {out}");
    println!("libtorrent leecher: {}", out.trim());
    for (name, data) in files {
        let got = std::fs::read(save.join(name)).unwrap();
        assert!(got == *data, "libtorrent saved different bytes for {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_bridge_seeds_64mib_and_a_set_to_swarmfs_and_libtorrent() {
    let Some(nginx) = nginx_or_skip("nginx_bridge_seeds_64mib_and_a_set_to_swarmfs_and_libtorrent")
    else {
        return;
    };
    let big = pattern(31, 64 << 20);
    nginx.put("/big.bin", &big);
    let seeder = engine().await;
    let listen = seeder.listen_addr();
    let bridge = Bridge::seed_urls(&seeder, &[nginx.url("/big.bin")], &options(), |_, _| {})
        .await
        .unwrap();
    let streamed = bridge.build_stats().expect("built from urls").bytes_fetched;
    assert!(
        streamed <= big.len() as u64 + 1,
        "streamed once: {streamed}"
    );
    let (leecher, _, got) = download(&bridge.magnet(), big.len()).await;
    assert!(got == big, "swarmfs leecher bytes differ");
    leecher.shutdown().await;
    let fetched = bridge.http_stats().bytes_fetched;
    println!(
        "nginx bridge, 64 MiB to a swarmfs leecher: origin bytes fetched per byte served {:.3}",
        fetched as f64 / big.len() as f64
    );
    libtorrent_leech(&nginx, &bridge, listen, &[("big.bin", &big)]);
    assert_eq!(bridge.verify_stats().pieces_refused, 0);
    bridge.stop().await.unwrap();

    let a = pattern(32, 5_000_000);
    let b = pattern(33, 1);
    let c = pattern(34, 3_333_333);
    nginx.put("/set/a.bin", &a);
    nginx.put("/set/b.bin", &b);
    nginx.put("/other/c.bin", &c);
    let mut opts = options();
    opts.build.name = Some("set".into());
    let bridge = Bridge::seed_urls(
        &seeder,
        &[
            nginx.url("/set/a.bin"),
            nginx.url("/set/b.bin"),
            nginx.url("/other/c.bin"),
        ],
        &opts,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(bridge.torrent().info().files().len(), 3);
    let (leecher, _, got) = download(&bridge.magnet(), a.len() + b.len() + c.len()).await;
    let whole = [a.as_slice(), &b, &c].concat();
    assert!(got == whole, "swarmfs leecher bytes differ");
    leecher.shutdown().await;
    libtorrent_leech(
        &nginx,
        &bridge,
        listen,
        &[("set/a.bin", &a), ("set/b.bin", &b), ("set/c.bin", &c)],
    );
    assert_eq!(bridge.verify_stats().pieces_refused, 0);
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_changed_file_is_detected_and_redirects_work() {
    let Some(nginx) = nginx_or_skip("nginx_changed_file_is_detected_and_redirects_work") else {
        return;
    };
    let data = pattern(34, 1 << 20);
    let path = nginx.put("/f.bin", &data);
    let seeder = engine().await;
    // /old/f.bin answers 302 to /f.bin: opening follows it and pins the target.
    let moved = Bridge::seed_urls(&seeder, &[nginx.url("/old/f.bin")], &options(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(moved.torrent().info().total_length(), data.len() as u64);
    moved.stop().await.unwrap();
    // Without read-ahead, so the later read is not already in the window cache (cached bytes
    // were verified and stay servable).
    let mut o = options();
    o.http = o.http.read_ahead(0);
    let bridge = Bridge::seed_urls(&seeder, &[nginx.url("/f.bin")], &o, |_, _| {})
        .await
        .unwrap();
    let mut buf = vec![0u8; 1000];
    bridge.read(0, &mut buf).await.unwrap();
    assert_eq!(buf, data[..1000]);
    // Rewrite with other bytes and a later mtime: nginx's ETag changes.
    std::fs::write(&path, pattern(35, 1 << 20)).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(10))
        .unwrap();
    drop(f);
    let err = bridge.read(900_000, &mut buf).await.unwrap_err();
    let BridgeError::Storage(e) = &err else {
        panic!("{err}")
    };
    assert!(
        matches!(HttpError::from_storage(e), Some(HttpError::Changed { .. })),
        "{err}"
    );
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_web_seed_alone_downloads_fully() {
    let Some(nginx) = nginx_or_skip("nginx_web_seed_alone_downloads_fully") else {
        return;
    };
    let a = pattern(36, 2_000_000);
    let b = pattern(37, 777_777);
    nginx.put("/ws/album/one.bin", &a);
    nginx.put("/ws/album/two/three.bin", &b);
    let entries = [
        (SafePath::parse("one.bin").unwrap(), a.clone()),
        (SafePath::parse("two/three.bin").unwrap(), b.clone()),
    ];
    let torrent = TorrentBuilder::new()
        .build_entries("album", &entries)
        .unwrap();
    let info = torrent.info().clone();
    let storage = MemoryStorage::factory();
    let report = download_from_web_seeds(
        &info,
        &[nginx.url("/ws/")],
        storage.clone(),
        &HttpOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.pieces_fetched, info.piece_count());
    let e = engine().await;
    let h = e
        .add_info(info, storage, TorrentOptions::new().resume(true))
        .unwrap();
    h.wait_metadata().await.unwrap();
    let mut got = vec![0u8; a.len() + b.len()];
    h.read_range(0, &mut got).await.unwrap();
    assert!(got[..a.len()] == a[..] && got[a.len()..] == b[..]);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_web_seeds_alone_fill_a_url_list_torrent_and_an_xs_magnet() {
    let Some(nginx) =
        nginx_or_skip("nginx_web_seeds_alone_fill_a_url_list_torrent_and_an_xs_magnet")
    else {
        return;
    };
    let a = pattern(38, 3_000_000);
    let b = pattern(39, 123_457);
    nginx.put("/ws/album/one.bin", &a);
    nginx.put("/ws/album/two/three.bin", &b);
    let entries = [
        (SafePath::parse("one.bin").unwrap(), a.clone()),
        (SafePath::parse("two/three.bin").unwrap(), b.clone()),
    ];
    let mut torrent = TorrentBuilder::new()
        .build_entries("album", &entries)
        .unwrap();
    let whole = [a.as_slice(), &b].concat();
    let ws =
        || WebSeedOptions::default().http(HttpOptions::default().backoff(Duration::from_millis(5)));

    // A .torrent with url-list and no peers at all.
    torrent.set_url_list(&[nginx.url("/ws/")]);
    let e = engine().await;
    let (h, seeder) = add_torrent_with_web_seeds(
        &e,
        &torrent,
        MemoryStorage::factory(),
        TorrentOptions::new(),
        ws(),
    )
    .unwrap();
    tokio::time::timeout(Duration::from_secs(60), h.wait_done())
        .await
        .expect("url-list torrent finishes")
        .unwrap();
    let mut got = vec![0u8; whole.len()];
    h.read_range(0, &mut got).await.unwrap();
    assert!(got == whole);
    assert_eq!(seeder.stop().await.pieces, torrent.info().piece_count());
    h.remove(false).await.unwrap();

    // A magnet with ws= and xs= (the .torrent, without url-list, on the same server): the
    // metadata comes over HTTP, checked against the info-hash; the data from the web seed.
    torrent.set_url_list::<&str>(&[]);
    nginx.put("/meta/album.torrent", &torrent.to_bytes());
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&dn=album&ws={}&xs={}",
        torrent.info_hash().to_hex(),
        nginx.url("/ws/"),
        nginx.url("/meta/album.torrent"),
    );
    let (h, seeder) = add_magnet_with_web_seeds(
        &e,
        &Magnet::parse(&magnet).unwrap(),
        MemoryStorage::factory(),
        TorrentOptions::new(),
        ws(),
    )
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(60), h.wait_done())
        .await
        .expect("ws+xs magnet finishes")
        .unwrap();
    let mut got = vec![0u8; whole.len()];
    h.read_range(0, &mut got).await.unwrap();
    assert!(got == whole);
    assert_eq!(seeder.stop().await.pieces, torrent.info().piece_count());
    h.remove(false).await.unwrap();

    // A ws= magnet without xs= and without peers cannot start: nobody can give the metadata
    // (a web server does not speak BEP 9). It waits for peers; the web seeder waits with it.
    let bare = format!(
        "magnet:?xt=urn:btih:{}&ws={}",
        torrent.info_hash().to_hex(),
        nginx.url("/ws/"),
    );
    let (h, seeder) = add_magnet_with_web_seeds(
        &e,
        &Magnet::parse(&bare).unwrap(),
        MemoryStorage::factory(),
        TorrentOptions::new(),
        ws(),
    )
    .await
    .unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(500), h.wait_metadata()).await;
    assert!(waited.is_err(), "no metadata without peers or xs=");
    assert_eq!(seeder.stop().await.pieces, 0);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_origin_without_ranges_slow_and_down() {
    let Some(mut nginx) = nginx_or_skip("nginx_origin_without_ranges_slow_and_down") else {
        return;
    };
    let data = pattern(40, 2 << 20);
    nginx.put("/f.bin", &data);
    let seeder = engine().await;

    // Without ranges (nginx `max_ranges 0` answers 200 with the whole file): refused at open.
    let err = Bridge::seed_urls(
        &seeder,
        &[nginx.url("/noranges/f.bin")],
        &options(),
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            BridgeError::Http(HttpError::NoRangeSupport { status: 200, .. })
        ),
        "{err}"
    );

    // Slow (1 MiB/s per connection): seeded all the same.
    let mut o = options();
    o.build.piece_length = Some(256 * 1024);
    let slow = Bridge::seed_urls(&seeder, &[nginx.url("/slow/f.bin")], &o, |_, _| {})
        .await
        .unwrap();
    let (leecher, _, got) = download(&slow.magnet(), data.len()).await;
    assert!(got == data, "bytes from the slow origin differ");
    leecher.shutdown().await;
    slow.stop().await.unwrap();
    // Too slow for the request timeout: a typed timeout after the retries, no panic.
    let mut o = options();
    o.build.piece_length = Some(1 << 20);
    o.http = o.http.timeout(Duration::from_millis(200)).retries(1);
    let torrent = TorrentBuilder::new()
        .piece_length(1 << 20)
        .build_single("f.bin", &data)
        .unwrap();
    let slow = Bridge::seed_torrent(&seeder, torrent.clone(), &[nginx.url("/slow/f.bin")], &o)
        .await
        .unwrap();
    let mut buf = vec![0u8; 1000];
    let err = slow.read(1 << 20, &mut buf).await.unwrap_err();
    let BridgeError::Storage(e) = &err else {
        panic!("{err}")
    };
    assert!(
        matches!(HttpError::from_storage(e), Some(HttpError::Timeout { .. })),
        "{err}"
    );
    slow.stop().await.unwrap();

    // Down while seeding: reads fail with a socket error, the pieces peers asked for stop being
    // advertised, and once the origin is back they are advertised again and the leecher ends.
    let mut o = options();
    o.http = o.http.retries(1).read_ahead(0);
    let bridge = Bridge::seed_torrent(&seeder, torrent, &[nginx.url("/f.bin")], &o)
        .await
        .unwrap();
    let mut events = bridge.events();
    nginx.stop();
    let err = bridge.read(0, &mut buf).await.unwrap_err();
    let BridgeError::Storage(e) = &err else {
        panic!("{err}")
    };
    assert!(
        matches!(HttpError::from_storage(e), Some(HttpError::Io { .. })),
        "{err}"
    );
    let leecher = engine().await;
    let h = leecher
        .add_magnet(
            &Magnet::parse(&bridge.magnet()).unwrap(),
            MemoryStorage::factory(),
            TorrentOptions::new(),
        )
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(swarmfs_bridge::BridgeEvent::PieceLost { .. }) = events.recv().await {
                break;
            }
        }
    })
    .await
    .expect("a piece is reported lost while the origin is down");
    assert!(nginx.resume(), "nginx restarts");
    tokio::time::timeout(Duration::from_secs(60), h.wait_done())
        .await
        .expect("the leecher completes once the origin is back")
        .unwrap();
    let mut got = vec![0u8; data.len()];
    h.read_range(0, &mut got).await.unwrap();
    assert!(got == data);
    let mut restored = 0;
    while let Ok(ev) = events.try_recv() {
        restored += usize::from(matches!(ev, swarmfs_bridge::BridgeEvent::PieceRestored(_)));
    }
    assert!(restored > 0, "restored pieces are reported");
    leecher.shutdown().await;
    seeder.shutdown().await;
}
