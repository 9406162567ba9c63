//! Rendezvous figures on this machine: server memory per 10 000 offers, queries per second,
//! and the time from adding a torrent to its first peer through the server.
//!
//! `cargo bench -p swarmfs-rendezvous --bench rendezvous`

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{InfoHash, TorrentBuilder};
use swarmfs_rendezvous::api::{PublishRequest, QueryRequest};
use swarmfs_rendezvous::{
    Limits, RendezvousClient, RendezvousDiscovery, RendezvousOptions, Server,
};

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}

async fn server() -> Server {
    let mut limits = Limits::default();
    limits.register_burst = 1e9;
    limits.rate_burst = 1e9;
    let mut b = Server::builder();
    b.listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .limits(limits);
    b.bind().await.expect("bind")
}

async fn memory_per_10k_offers() {
    let s = server().await;
    let c = RendezvousClient::new(&s.url()).expect("client");
    let base = rss_kib();
    let mut creds = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        creds.push(c.register().await.expect("register"));
    }
    let after_peers = rss_kib();
    let t = Instant::now();
    for (i, cr) in creds.iter().enumerate() {
        let topic = InfoHash([(i % 251) as u8; 20]);
        let req = PublishRequest {
            addrs: vec![SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 6881))],
            signal: None,
            ttl_secs: Some(600),
        };
        c.publish(cr, &topic, &req).await.expect("publish");
    }
    let publish_secs = t.elapsed().as_secs_f64();
    let after_offers = rss_kib();
    let st = s.stats();
    println!(
        "memory: 10000 peers +{} KiB RSS, then 10000 offers on {} topics +{} KiB RSS ({:.0} B/offer); \
         publishes {:.0}/s (one connection each)",
        after_peers.saturating_sub(base),
        st.topics,
        after_offers.saturating_sub(after_peers),
        after_offers.saturating_sub(after_peers) as f64 * 1024.0 / 10_000.0,
        10_000.0 / publish_secs
    );
}

async fn queries_per_second() {
    let s = server().await;
    let c = RendezvousClient::new(&s.url()).expect("client");
    let topic = InfoHash([9; 20]);
    let mut creds = Vec::new();
    for i in 0..50u16 {
        let cr = c.register().await.expect("register");
        let req = PublishRequest {
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], 10_000 + i))],
            signal: None,
            ttl_secs: Some(600),
        };
        c.publish(&cr, &topic, &req).await.expect("publish");
        creds.push(cr);
    }
    let done = Arc::new(AtomicU64::new(0));
    let secs = 3.0;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for cr in creds.iter().take(8) {
        let c = c.clone();
        let cr = cr.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let q = QueryRequest {
                bloom: None,
                limit: Some(20),
            };
            while start.elapsed().as_secs_f64() < secs {
                c.query(&cr, &topic, &q).await.expect("query");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let n = done.load(Ordering::Relaxed);
    println!(
        "queries: {:.0}/s (8 concurrent clients, one connection per query, 20 of 50 offers each, \
         client and server on the same 2 cores)",
        n as f64 / start.elapsed().as_secs_f64()
    );
}

async fn time_to_first_peer() {
    let s = server().await;
    let data = vec![7u8; 64 * 1024];
    let info = TorrentBuilder::new()
        .piece_length(16 * 1024)
        .build_single("f", &data)
        .expect("torrent")
        .into_info();
    let engine = |src: &RendezvousDiscovery| {
        let mut b = Engine::builder();
        b.discovery(Arc::new(src.clone()));
        b
    };
    let seed_src = RendezvousDiscovery::new(RendezvousOptions::new(s.url())).expect("src");
    let seeder = engine(&seed_src).build().await.expect("engine");
    let _t = seeder
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new(),
        )
        .expect("add");
    while seed_src.credentials().is_none() || s.stats().offers == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut times = Vec::new();
    for _ in 0..9 {
        let src = RendezvousDiscovery::new(RendezvousOptions::new(s.url())).expect("src");
        let e = engine(&src).build().await.expect("engine");
        let t0 = Instant::now();
        let _t = e
            .add_info(
                info.clone(),
                MemoryStorage::factory(),
                TorrentOptions::new(),
            )
            .expect("add");
        while src
            .stats()
            .torrents
            .first()
            .is_none_or(|t| t.peer_count == 0)
        {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        times.push(t0.elapsed());
        src.destroy().await;
        e.shutdown().await;
    }
    times.sort();
    println!(
        "time from add to first peer through rendezvous (new client: register + publish + query): \
         median {:?}, min {:?}, max {:?} over {} runs",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len()
    );
    seed_src.destroy().await;
    seeder.shutdown().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        memory_per_10k_offers().await;
        queries_per_second().await;
        time_to_first_peer().await;
    });
}
