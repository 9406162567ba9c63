//! The `swarmfs/v1/` extension (list, pause, resume, select-files, read-dir, read-file,
//! remove, watch-mutable) and the lazy engine, through in-process Rust clients.

mod common;

use std::time::Duration;

use common::*;
use swarmfs::Keypair;
use swarmfs_remote::protocol::AddOptions;
use swarmfs_remote::{ClientError, ClientOptions, RemoteClient, ServerMessage};

const T: Duration = Duration::from_secs(30);

fn info_hash_of(magnet: &str) -> String {
    let m = swarmfs_metainfo::Magnet::parse(magnet).unwrap();
    m.info_hash().unwrap().to_hex()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pause_select_read_remove_on_a_lazy_engine() {
    let seeder = swarm_client().await;
    let (magnet, index, readme) = seed_site(&seeder).await;
    let ih = info_hash_of(&magnet);
    let (server, router) = lazy_server(fast_config());
    assert!(!server.engine_running(), "no engine before the first add");
    let mut a = RemoteClient::local(&server, &router, ClientOptions::default());
    assert!(a.list().await.unwrap().is_empty());
    assert!(!server.engine_running(), "a list does not start the engine");

    let k = a.add(&magnet, AddOptions::default());
    a.wait_for(T, |m| m.kind() == "done" && m.torrent_key() == Some(&k))
        .await
        .unwrap();
    assert!(server.engine_running());
    assert_eq!(server.engines_started(), 1);
    let list = a.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].info_hash(), ih);
    assert!(list[0].done && list[0].has_metadata && !list[0].paused);
    assert_eq!(list[0].subscribers, 1);
    assert_eq!(list[0].torrent.files.as_ref().map(Vec::len), Some(2));

    // Pause reaches the engine; resume undoes it.
    a.pause(&ih).await.unwrap();
    let engine = server.client().unwrap();
    let handle = engine
        .engine()
        .torrent(
            &swarmfs_metainfo::Magnet::parse(&magnet)
                .unwrap()
                .info_hash()
                .unwrap(),
        )
        .unwrap();
    assert!(paused(&handle, true).await);
    assert!(a.list().await.unwrap()[0].paused);
    a.resume(&ih).await.unwrap();
    assert!(paused(&handle, false).await);
    assert!(!a.list().await.unwrap()[0].paused);

    // Directory listing and bytes of the archive.
    let root = a.read_dir(&ih, "/").await.unwrap();
    let names: Vec<(&str, bool)> = root.iter().map(|e| (e.name.as_str(), e.is_dir)).collect();
    assert_eq!(names, [("docs", true), ("index.html", false)]);
    let docs = a.read_dir(&ih, "/docs").await.unwrap();
    assert_eq!(docs[0].len, readme.len() as u64);
    let chunk = a
        .read_file(&ih, "/docs/readme.txt", 1000, 5000)
        .await
        .unwrap();
    assert_eq!(chunk.file_length, readme.len() as u64);
    assert_eq!(chunk.data, &readme[1000..6000]);
    // Clamped to MAX_READ_LEN, and short at the end.
    let big = a
        .read_file(&ih, "/index.html", 0, 10_000_000)
        .await
        .unwrap();
    assert_eq!(big.data.len() as u64, swarmfs_remote::MAX_READ_LEN);
    assert_eq!(big.data, &index[..big.data.len()]);
    let tail = a.read_file(&ih, "/index.html", 49_990, 100).await.unwrap();
    assert_eq!(tail.data, &index[49_990..]);

    // Failures are typed answers, not hangs.
    let fail = |r: Result<_, ClientError>| match r {
        Err(ClientError::Failed { message, .. }) => message,
        other => panic!("expected a failure, got {other:?}"),
    };
    let past = a
        .read_file(&ih, "/index.html", 60_000, 10)
        .await
        .map(|_| ());
    assert!(fail(past).contains("past the end"));
    assert!(!fail(a.read_dir(&ih, "/nope").await.map(|_| ())).is_empty());
    assert!(fail(a.pause("0000000000000000000000000000000000000000").await).contains("unknown"));
    assert!(fail(a.select_files(&ih, &[5]).await).contains("out of range"));
    assert!(
        fail(
            a.watch_mutable("magnet:?xt=urn:btih:00", None)
                .await
                .map(|_| ())
        )
        .contains("mutable")
    );
    a.select_files(&ih, &[0]).await.unwrap();

    // Remove with data: the follower gets an error, the list empties and the lazy engine stops.
    a.remove(&ih, true).await.unwrap();
    let e = a
        .wait_for(T, |m| m.kind() == "error" && m.torrent_key() == Some(&k))
        .await
        .unwrap();
    assert!(format!("{e:?}").contains("removed"));
    assert!(a.list().await.unwrap().is_empty());
    assert!(eventually(T, || !server.engine_running()).await);
    assert!(fail(a.remove(&ih, false).await).contains("unknown"));

    // The next add builds a new engine.
    let k2 = a.add(&magnet, AddOptions::default());
    a.wait_for(T, |m| m.kind() == "done" && m.torrent_key() == Some(&k2))
        .await
        .unwrap();
    assert_eq!(server.engines_started(), 2);
    server.shutdown().await;
    assert!(!server.engine_running());
    seeder.stop().await;
}

async fn paused(h: &swarmfs_engine::TorrentHandle, want: bool) -> bool {
    for _ in 0..100 {
        if h.stats().await.map(|s| s.paused).unwrap_or(!want) == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_engine_stops_when_the_last_client_goes() {
    let seeder = swarm_client().await;
    let (magnet, _) = seed(&seeder, "lazy", 30_000, 4).await;
    let (server, router) = lazy_server(fast_config());
    let mut a = RemoteClient::local(&server, &router, ClientOptions::default());
    let k = a.add(&magnet, AddOptions::default());
    a.wait_for(T, |m| m.kind() == "done" && m.torrent_key() == Some(&k))
        .await
        .unwrap();
    assert!(server.engine_running());
    a.destroy(None);
    // After the grace period the torrent goes, and with it the engine.
    assert!(eventually(T, || server.torrent_count() == 0).await);
    assert!(eventually(T, || !server.engine_running()).await);
    assert_eq!(server.engines_started(), 1);
    server.shutdown().await;
    seeder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_mutable_reports_each_new_version() {
    let nodes = dht_network(4).await;
    let boot: Vec<String> = nodes.iter().map(|n| n.local_addr().to_string()).collect();
    let publisher = dht_builder(&boot).build().await.unwrap();
    let keypair = Keypair::generate();
    let (v1, _) = seed(&publisher, "v1", 20_000, 1).await;
    let murl = publisher.publish(&v1, &keypair, b"").await.unwrap();

    let router = swarmfs_remote::Router::new();
    let boot2 = boot.clone();
    let server = swarmfs_remote::RemoteServer::lazy(
        move || {
            let boot = boot2.clone();
            async move { dht_builder(&boot).build().await }
        },
        router.clone(),
        fast_config(),
    );
    let hb = ClientOptions::default().heartbeat(Duration::from_millis(100));
    let mut a = RemoteClient::local(&server, &router, hb);
    let watch = a
        .watch_mutable(&murl, Some(Duration::from_millis(200)))
        .await
        .unwrap();
    assert!(
        eventually(T, || server.engine_running()).await,
        "a watch needs the engine"
    );
    let m = a
        .wait_for(T, |m| m.kind() == "swarmfs/v1/mutable-update")
        .await
        .unwrap();
    let ServerMessage::MutableUpdate {
        seq,
        info_hash,
        request_id,
        ..
    } = m
    else {
        panic!()
    };
    assert_eq!((seq, request_id.as_str()), (1, watch.as_str()));
    assert_eq!(info_hash, info_hash_of(&v1));

    let (v2, _) = seed(&publisher, "v2", 20_000, 2).await;
    publisher.publish(&v2, &keypair, b"").await.unwrap();
    let m = a
        .wait_for(T, |m| m.kind() == "swarmfs/v1/mutable-update")
        .await
        .unwrap();
    let ServerMessage::MutableUpdate { seq, info_hash, .. } = m else {
        panic!()
    };
    assert_eq!(seq, 2);
    assert_eq!(info_hash, info_hash_of(&v2));

    a.unwatch_mutable(&watch).await.unwrap();
    assert!(matches!(
        a.unwatch_mutable(&watch).await,
        Err(ClientError::Failed { .. })
    ));
    // No torrents and no watches: the engine stops.
    assert!(eventually(T, || !server.engine_running()).await);
    server.shutdown().await;
    publisher.stop().await;
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_torrent_outlives_its_clients_until_removed() {
    let seeder = swarm_client().await;
    let (magnet, _) = seed(&seeder, "kept", 30_000, 5).await;
    let ih = info_hash_of(&magnet);
    let (server, router) = lazy_server(fast_config());
    let mut a = RemoteClient::local(&server, &router, ClientOptions::default());
    let opts = AddOptions {
        keep: Some(true),
        ..AddOptions::default()
    };
    let k = a.add(&magnet, opts);
    a.wait_for(T, |m| m.kind() == "done" && m.torrent_key() == Some(&k))
        .await
        .unwrap();
    a.destroy(None);
    // Well past the grace period (300 ms) the torrent and the engine are still there.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(server.torrent_count(), 1);
    assert!(server.engine_running());
    let mut b = RemoteClient::local(&server, &router, ClientOptions::default());
    let list = b.list().await.unwrap();
    assert!(list[0].kept && list[0].subscribers == 0 && list[0].done);
    b.remove(&ih, false).await.unwrap();
    assert_eq!(server.torrent_count(), 0);
    assert!(eventually(T, || !server.engine_running()).await);
    server.shutdown().await;
    seeder.stop().await;
}

/// The client and its request futures can move between threads (a backend behind a
/// `Send` trait object can hold one).
#[tokio::test]
async fn client_and_requests_are_send() {
    fn send<T: Send>(t: T) -> T {
        t
    }
    let (server, router) = lazy_server(fast_config());
    let mut c = send(RemoteClient::local(
        &server,
        &router,
        ClientOptions::default(),
    ));
    assert!(send(c.list()).await.unwrap().is_empty());
    let e = send(c.pause("00")).await.unwrap_err();
    assert!(matches!(e, ClientError::Failed { .. }), "{e:?}");
    server.shutdown().await;
}

/// More torrents than one `swarmfs/v1/torrents` answer holds: the client pages through them with
/// `after` and gets each exactly once, in info-hash order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_past_one_answer() {
    let mut config = fast_config();
    config.max_torrents = 600;
    config.max_keys_per_client = 600;
    config.update_interval = Duration::ZERO;
    let (server, router) = lazy_server(config);
    let mut a = RemoteClient::local(&server, &router, ClientOptions::default());
    let count = swarmfs_remote::protocol::ext::MAX_LIST_ENTRIES * 2 + 3;
    let mut want: Vec<String> = (0..count as u32)
        .map(|i| {
            let mut ih = [0u8; 20];
            ih[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
            ih.iter().map(|b| format!("{b:02x}")).collect()
        })
        .collect();
    for ih in &want {
        let opts = AddOptions {
            keep: Some(true),
            ..AddOptions::default()
        };
        let k = a.add(&format!("magnet:?xt=urn:btih:{ih}"), opts);
        // Read the answer before the next add: an in-process client's queue is bounded.
        a.wait_for(T, |m| m.kind() == "infohash" && m.torrent_key() == Some(&k))
            .await
            .unwrap();
    }
    assert!(eventually(T, || server.torrent_count() == count).await);
    want.sort();
    let got: Vec<String> = a
        .list()
        .await
        .unwrap()
        .iter()
        .map(|t| t.info_hash().to_owned())
        .collect();
    assert_eq!(got, want);
    server.shutdown().await;
}
