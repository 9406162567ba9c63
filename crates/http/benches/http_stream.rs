//! Streaming figures over loopback (a bench binary, not criterion): a seeder client serves a
//! file of `SWARMFS_BENCH_MIB` MiB (default 256) from disk; for each run a fresh reader client
//! (memory storage, nothing downloaded) serves it over HTTP.
//!
//! - time to first byte of `Range: bytes=<50%>-`, median of 10 fresh readers;
//! - throughput of a whole-file GET through a fresh reader.
//!
//! Run: `cargo bench -p swarmfs-http --bench http_stream` (`SWARMFS_BENCH_MIB=1024` for 1 GiB).

use std::io::Write;
use std::time::{Duration, Instant};

use swarmfs::{Client, LookupOptions};
use swarmfs_http::StreamServer;
use swarmfs_memory::MemoryStorage;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn client() -> Client {
    Client::builder()
        .dht(false)
        .lsd(false)
        .storage(MemoryStorage::factory())
        .build()
        .await
        .expect("client")
}

/// Sends a GET and returns (time to the first body byte, body bytes read) reading all.
async fn fetch(addr: std::net::SocketAddr, range: Option<u64>, read_all: bool) -> (Duration, u64) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let range = range.map_or(String::new(), |r| format!("Range: bytes={r}-\r\n"));
    let req = format!("GET /bench.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{range}\r\n");
    let started = Instant::now();
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 1 << 20];
    let mut head = Vec::new();
    let mut first = None;
    let mut body = 0u64;
    loop {
        let n = s.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        if first.is_none() {
            head.extend_from_slice(&buf[..n]);
            if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                let extra = (head.len() - p - 4) as u64;
                if extra > 0 {
                    first = Some(started.elapsed());
                    body += extra;
                    if !read_all {
                        break;
                    }
                }
            }
            continue;
        }
        body += n as u64;
    }
    (first.unwrap_or_else(|| started.elapsed()), body)
}

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::var("SWARMFS_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.bin");
    {
        let mut f = std::fs::File::create(&path).expect("create");
        let chunk: Vec<u8> = (0..1 << 20)
            .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for i in 0..mib {
            let mut c = chunk.clone();
            c[..8].copy_from_slice(&i.to_le_bytes());
            f.write_all(&c).expect("write");
        }
    }
    let seeder = client().await;
    let t = Instant::now();
    let magnet = seeder.seed_path(&path).await.expect("seed");
    println!("seeder hashed {mib} MiB in {:.2?}", t.elapsed());
    let len = mib << 20;

    let mut ttfb = Vec::new();
    for _ in 0..10 {
        let reader = client().await;
        let archive = reader
            .lookup(&magnet, LookupOptions::default().seed(false))
            .await
            .expect("lookup");
        let server = StreamServer::bind("127.0.0.1:0".parse().expect("addr"), archive.clone())
            .await
            .expect("bind");
        let addr = server.local_addr();
        let handle = server.spawn();
        let (first, _) = fetch(addr, Some(len / 2), false).await;
        ttfb.push(first);
        handle.shutdown().await;
        let _ = archive.close().await;
        reader.stop().await;
    }
    ttfb.sort();
    println!(
        "time to first byte, Range at 50% of {mib} MiB, not downloaded: median {:.2?} (min {:.2?}, max {:.2?}, 10 fresh readers)",
        ttfb[5], ttfb[0], ttfb[9]
    );

    // The same seek without HTTP: what the archive reader itself costs.
    let mut direct = Vec::new();
    for _ in 0..10 {
        let reader = client().await;
        let archive = reader
            .lookup(&magnet, LookupOptions::default().seed(false))
            .await
            .expect("lookup");
        let t = Instant::now();
        let mut f = archive.open("/bench.bin").await.expect("open");
        f.seek(std::io::SeekFrom::Start(len / 2))
            .await
            .expect("seek");
        let mut one = [0u8; 1];
        f.read_exact(&mut one).await.expect("read");
        direct.push(t.elapsed());
        let _ = archive.close().await;
        reader.stop().await;
    }
    direct.sort();
    println!(
        "same seek through Archive::open without HTTP: median {:.2?} (min {:.2?}, max {:.2?})",
        direct[5], direct[0], direct[9]
    );

    let reader = client().await;
    let archive = reader
        .lookup(&magnet, LookupOptions::default().seed(false))
        .await
        .expect("lookup");
    let server = StreamServer::bind("127.0.0.1:0".parse().expect("addr"), archive.clone())
        .await
        .expect("bind");
    let addr = server.local_addr();
    let handle = server.spawn();
    let t = Instant::now();
    let (_, body) = fetch(addr, None, true).await;
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(body, len, "whole body");
    println!(
        "whole-file GET of {mib} MiB through a fresh reader: {:.2} s, {:.0} MiB/s",
        secs,
        mib as f64 / secs
    );
    handle.shutdown().await;
    let _ = archive.close().await;
    reader.stop().await;
    seeder.stop().await;
}
