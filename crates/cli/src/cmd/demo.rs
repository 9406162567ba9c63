//! `swarmfs demo`: everything on 127.0.0.1, narrated. A private DHT; a publisher that writes
//! an archive, seeds it and publishes it under a key (BEP 46); a reader that resolves the
//! mutable magnet, lists the archive, reads a file, seeks into another, streams a range over
//! HTTP, and sees a new version appear.

use std::io::SeekFrom;
use std::time::{Duration, Instant};

use swarmfs::{Archive, Client, Keypair, LookupOptions};
use swarmfs_dht::Dht;
use swarmfs_http::StreamServer;
use swarmfs_memory::MemoryStorage;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::args::DemoArgs;
use crate::failure::{Failure, Kind};

/// The whole demo must finish within this.
const LIMIT: Duration = Duration::from_secs(60);

pub(crate) async fn run(args: DemoArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let mut nodes = Vec::new();
    let result = tokio::time::timeout(LIMIT, steps(args.nodes.clamp(1, 32), &mut nodes)).await;
    for n in &nodes {
        n.shutdown().await;
    }
    match result {
        Ok(Ok(())) => {
            println!("done in {:.2?}: every step worked", started.elapsed());
            Ok(())
        }
        Ok(Err(e)) => Err(e.context("demo")),
        Err(_) => Err(Failure::new(Kind::Timeout, "demo took more than 60 s")),
    }
}

fn fail(what: &str) -> impl FnOnce(String) -> Failure + '_ {
    move |e| Failure::other(format!("{what}: {e}"))
}

async fn steps(count: usize, nodes: &mut Vec<Dht>) -> Result<(), Failure> {
    // 1. A private DHT on 127.0.0.1.
    let first = Dht::builder()
        .build()
        .await
        .map_err(|e| fail("dht")(e.to_string()))?;
    let boot = [first.local_addr()];
    nodes.push(first);
    for _ in 1..count {
        let node = Dht::builder()
            .bootstrap(&boot)
            .build()
            .await
            .map_err(|e| fail("dht")(e.to_string()))?;
        let _ = node.bootstrapped().await;
        nodes.push(node);
    }
    for node in nodes.iter() {
        let _ = node.find_node(node.id()).await;
    }
    println!(
        "[dht] private DHT of {} nodes on 127.0.0.1 (first at {})",
        nodes.len(),
        boot[0]
    );

    // 2. A publisher and a reader joining it.
    let bootstrap: Vec<String> = nodes.iter().map(|n| n.local_addr().to_string()).collect();
    let publisher = client(&bootstrap, "publisher").await?;
    let reader = client(&bootstrap, "reader").await?;
    let result = roles(&publisher, &reader).await;
    reader.stop().await;
    publisher.stop().await;
    result
}

async fn client(bootstrap: &[String], name: &str) -> Result<Client, Failure> {
    let client = Client::builder()
        .dht_bootstrap(bootstrap.iter().cloned())
        .storage(MemoryStorage::factory())
        .update_interval(Duration::from_millis(250))
        .peer_search_interval(Duration::from_millis(250))
        .build()
        .await?;
    println!(
        "[{name}] client up: peers connect to {}, dht node at {}",
        client.listen_addr(),
        client.dht_addr().map_or("-".into(), |a| a.to_string())
    );
    Ok(client)
}

async fn roles(publisher: &Client, reader: &Client) -> Result<(), Failure> {
    // 3. The publisher writes a small site, seeds it and publishes it under a fresh key.
    let site = Archive::with_name("demo-site", MemoryStorage::factory());
    site.write_file("/index.html", "<h1>Hello from swarmfs</h1>\n")
        .await?;
    site.write_file("/posts/first.md", "# First post\nWritten offline.\n")
        .await?;
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    site.write_file("/media/data.bin", &data).await?;
    println!("[publisher] wrote 3 files into a draft archive");
    let url = publisher.seed(&site).await?;
    println!("[publisher] seeding {url}");
    let keypair = Keypair::generate();
    let murl = publisher.publish(&url, &keypair, b"").await?;
    println!("[publisher] published as {murl}");

    // 4. The reader resolves the mutable magnet, lists and reads.
    let options = LookupOptions::default()
        .timeout(Duration::from_secs(20))
        .seed(false);
    let archive = reader.lookup(&murl, options.clone()).await?;
    println!(
        "[reader] resolved the key to {}",
        archive.info_hash().map_or("?".into(), |h| h.to_hex())
    );
    for dir in ["/", "/posts", "/media"] {
        for e in archive.read_dir(dir).await? {
            let kind = if e.is_dir { "dir " } else { "file" };
            let sep = if dir.ends_with('/') { "" } else { "/" };
            println!("[reader] {kind} {dir}{sep}{} ({} bytes)", e.name, e.len);
        }
    }
    let index = archive.read_file("/index.html").await?;
    println!(
        "[reader] /index.html: {:?}",
        String::from_utf8_lossy(&index).trim()
    );
    let mut f = archive.open("/media/data.bin").await?;
    f.seek(SeekFrom::Start(1_000_000))
        .await
        .map_err(Failure::other)?;
    let mut buf = [0u8; 16];
    f.read_exact(&mut buf).await.map_err(Failure::other)?;
    check(buf[..] == data[1_000_000..1_000_016], "seek+read mismatch")?;
    println!("[reader] seeked to byte 1000000 of /media/data.bin: 16 bytes match");

    // 5. The reader streams a range over HTTP, fetching only those pieces.
    let server = StreamServer::bind(
        "127.0.0.1:0".parse().map_err(Failure::other)?,
        archive.clone(),
    )
    .await
    .map_err(|e| Failure::new(Kind::Bind, e.to_string()))?;
    let addr = server.local_addr();
    let handle = server.spawn();
    let body = http_range(addr, "/media/data.bin", 1_200_000, 1_200_099).await?;
    handle.shutdown().await;
    check(body == data[1_200_000..1_200_100], "http range mismatch")?;
    println!(
        "[reader] GET http://{addr}/media/data.bin Range: bytes=1200000-1200099 -> 206, 100 bytes match"
    );

    // 6. The publisher edits the site and publishes again; the reader is told.
    let mut updates = archive
        .updates()
        .ok_or_else(|| Failure::other("no update stream"))?;
    site.write_file("/index.html", "<h1>Hello again</h1>\n")
        .await?;
    let url2 = publisher.seed(&site).await?;
    publisher.publish(&url2, &keypair, b"").await?;
    println!("[publisher] changed /index.html and published version 2");
    let update = tokio::time::timeout(Duration::from_secs(20), updates.next())
        .await
        .map_err(|_| Failure::new(Kind::Timeout, "no update within 20 s"))?
        .ok_or_else(|| Failure::other("update stream ended"))?;
    println!(
        "[reader] noticed version {} -> {}",
        update.seq,
        update.info_hash.to_hex()
    );
    let latest = reader.lookup(&murl, options).await?;
    let index = latest.read_file("/index.html").await?;
    println!(
        "[reader] /index.html is now {:?}",
        String::from_utf8_lossy(&index).trim()
    );
    check(index == b"<h1>Hello again</h1>\n", "version 2 mismatch")?;
    let _ = latest.close().await;
    let _ = archive.close().await;
    Ok(())
}

fn check(ok: bool, what: &str) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(Failure::other(what))
    }
}

/// A minimal HTTP/1.1 range request over a raw socket.
async fn http_range(
    addr: std::net::SocketAddr,
    path: &str,
    first: u64,
    last: u64,
) -> Result<Vec<u8>, Failure> {
    let io = |e: std::io::Error| Failure::other(format!("http: {e}"));
    let mut s = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nRange: bytes={first}-{last}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.map_err(io)?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).await.map_err(io)?;
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Failure::other("http: no header end"))?;
    if !all.starts_with(b"HTTP/1.1 206") {
        return Err(Failure::other("http: not 206 partial content"));
    }
    Ok(all[split + 4..].to_vec())
}
