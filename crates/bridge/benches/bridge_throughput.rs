//! Leecher throughput from a bridge (origin: nginx on loopback, else the in-process test
//! server) versus the same leecher from an engine seeding the same bytes from memory, and from
//! the web seed alone (the `WebSeeder` driving the origin, no peer), interleaved over several
//! rounds in one run; origin bytes fetched per byte served; process CPU seconds per round.
//!
//! `cargo bench -p swarmfs-bridge --bench bridge_throughput` (`BRIDGE_BENCH_MIB` sets the size,
//! default 64; `BRIDGE_BENCH_ROUNDS` the rounds, default 3; `BRIDGE_BENCH_ORIGIN=test` forces
//! the in-process origin).

#[path = "../tests/support/nginx.rs"]
mod nginx;

use std::time::{Duration, Instant};

use swarmfs_bridge::{Bridge, BridgeOptions, WebSeedOptions, add_torrent_with_web_seeds};
use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_http_storage::testing::TestServer;
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, PeerAddr, Torrent};
use swarmfs_storage::{StorageFactory, StoragePath};

async fn engine() -> Engine {
    Engine::builder()
        .listen_addr("127.0.0.1:0".parse().expect("addr"))
        .build()
        .await
        .expect("engine")
}

/// CPU seconds (user + system) of this process so far, from /proc (0 elsewhere).
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// One timed download: MiB/s and CPU seconds of this process.
struct Run {
    mib_s: f64,
    cpu: f64,
}

async fn leech(magnet: &Magnet, len: usize) -> Run {
    let e = engine().await;
    let h = e
        .add_magnet(magnet, MemoryStorage::factory(), TorrentOptions::new())
        .expect("add");
    let (start, cpu) = (Instant::now(), cpu_secs());
    tokio::time::timeout(Duration::from_secs(600), h.wait_done())
        .await
        .expect("in time")
        .expect("done");
    let run = Run {
        mib_s: len as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64(),
        cpu: cpu_secs() - cpu,
    };
    e.shutdown().await;
    run
}

async fn web_seed_only(torrent: &Torrent, len: usize) -> (Run, u64) {
    let e = engine().await;
    let (start, cpu) = (Instant::now(), cpu_secs());
    let (h, seeder) = add_torrent_with_web_seeds(
        &e,
        torrent,
        MemoryStorage::factory(),
        TorrentOptions::new(),
        WebSeedOptions::default().concurrency(4),
    )
    .expect("add");
    tokio::time::timeout(Duration::from_secs(600), h.wait_done())
        .await
        .expect("in time")
        .expect("done");
    let run = Run {
        mib_s: len as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64(),
        cpu: cpu_secs() - cpu,
    };
    let stats = seeder.stop().await;
    e.shutdown().await;
    (run, stats.bytes_fetched)
}

fn summary(name: &str, runs: &[Run]) {
    let mut v: Vec<f64> = runs.iter().map(|r| r.mib_s).collect();
    v.sort_by(f64::total_cmp);
    let mut c: Vec<f64> = runs.iter().map(|r| r.cpu).collect();
    c.sort_by(f64::total_cmp);
    println!(
        "{name:<30} {:8.1} MiB/s median ({:.1}-{:.1}), CPU {:.2} s median ({:.2}-{:.2})",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1],
        c[c.len() / 2],
        c[0],
        c[c.len() - 1]
    );
}

fn main() {
    let mib: usize = std::env::var("BRIDGE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let rounds: usize = std::env::var("BRIDGE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let want_nginx = std::env::var("BRIDGE_BENCH_ORIGIN").map_or(true, |v| v != "test");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let len = mib << 20;
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
        let nginx = want_nginx.then(nginx::Nginx::start).flatten();
        let test_server = TestServer::start().await.expect("server");
        let url = match &nginx {
            Some(n) => {
                n.put("/bench.bin", &data);
                n.url("/bench.bin")
            }
            None => {
                test_server.put("/bench.bin", data.clone());
                test_server.url("/bench.bin")
            }
        };
        let origin = if nginx.is_some() {
            "nginx (loopback)"
        } else {
            "in-process test server"
        };

        let bridging = engine().await;
        let t = Instant::now();
        let bridge = Bridge::seed_urls(&bridging, std::slice::from_ref(&url), &BridgeOptions::default(), |_, _| {})
            .await
            .expect("bridge");
        let build_secs = t.elapsed().as_secs_f64();
        let streamed = bridge.build_stats().expect("built from urls").bytes_fetched;
        let bridge_magnet = Magnet::parse(&bridge.magnet()).expect("magnet");
        let info = bridge.torrent().info().clone();

        // The same torrent seeded from memory by a plain engine.
        let local = engine().await;
        let storage = MemoryStorage::factory();
        let path = StoragePath::new(["bench.bin"]).expect("path");
        let f = storage.open(&path).await.expect("open");
        f.write_at(0, &data).await.expect("write");
        let h = local
            .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
            .expect("add");
        h.wait_done().await.expect("local seeder verified");
        let mut local_magnet = Magnet::from_info_hash(info.info_hash());
        local_magnet.peers.push(PeerAddr::Ip(local.listen_addr()));
        let mut web_torrent = Torrent::new(info.clone());
        web_torrent.set_url_list(std::slice::from_ref(&url));

        let (mut from_bridge, mut from_local, mut from_web) = (Vec::new(), Vec::new(), Vec::new());
        let mut web_fetched = 0;
        for _ in 0..rounds {
            from_bridge.push(leech(&bridge_magnet, len).await);
            from_local.push(leech(&local_magnet, len).await);
            let (run, fetched) = web_seed_only(&web_torrent, len).await;
            from_web.push(run);
            web_fetched += fetched;
        }
        let fetched = bridge.http_stats().bytes_fetched;
        let served = bridge.verify_stats().bytes_served;

        println!(
            "payload {mib} MiB, piece length {} KiB, origin {origin}, {rounds} interleaved rounds",
            info.piece_length() / 1024
        );
        println!(
            "bridge build (stream + hash)   {:8.1} MiB/s ({streamed} bytes streamed)",
            mib as f64 / build_secs
        );
        summary("leecher from bridge", &from_bridge);
        summary("leecher from local seeder", &from_local);
        summary("web seed only (WebSeeder, 4)", &from_web);
        println!(
            "bridge: origin bytes fetched per byte served {:.3} ({fetched} fetched, {served} served)",
            fetched as f64 / served.max(1) as f64,
        );
        println!(
            "web seed: origin bytes fetched per byte downloaded {:.3}",
            web_fetched as f64 / (len * rounds) as f64
        );
        local.shutdown().await;
        bridging.shutdown().await;
    });
}
