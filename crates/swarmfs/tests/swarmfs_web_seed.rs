//! BEP 19 web seeds through `Client::lookup`: a magnet with `xs=` (the `.torrent` over HTTP) and
//! `ws=` (the files over HTTP) and no peer at all resolves and reads, from an in-process loopback
//! web server; an on-demand archive fetches from them only the pieces its reads wait for.

mod support;

use std::io::SeekFrom;
use std::time::Duration;

use swarmfs::{Client, LookupOptions};
use swarmfs_http_storage::testing::TestServer;
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, SafePath, Torrent, TorrentBuilder};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use support::{pattern, within};

/// A client with no DHT, no LSD: its only sources are the magnet's web server.
async fn lonely_client() -> Client {
    let mut b = Client::builder();
    b.dht(false).lsd(false).storage(MemoryStorage::factory());
    b.build().await.unwrap()
}

/// Serves `files` under `/ws/<name>/` and their torrent at `/meta/<name>.torrent`; returns the
/// torrent and a magnet naming both (with no peer).
fn serve(server: &TestServer, name: &str, files: &[(&str, Vec<u8>)]) -> (Torrent, String) {
    let entries: Vec<_> = files
        .iter()
        .map(|(p, d)| (SafePath::parse(p).unwrap(), d.clone()))
        .collect();
    let torrent = TorrentBuilder::new()
        .piece_length(32768)
        .build_entries(name, &entries)
        .unwrap();
    for (p, d) in files {
        server.put(&format!("/ws/{name}/{p}"), d.clone());
    }
    server.put(&format!("/meta/{name}.torrent"), torrent.to_bytes());
    let mut magnet = Magnet::from_info_hash(torrent.info_hash());
    magnet
        .extra
        .push(("xs".into(), server.url(&format!("/meta/{name}.torrent"))));
    magnet.web_seeds.push(server.url("/ws/"));
    (torrent, magnet.to_string())
}

fn options(seed: bool) -> LookupOptions {
    LookupOptions::default()
        .timeout(Duration::from_secs(20))
        .seed(seed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_seed_only_magnet_resolves_and_reads() {
    let server = TestServer::start().await.unwrap();
    let a = pattern(700_000, 3);
    let b = pattern(300_001, 4);
    let (torrent, url) = serve(
        &server,
        "set",
        &[("a.bin", a.clone()), ("d/b.bin", b.clone())],
    );
    let client = lonely_client().await;
    let archive = within(30, client.lookup(&url, options(true)))
        .await
        .unwrap();
    assert_eq!(archive.info_hash(), Some(torrent.info_hash()));
    assert_eq!(within(60, archive.read_file("/a.bin")).await.unwrap(), a);
    assert_eq!(within(60, archive.read_file("/d/b.bin")).await.unwrap(), b);
    let stats = archive.web_seed_stats().unwrap();
    assert!(stats.pieces > 0 && stats.bytes > 0, "{stats:?}");
    within(60, archive.torrent().unwrap().wait_done())
        .await
        .unwrap();
    let stats = archive.web_seed_stats().unwrap();
    assert_eq!(stats.pieces, torrent.info().piece_count(), "{stats:?}");
    archive.close().await.unwrap();
    assert!(archive.web_seed_stats().is_none());
    client.stop().await;
    assert_eq!(client.live_tasks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_demand_archive_fetches_only_opened_files_from_web_seeds() {
    let server = TestServer::start().await.unwrap();
    let a = pattern(600_000, 5);
    let b = pattern(500_000, 6);
    let (torrent, url) = serve(&server, "od", &[("a.bin", a.clone()), ("b.bin", b.clone())]);
    let client = lonely_client().await;
    let archive = within(30, client.lookup(&url, options(false)))
        .await
        .unwrap();
    let handle = archive.torrent().unwrap().clone();
    // Nothing is wanted before a read, so the web seeds stay idle.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(archive.web_seed_stats().unwrap().pieces, 0);
    assert_eq!(handle.stats().await.unwrap().pieces_verified, 0);

    // Reading the skipped file `b.bin` fetches it through the web seeds.
    assert_eq!(within(60, archive.read_file("/b.bin")).await.unwrap(), b);
    let g = torrent.info().geometry();
    let piece = u64::from(torrent.info().piece_length());
    let first_b = a.len() as u64 / piece;
    let verified = handle.verified().unwrap();
    // `a.bin`'s pieces, except the one it shares with `b.bin`, were never fetched.
    for p in 0..first_b {
        assert!(!verified.get(p as u32), "piece {p} of a.bin was fetched");
    }
    assert!(g.piece_count() > 0);
    let stats = archive.web_seed_stats().unwrap();
    assert!(stats.pieces > 0, "{stats:?}");
    assert!(
        stats.bytes_fetched < (b.len() + 2 * piece as usize) as u64,
        "fetched {} bytes for a {} byte file",
        stats.bytes_fetched,
        b.len()
    );
    // A seek and a short read inside the other (skipped) file work through the web seeds.
    let mut f = archive.open("/a.bin").await.unwrap();
    f.seek(SeekFrom::Start(400_000)).await.unwrap();
    let mut buf = vec![0u8; 10_000];
    within(60, f.read_exact(&mut buf)).await.unwrap();
    assert_eq!(buf, a[400_000..410_000]);
    // And reading it whole too.
    assert_eq!(within(60, archive.read_file("/a.bin")).await.unwrap(), a);
    client.stop().await;
}
