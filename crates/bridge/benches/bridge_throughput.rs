//! Leecher throughput from a bridge (origin: the loopback test server) versus the same leecher
//! from an engine seeding the same bytes from memory, in one run; and origin bytes fetched per
//! byte served.
//!
//! `cargo bench -p swarmfs-bridge --bench bridge_throughput` (`BRIDGE_BENCH_MIB` sets the size,
//! default 64).

use std::time::{Duration, Instant};

use swarmfs_bridge::{Bridge, BridgeOptions};
use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_http_storage::testing::TestServer;
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, PeerAddr};
use swarmfs_storage::{StorageFactory, StoragePath};

async fn engine() -> Engine {
    Engine::builder()
        .listen_addr("127.0.0.1:0".parse().expect("addr"))
        .build()
        .await
        .expect("engine")
}

async fn leech(magnet: &Magnet, len: usize) -> f64 {
    let e = engine().await;
    let h = e
        .add_magnet(magnet, MemoryStorage::factory(), TorrentOptions::new())
        .expect("add");
    let start = Instant::now();
    tokio::time::timeout(Duration::from_secs(600), h.wait_done())
        .await
        .expect("in time")
        .expect("done");
    let secs = start.elapsed().as_secs_f64();
    e.shutdown().await;
    len as f64 / (1 << 20) as f64 / secs
}

fn main() {
    let mib: usize = std::env::var("BRIDGE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let len = mib << 20;
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
        let server = TestServer::start().await.expect("server");
        server.put("/bench.bin", data.clone());

        let bridging = engine().await;
        let t = Instant::now();
        let bridge = Bridge::seed_urls(
            &bridging,
            &[server.url("/bench.bin")],
            &BridgeOptions::default(),
            |_, _| {},
        )
        .await
        .expect("bridge");
        let build_secs = t.elapsed().as_secs_f64();
        let streamed = bridge.build_stats().expect("built from urls").bytes_fetched;
        let magnet = Magnet::parse(&bridge.magnet()).expect("magnet");
        let from_bridge = leech(&magnet, len).await;
        let fetched = bridge.http_stats().bytes_fetched;
        let served = bridge.verify_stats().bytes_served;

        // The same torrent seeded from memory by a plain engine.
        let local = engine().await;
        let storage = MemoryStorage::factory();
        let info = bridge.torrent().info().clone();
        let path = StoragePath::new(["bench.bin"]).expect("path");
        let f = storage.open(&path).await.expect("open");
        f.write_at(0, &data).await.expect("write");
        let h = local
            .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
            .expect("add");
        h.wait_metadata().await.expect("metadata");
        let mut m = Magnet::from_info_hash(info.info_hash());
        m.peers.push(PeerAddr::Ip(local.listen_addr()));
        let from_local = leech(&m, len).await;

        println!(
            "payload {mib} MiB, piece length {} KiB",
            info.piece_length() / 1024
        );
        println!(
            "bridge build (stream + hash)   {:8.1} MiB/s ({streamed} bytes streamed)",
            mib as f64 / build_secs
        );
        println!("leecher from bridge            {from_bridge:8.1} MiB/s");
        println!("leecher from local seeder      {from_local:8.1} MiB/s");
        println!(
            "origin bytes fetched per byte served {:.3} ({} fetched, {} served)",
            fetched as f64 / served.max(1) as f64,
            fetched,
            served
        );
        local.shutdown().await;
        bridging.shutdown().await;
    });
}
