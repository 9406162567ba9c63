//! Engines with DHT and LSD off find each other only through a rendezvous server on loopback
//! and complete transfers; the bloom filter stops repeats; a client that leaves is withdrawn.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use swarmfs_engine::{Engine, TorrentHandle, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::Info;
use swarmfs_rendezvous::{Limits, RendezvousDiscovery, RendezvousOptions, Server};

fn source(server: &Server) -> RendezvousDiscovery {
    let opts = RendezvousOptions::new(server.url())
        .refresh_interval(Duration::from_millis(200))
        .seen_ttl(Duration::from_secs(600))
        .debug(true);
    RendezvousDiscovery::new(opts).expect("source")
}

async fn engine_with(src: &RendezvousDiscovery) -> Engine {
    let mut b = Engine::builder();
    // DHT and LSD are off by default; PEX off too, so every first contact is the server's.
    b.idle_timeout(Duration::from_secs(30))
        .pex(false)
        .discovery(Arc::new(src.clone()));
    b.build().await.expect("engine")
}

async fn seed(e: &Engine, info: &Info, payload: &[u8]) -> TorrentHandle {
    let storage = filled_storage(info, payload).await;
    let t = e
        .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
        .expect("add seeder");
    timeout(t.wait_done()).await.expect("seeder complete");
    t
}

async fn leech(e: &Engine, info: &Info) -> TorrentHandle {
    e.add_info(
        info.clone(),
        MemoryStorage::factory(),
        TorrentOptions::new(),
    )
    .expect("add leecher")
}

async fn read_all(t: &TorrentHandle, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    t.read_range(0, &mut buf).await.expect("read");
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_meet_through_the_server_and_transfer() {
    let server = server(Limits::default()).await;
    let payload = data(1 << 20, 7);
    let info = info(&payload, 32 * 1024);

    let seeder_src = source(&server);
    let seeder = engine_with(&seeder_src).await;
    seed(&seeder, &info, &payload).await;

    let leecher_src = source(&server);
    let leecher = engine_with(&leecher_src).await;
    let t = leech(&leecher, &info).await;
    timeout(t.wait_done()).await.expect("leecher complete");
    assert_eq!(read_all(&t, payload.len()).await, payload);

    // Both registered, each sees the other once; later rounds are answered with the other
    // filtered out by the bloom filter instead of returned again.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let ih = info.info_hash();
    for src in [&seeder_src, &leecher_src] {
        let st = src.stats();
        assert_eq!(st.active_torrents, 1);
        assert!(st.peer_id.is_some());
        assert_eq!(st.torrents[0].info_hash, ih);
        assert_eq!(st.torrents[0].peer_count, 1);
        assert!(src.credentials().is_some());
    }
    let st = server.stats();
    assert_eq!(st.registrations, 2);
    assert_eq!(
        st.offers_returned, 2,
        "each peer was returned exactly once: {st:?}"
    );
    assert!(
        st.offers_filtered >= 2,
        "later rounds filter the seen peer: {st:?}"
    );
    assert_eq!(leecher_src.discover_peers(&ih).await.expect("on demand"), 0);

    // A client that goes away withdraws its offer.
    leecher.shutdown().await;
    timeout(async {
        while server.stats().offers != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(server.stats().offers_withdrawn, 1);
    seeder_src.destroy().await;
    assert_eq!(server.stats().offers, 0);
    assert_eq!(seeder_src.stats().active_torrents, 0);
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_engines_all_complete_through_the_server() {
    let server = server(Limits::default()).await;
    let payload = data(512 * 1024, 11);
    let info = info(&payload, 16 * 1024);

    let seeder_src = source(&server);
    let seeder = engine_with(&seeder_src).await;
    seed(&seeder, &info, &payload).await;

    let mut leechers = Vec::new();
    for _ in 0..9 {
        let src = source(&server);
        let e = engine_with(&src).await;
        let t = leech(&e, &info).await;
        leechers.push((src, e, t));
    }
    for (_, _, t) in &leechers {
        timeout(t.wait_done()).await.expect("leecher complete");
        assert_eq!(read_all(t, payload.len()).await, payload);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let st = server.stats();
    assert_eq!((st.registrations, st.offers), (10, 10));
    // Every peer is returned to each other peer at most once (45 pairs, both ways).
    assert!(st.offers_returned <= 90, "{st:?}");
    assert!(st.offers_filtered > 0, "{st:?}");
    for (src, e, _) in &leechers {
        assert_eq!(src.stats().torrents[0].peer_count, 9);
        src.destroy().await;
        e.shutdown().await;
    }
    seeder_src.destroy().await;
    seeder.shutdown().await;
    assert_eq!(server.stats().offers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_credentials_are_reused_and_stale_ones_replaced() {
    let server = server(Limits::default()).await;
    let payload = data(64 * 1024, 3);
    let info = info(&payload, 16 * 1024);

    let first = source(&server);
    let e = engine_with(&first).await;
    seed(&e, &info, &payload).await;
    first
        .discover_peers(&info.info_hash())
        .await
        .expect("round");
    let saved = first.credentials().expect("registered");
    first.destroy().await;
    e.shutdown().await;

    let opts = RendezvousOptions::new(server.url()).credentials(saved.clone());
    let again = RendezvousDiscovery::new(opts).expect("source");
    let e = engine_with(&again).await;
    seed(&e, &info, &payload).await;
    again
        .discover_peers(&info.info_hash())
        .await
        .expect("round");
    assert_eq!(again.credentials(), Some(saved.clone()));
    assert_eq!(server.stats().registrations, 1);
    again.destroy().await;
    e.shutdown().await;

    // Credentials a server does not know (another server, a restart) are replaced.
    let other = support::server(Limits::default()).await;
    let opts = RendezvousOptions::new(other.url()).credentials(saved.clone());
    let moved = RendezvousDiscovery::new(opts).expect("source");
    let e = engine_with(&moved).await;
    seed(&e, &info, &payload).await;
    moved
        .discover_peers(&info.info_hash())
        .await
        .expect("round");
    let fresh = moved.credentials().expect("registered");
    assert_ne!(fresh, saved);
    assert_eq!(other.stats().registrations, 1);
    moved.destroy().await;
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_stops_being_returned_after_its_ttl() {
    let server = server(Limits::default()).await;
    let url = server.url();
    let payload = data(64 * 1024, 5);
    let info = info(&payload, 16 * 1024);
    let ih = info.info_hash();

    // A seeder in its own runtime, dropped without any cleanup (as if the process died).
    let (seeded_tx, seeded_rx) = std::sync::mpsc::channel();
    let (crash_tx, crash_rx) = tokio::sync::oneshot::channel::<()>();
    let crashed = {
        let info = info.clone();
        let payload = payload.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("rt");
            rt.block_on(async {
                let opts = RendezvousOptions::new(url)
                    .refresh_interval(Duration::from_secs(60))
                    .offer_ttl(Duration::from_secs(1));
                let src = RendezvousDiscovery::new(opts).expect("source");
                let e = engine_with(&src).await;
                seed(&e, &info, &payload).await;
                src.discover_peers(&ih).await.expect("round");
                seeded_tx.send(()).expect("send");
                let _ = crash_rx.await;
            });
            // Every task of that runtime is dropped here, with no withdraw.
            rt.shutdown_background();
        })
    };
    tokio::task::spawn_blocking(move || seeded_rx.recv().expect("seeded"))
        .await
        .expect("join");
    let c = swarmfs_rendezvous::RendezvousClient::new(&server.url()).expect("client");
    let me = c.register().await.expect("register");
    let q = swarmfs_rendezvous::api::QueryRequest::default();
    assert_eq!(c.query(&me, &ih, &q).await.expect("query").offers.len(), 1);
    crash_tx.send(()).expect("crash");
    tokio::task::spawn_blocking(move || crashed.join().expect("thread"))
        .await
        .expect("join");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        c.query(&me, &ih, &q)
            .await
            .expect("query")
            .offers
            .is_empty()
    );
    let st = server.stats();
    assert_eq!((st.offers_expired, st.offers_withdrawn), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_peers_per_torrent_are_taken() {
    let server = server(Limits::default()).await;
    let payload = data(64 * 1024, 9);
    let info = info(&payload, 16 * 1024);
    let ih = info.info_hash();
    let c = swarmfs_rendezvous::RendezvousClient::new(&server.url()).expect("client");
    for port in 1..=5u16 {
        let cr = c.register().await.expect("register");
        let req = swarmfs_rendezvous::api::PublishRequest {
            addrs: vec![std::net::SocketAddr::from(([127, 0, 0, 1], port))],
            signal: None,
            ttl_secs: Some(60),
        };
        c.publish(&cr, &ih, &req).await.expect("publish");
    }
    let opts = RendezvousOptions::new(server.url())
        .max_peers_per_torrent(3)
        .refresh_interval(Duration::from_secs(60));
    let src = RendezvousDiscovery::new(opts).expect("source");
    let e = engine_with(&src).await;
    let _t = leech(&e, &info).await;
    timeout(async {
        while src
            .stats()
            .torrents
            .first()
            .is_none_or(|t| t.peer_count < 3)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Full: further rounds publish but do not query.
    assert_eq!(src.discover_peers(&ih).await.expect("round"), 0);
    assert_eq!(src.stats().torrents[0].peer_count, 3);
    let st = server.stats();
    assert_eq!((st.queries, st.offers_returned), (1, 3));
    src.destroy().await;
    e.shutdown().await;
}
