//! End to end in a private `mainline::Testnet` (mainline 8, 127.0.0.1): a publisher client
//! bootstraps from the testnet's nodes, writes an archive, seeds it and publishes it under a
//! keypair with and without salt; a reader on another client resolves the mutable magnet (no
//! peer address is handed over: the item, the seeder and the metadata all come through the
//! DHT), lists directories, reads whole files and seeks inside a large file; the publisher
//! changes the archive and publishes again; the reader sees the new version, through its
//! updates stream and by resolving again.
//!
//! mainline 8 nodes route, answer `get_peers` and store announces, but drop every BEP 46 put (a
//! dict `v`, and a put without mainline's private `target` key: see `shared/peers/NOTES.md`), so
//! a few swarmfs-dht nodes, bootstrapped from the testnet like any newcomer, hold the items.
#![allow(deprecated)] // mainline's blocking API

mod support;

use std::io::SeekFrom;
use std::time::Duration;

use swarmfs::{Archive, Client, Keypair, LookupOptions};
use swarmfs_dht::Dht;
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::Magnet;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use support::{pattern, shutdown, within};

/// mainline nodes in the testnet.
const MAINLINE_NODES: usize = 8;
/// swarmfs-dht nodes joining it (they store the BEP 46 items mainline drops).
const SWARMFS_NODES: usize = 4;
/// Size of the large file the reader seeks in.
const BIG: usize = 6 * 1024 * 1024 + 4321;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn opts() -> LookupOptions {
    LookupOptions::default()
        .timeout(Duration::from_secs(40))
        .seed(false)
}

async fn client(boot: &[String]) -> Client {
    Client::builder()
        .dht_bootstrap(boot.iter().cloned())
        .storage(MemoryStorage::factory())
        .update_interval(Duration::from_millis(300))
        .republish_interval(Duration::from_secs(2))
        .peer_search_interval(Duration::from_millis(300))
        .build()
        .await
        .unwrap()
}

fn info_hash_of(url: &str) -> swarmfs_metainfo::InfoHash {
    Magnet::parse(url).unwrap().info_hash().unwrap()
}

/// Every file path below `dir`, depth first, with its length.
async fn walk(archive: &Archive, dir: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in archive.read_dir(&d).await.unwrap() {
            let path = format!("{}/{}", d.trim_end_matches('/'), e.name);
            if e.is_dir {
                todo.push(path);
            } else {
                out.push((path, e.len));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_read_through_a_mainline_testnet() {
    let testnet = blocking(|| mainline::Testnet::builder(MAINLINE_NODES).build().unwrap()).await;
    let boot: Vec<String> = testnet.bootstrap.clone();
    assert!(boot.iter().all(|b| b.starts_with("127.0.0.1:")), "{boot:?}");
    let ml_boot: Vec<std::net::SocketAddr> = boot.iter().map(|b| b.parse().unwrap()).collect();
    let mut holders = Vec::new();
    for _ in 0..SWARMFS_NODES {
        let node = Dht::builder().bootstrap(&ml_boot).build().await.unwrap();
        within(30, node.bootstrapped()).await.unwrap();
        holders.push(node);
    }

    // Both clients know only the mainline nodes.
    let publisher = client(&boot).await;
    let reader = client(&boot).await;
    let routing = publisher
        .dht()
        .unwrap()
        .stats()
        .await
        .unwrap()
        .routing_nodes;
    assert!(routing >= MAINLINE_NODES, "publisher knows {routing} nodes");

    let big = pattern(BIG, 31);
    let site = Archive::with_name("testnet-site", MemoryStorage::factory());
    site.write_file("/index.html", b"<h1>v1</h1>")
        .await
        .unwrap();
    site.write_file("/posts/2026/first.md", b"# first")
        .await
        .unwrap();
    site.write_file("/media/big.bin", &big).await.unwrap();
    let url1 = within(60, publisher.seed(&site)).await.unwrap();
    let keypair = Keypair::generate();

    for salt in [&b""[..], &b"testnet"[..]] {
        let murl = within(60, publisher.publish(&url1, &keypair, salt))
            .await
            .unwrap();
        assert!(murl.starts_with("magnet:?xs=urn:btpk:"), "{murl}");
        assert_eq!(murl.contains("&s="), !salt.is_empty(), "{murl}");

        // The reader gets the bare mutable magnet: the item, the peer and the metadata come
        // through the DHT.
        let archive = within(60, reader.lookup(&murl, opts())).await.unwrap();
        assert_eq!(archive.info_hash(), Some(info_hash_of(&url1)));
        assert_eq!(archive.name(), "testnet-site");
        assert_eq!(
            walk(&archive, "/").await,
            [
                ("/index.html".to_owned(), 11),
                ("/media/big.bin".to_owned(), BIG as u64),
                ("/posts/2026/first.md".to_owned(), 7),
            ]
        );
        let posts = archive.read_dir("/posts").await.unwrap();
        assert_eq!(posts.len(), 1);
        assert!(posts[0].is_dir && posts[0].name == "2026" && posts[0].len == 7);
        assert_eq!(
            within(30, archive.read_file("/index.html")).await.unwrap(),
            b"<h1>v1</h1>"
        );
        assert_eq!(
            within(30, archive.read_file("/posts/2026/first.md"))
                .await
                .unwrap(),
            b"# first"
        );

        // Seeks inside the large file, each read fetched on demand.
        let mut f = archive.open("/media/big.bin").await.unwrap();
        for at in [BIG as u64 / 2 + 17, 100, BIG as u64 - 5000] {
            assert_eq!(f.seek(SeekFrom::Start(at)).await.unwrap(), at);
            let mut buf = vec![0u8; 4000];
            within(30, f.read_exact(&mut buf)).await.unwrap();
            assert_eq!(buf, big[at as usize..at as usize + buf.len()], "at {at}");
        }
        assert_eq!(f.seek(SeekFrom::End(-3)).await.unwrap(), BIG as u64 - 3);
        let mut tail = Vec::new();
        within(30, f.read_to_end(&mut tail)).await.unwrap();
        assert_eq!(tail, big[BIG - 3..]);
        assert_eq!(
            within(60, archive.read_file("/media/big.bin"))
                .await
                .unwrap(),
            big
        );

        // The publisher changes the archive and publishes again: sequence number 2.
        let mut updates = archive.updates().expect("opened from a mutable magnet");
        site.write_file("/index.html", b"<h1>v2</h1>")
            .await
            .unwrap();
        let url2 = within(60, publisher.seed(&site)).await.unwrap();
        assert_ne!(info_hash_of(&url2), info_hash_of(&url1));
        within(60, publisher.publish(&url2, &keypair, salt))
            .await
            .unwrap();
        let update = within(30, updates.next()).await.expect("an update");
        assert_eq!(update.seq, 2);
        assert_eq!(update.info_hash, info_hash_of(&url2));

        let latest = within(60, reader.lookup(&murl, opts())).await.unwrap();
        assert_eq!(latest.info_hash(), Some(info_hash_of(&url2)));
        assert_eq!(
            within(30, latest.read_file("/index.html")).await.unwrap(),
            b"<h1>v2</h1>"
        );
        let mut f = latest.open("/media/big.bin").await.unwrap();
        f.seek(SeekFrom::Start(1_000_001)).await.unwrap();
        let mut buf = vec![0u8; 1000];
        within(30, f.read_exact(&mut buf)).await.unwrap();
        assert_eq!(buf, big[1_000_001..1_001_001]);

        // The republished item survives: a fresh client resolves version 2.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let late = client(&boot).await;
        assert_eq!(within(30, late.resolve(&murl)).await.unwrap().seq, 2);
        late.stop().await;

        archive.close().await.unwrap();
        latest.close().await.unwrap();
        // Back to version 1 for the salted round (a different item).
        site.write_file("/index.html", b"<h1>v1</h1>")
            .await
            .unwrap();
        assert_eq!(within(60, publisher.seed(&site)).await.unwrap(), url1);
    }

    reader.stop().await;
    publisher.stop().await;
    assert_eq!(reader.live_tasks(), 0);
    assert_eq!(publisher.live_tasks(), 0);
    shutdown(&holders).await;
    drop(testnet);
}
