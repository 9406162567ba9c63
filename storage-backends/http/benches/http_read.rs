//! Throughput of the HTTP backend from the loopback test origin: 16 KiB block reads (the BitTorrent
//! block size) with 8 readers in flight, with coalescing windows and without.
//!
//! `cargo bench -p swarmfs-http-storage --bench http_read`

use std::time::Instant;

use swarmfs_http_storage::testing::TestServer;
use swarmfs_http_storage::{HttpClient, HttpOptions};

const SIZE: usize = 64 << 20;
const BLOCK: usize = 16 * 1024;
const READERS: usize = 8;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let server = TestServer::start().await.expect("server");
        let data: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
        server.put("/f", data);
        for (label, window) in [
            ("no coalescing (window 0)", 0u32),
            ("coalescing, 256 KiB windows", 256 * 1024),
            ("coalescing, 1 MiB windows", 1 << 20),
        ] {
            let client = HttpClient::new(HttpOptions::default().window(window));
            let file = client.open(&server.url("/f")).await.expect("open");
            let before = server.requests();
            let start = Instant::now();
            let mut tasks = Vec::new();
            for r in 0..READERS {
                let file = file.clone();
                tasks.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; BLOCK];
                    // Reader r reads every READERS-th block: together they sweep the file in
                    // order, like a peer's request pipeline.
                    let mut b = r;
                    while b * BLOCK < SIZE {
                        file.read_at((b * BLOCK) as u64, &mut buf)
                            .await
                            .expect("read");
                        b += READERS;
                    }
                }));
            }
            for t in tasks {
                t.await.expect("reader");
            }
            let secs = start.elapsed().as_secs_f64();
            let stats = client.stats();
            println!(
                "{label:32} {:8.1} MiB/s  {:6} requests  {:.3} origin bytes per byte read",
                SIZE as f64 / (1 << 20) as f64 / secs,
                server.requests() - before,
                stats.bytes_fetched as f64 / SIZE as f64,
            );
        }
    });
}
