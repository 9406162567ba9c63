//! Peer discovery end to end on loopback: a bare magnet through a private DHT, peer exchange,
//! LSD multicast on the loopback interface, and a captured libtorrent LSD announce.

mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use swarmfs_dht::Dht;
use swarmfs_engine::{
    Discovery, DiscoveryTorrent, Engine, EngineBuilder, PeerSource, TorrentEvent, TorrentOptions,
};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Info, InfoHash, Magnet};
use swarmfs_wire::{HANDSHAKE_LEN, Handshake, LsdAnnounce};
use tokio::io::AsyncReadExt;

fn builder() -> EngineBuilder {
    let mut b = Engine::builder();
    b.idle_timeout(Duration::from_secs(30));
    b
}

async fn seed_on(b: &EngineBuilder, info: &Info, payload: &[u8]) -> Engine {
    let e = b.build().await.expect("engine");
    let storage = filled_storage(info, payload).await;
    let t = e
        .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
        .expect("add seeder");
    timeout(t.wait_done()).await.expect("seeder complete");
    e
}

/// A private DHT of `n` swarmfs nodes on 127.0.0.1.
async fn private_dht(n: usize) -> Vec<Dht> {
    let first = Dht::builder().build().await.expect("dht");
    let mut nodes = vec![first.clone()];
    for _ in 1..n {
        let node = Dht::builder()
            .bootstrap(&[first.local_addr()])
            .build()
            .await
            .expect("dht");
        nodes.push(node);
    }
    for node in &nodes {
        node.bootstrapped().await.expect("bootstrapped");
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_magnet_is_fetched_through_a_private_dht() {
    let nodes = private_dht(10).await;
    let boot: Vec<SocketAddr> = nodes.iter().take(3).map(Dht::local_addr).collect();
    let payload = data(2 << 20, 61);
    let info = info(&payload, 32 * 1024);
    let mut b = builder();
    b.dht_bootstrap(&boot)
        .dht_retry_interval(Duration::from_millis(300));
    let seed = seed_on(&b, &info, &payload).await;
    assert!(seed.dht().is_some());

    // Only the info-hash: no x.pe, no peers given.
    let magnet = Magnet::parse(&format!(
        "magnet:?xt=urn:btih:{}",
        info.info_hash().to_hex()
    ))
    .expect("magnet");
    assert!(magnet.peers.is_empty());
    let leech = b.build().await.expect("leecher");
    let t = leech
        .add_magnet(&magnet, MemoryStorage::factory(), TorrentOptions::new())
        .expect("add magnet");
    let got = timeout(t.wait_metadata()).await.expect("metadata");
    assert_eq!(got.as_bytes(), info.as_bytes());
    timeout(t.wait_done()).await.expect("done");
    assert_eq!(read_all(&t, payload.len()).await, payload);
    assert_eq!(
        t.verified().expect("bits").count_ones(),
        info.geometry().piece_count()
    );

    // The leecher announced too: a DHT lookup finds both engines' listen ports.
    let found = nodes[9]
        .get_peers(swarmfs_dht::Id(*info.info_hash().as_bytes()))
        .expect("lookup")
        .collect()
        .await;
    assert!(found.contains(&seed.listen_addr()), "{found:?}");
    assert!(found.contains(&leech.listen_addr()), "{found:?}");

    // BEP 5 port messages: each engine's DHT node entered the other's routing table.
    let leech_dht = leech.dht().expect("dht").local_addr();
    let mut known = false;
    for _ in 0..50 {
        let table = seed
            .dht()
            .expect("dht")
            .routing_nodes()
            .await
            .expect("nodes");
        if table.iter().any(|n| n.addr == leech_dht) {
            known = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        known,
        "the leecher's dht node never reached the seeder's table"
    );

    leech.shutdown().await;
    seed.shutdown().await;
    assert_eq!(leech.live_tasks(), 0);
    assert_eq!(seed.live_tasks(), 0);
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leecher_learns_a_peer_only_through_pex() {
    let payload = data(256 * 1024, 62);
    let info = info(&payload, 16 * 1024);
    let mut b = builder();
    b.pex_interval(Duration::from_millis(200));
    let seed = seed_on(&b, &info, &payload).await;

    // B knows only the seeder and does not speak PEX (so it can learn nobody itself).
    let mut no_pex = builder();
    no_pex.pex(false);
    let engine_b = no_pex.build().await.expect("b");
    let tb = engine_b
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(seed.listen_addr()),
        )
        .expect("add b");
    timeout(tb.wait_done()).await.expect("b done");

    // A knows only the seeder; the seeder's PEX tells it about B.
    let engine_a = b.build().await.expect("a");
    let ta = engine_a
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(seed.listen_addr()),
        )
        .expect("add a");
    let mut events = ta.events();
    // One deadline for the whole wait: reconnects to the seeder keep events coming.
    timeout(async {
        loop {
            match events.recv().await.expect("events") {
                TorrentEvent::PeerConnected(addr) if addr == engine_b.listen_addr() => break,
                _ => {}
            }
        }
    })
    .await;
    timeout(ta.wait_done()).await.expect("a done");
    for e in [engine_a, engine_b, seed] {
        e.shutdown().await;
        assert_eq!(e.live_tasks(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pex_is_never_sent_for_a_private_torrent() {
    let payload = data(128 * 1024, 63);
    let info = swarmfs_metainfo::TorrentBuilder::new()
        .piece_length(16 * 1024)
        .private(true)
        .build_single("file.bin", &payload)
        .expect("build")
        .into_info();
    assert!(info.is_private());
    let mut b = builder();
    b.pex_interval(Duration::from_millis(100));
    let seed = seed_on(&b, &info, &payload).await;
    let mut no_pex = builder();
    no_pex.pex(false);
    let engine_b = no_pex.build().await.expect("b");
    let tb = engine_b
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(seed.listen_addr()),
        )
        .expect("add b");
    timeout(tb.wait_done()).await.expect("b done");
    let engine_a = b.build().await.expect("a");
    let ta = engine_a
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(seed.listen_addr()),
        )
        .expect("add a");
    let mut events = ta.events();
    timeout(ta.wait_done()).await.expect("a done");
    // Many PEX intervals later A still knows only the seeder.
    tokio::time::sleep(Duration::from_secs(1)).await;
    while let Ok(ev) = events.try_recv() {
        if let TorrentEvent::PeerConnected(addr) = ev {
            assert_eq!(
                addr,
                seed.listen_addr(),
                "learnt a peer of a private torrent"
            );
        }
    }
    for e in [engine_a, engine_b, seed] {
        e.shutdown().await;
    }
}

/// A UDP port free right now (for an LSD group port of one test).
fn free_udp_port() -> u16 {
    UdpSocket::bind(("127.0.0.1", 0))
        .and_then(|s| s.local_addr())
        .expect("udp port")
        .port()
}

fn lsd_builder(port: u16) -> EngineBuilder {
    let mut b = builder();
    b.lsd(true)
        .lsd_group(SocketAddr::from((Ipv4Addr::new(239, 192, 152, 143), port)))
        .lsd_interface(Ipv4Addr::LOCALHOST)
        .lsd_min_gap(Duration::from_millis(100))
        .lsd_announce_interval(Duration::from_millis(500));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lsd_multicast_on_loopback_finds_the_seeder() {
    let port = free_udp_port();
    let b = lsd_builder(port);
    let payload = data(512 * 1024, 64);
    let info = info(&payload, 16 * 1024);
    let seed = seed_on(&b, &info, &payload).await;
    let leech = b.build().await.expect("leecher");
    let t = leech
        .add_magnet(
            &Magnet::from_info_hash(info.info_hash()),
            MemoryStorage::factory(),
            TorrentOptions::new(),
        )
        .expect("add");
    timeout(t.wait_done()).await.expect("done via lsd");
    assert_eq!(read_all(&t, payload.len()).await, payload);
    leech.shutdown().await;
    seed.shutdown().await;
    assert_eq!(leech.live_tasks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_libtorrent_lsd_announce_becomes_a_peer() {
    let raw = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/lsd/lsd_announce_libtorrent.bin"),
    );
    let Ok(raw) = raw else {
        println!("SKIP lsd fixture: ../shared/fixtures/lsd/lsd_announce_libtorrent.bin not found");
        return;
    };
    let announce = LsdAnnounce::parse(&raw).expect("fixture parses");
    let ih: InfoHash = announce.info_hashes[0];
    let peer_port = announce.port.get();
    // Stand in for the libtorrent peer on the port it announced.
    let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", peer_port)).await else {
        println!("SKIP lsd fixture: port {peer_port} is busy");
        return;
    };
    let port = free_udp_port();
    let engine = lsd_builder(port).build().await.expect("engine");
    let _t = engine
        .add_magnet(
            &Magnet::from_info_hash(ih),
            MemoryStorage::factory(),
            TorrentOptions::new(),
        )
        .expect("add");
    // The captured bytes, unchanged, sent to the LSD port from loopback.
    let tx = UdpSocket::bind(("127.0.0.1", 0)).expect("udp");
    tx.send_to(&raw, ("127.0.0.1", port)).expect("send");
    let (mut stream, _) = timeout(listener.accept()).await.expect("dialled");
    let mut buf = [0u8; HANDSHAKE_LEN];
    timeout(stream.read_exact(&mut buf))
        .await
        .expect("handshake");
    let (hs, _) = Handshake::decode(&buf).expect("valid").expect("complete");
    assert_eq!(hs.info_hash, ih);
    assert_eq!(hs.peer_id, engine.peer_id());
    engine.shutdown().await;
}

/// A discovery source plugged in from outside: it offers a fixed address.
#[derive(Debug)]
struct Fixed {
    addr: SocketAddr,
    seen: Mutex<Vec<InfoHash>>,
}

impl Discovery for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }

    fn add_torrent(&self, torrent: DiscoveryTorrent) {
        self.seen.lock().expect("lock").push(torrent.info_hash);
        assert!(torrent.sink.offer(self.addr, PeerSource::Other("fixed")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_discovery_source_feeds_torrents() {
    let payload = data(256 * 1024, 65);
    let info = info(&payload, 16 * 1024);
    let seed = seed_on(&builder(), &info, &payload).await;
    let source = Arc::new(Fixed {
        addr: seed.listen_addr(),
        seen: Mutex::new(Vec::new()),
    });
    let mut b = builder();
    b.discovery(source.clone());
    let leech = b.build().await.expect("leecher");
    let t = leech
        .add_magnet(
            &Magnet::from_info_hash(info.info_hash()),
            MemoryStorage::factory(),
            TorrentOptions::new(),
        )
        .expect("add");
    timeout(t.wait_done()).await.expect("done");
    assert_eq!(*source.seen.lock().expect("lock"), vec![info.info_hash()]);
    leech.shutdown().await;
    seed.shutdown().await;
}
