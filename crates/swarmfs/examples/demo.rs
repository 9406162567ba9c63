//! An offline demo on 127.0.0.1: a private DHT of a few nodes, a publisher that writes an
//! archive, seeds it and publishes it under a key (BEP 46), and a reader that resolves the
//! mutable magnet, lists the archive, reads files and then sees a new version appear.
//!
//! Run it with `cargo run -p swarmfs --example demo`. Nothing leaves the loopback interface.

use std::error::Error;
use std::time::{Duration, Instant};

use swarmfs::{Archive, Client, Keypair, LookupOptions};
use swarmfs_dht::Dht;
use swarmfs_memory::MemoryStorage;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let started = Instant::now();
    match tokio::time::timeout(Duration::from_secs(60), run()).await {
        Ok(Ok(())) => {
            println!("done in {:.2?}: every step worked", started.elapsed());
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the demo took more than 60 s".into()),
    }
}

async fn run() -> Result<()> {
    // 1. A private DHT: a few nodes on 127.0.0.1 that know each other.
    let first = Dht::builder().build().await?;
    let boot = [first.local_addr()];
    let mut nodes = vec![first];
    for _ in 0..4 {
        let node = Dht::builder().bootstrap(&boot).build().await?;
        node.bootstrapped().await?;
        nodes.push(node);
    }
    for node in &nodes {
        node.find_node(node.id()).await?;
    }
    println!(
        "[dht] private DHT of {} nodes on 127.0.0.1 (first at {})",
        nodes.len(),
        boot[0]
    );

    // 2. Two clients joining it: a publisher and a reader, each with its own memory storage.
    let bootstrap: Vec<String> = nodes.iter().map(|n| n.local_addr().to_string()).collect();
    let start = |name: &'static str| {
        let bootstrap = bootstrap.clone();
        async move {
            let client = Client::builder()
                .dht_bootstrap(bootstrap)
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
            Ok::<Client, Box<dyn Error>>(client)
        }
    };
    let publisher = start("publisher").await?;
    let reader = start("reader").await?;

    // 3. The publisher writes a small site into a draft archive and seeds it.
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

    // 4. ... and publishes it under a fresh key (BEP 46 mutable item on the DHT).
    let keypair = Keypair::generate();
    let murl = publisher.publish(&url, &keypair, b"").await?;
    println!("[publisher] published as {murl}");

    // 5. The reader resolves the mutable magnet: item from the DHT, peers from the DHT,
    //    metadata and pieces from the publisher.
    let archive = reader
        .lookup(
            &murl,
            LookupOptions::default().timeout(Duration::from_secs(20)),
        )
        .await?;
    println!(
        "[reader] resolved {} -> {}",
        murl,
        archive.info_hash().map_or("?".into(), |h| h.to_hex())
    );
    for dir in ["/", "/posts", "/media"] {
        for e in archive.read_dir(dir).await? {
            let kind = if e.is_dir { "dir " } else { "file" };
            println!(
                "[reader] {kind} {dir}{}{} ({} bytes)",
                sep(dir),
                e.name,
                e.len
            );
        }
    }
    let index = archive.read_file("/index.html").await?;
    println!(
        "[reader] /index.html: {:?}",
        String::from_utf8_lossy(&index).trim()
    );
    let mut f = archive.open("/media/data.bin").await?;
    f.seek(std::io::SeekFrom::Start(1_000_000)).await?;
    let mut buf = [0u8; 16];
    f.read_exact(&mut buf).await?;
    check(buf[..] == data[1_000_000..1_000_016], "seek+read mismatch")?;
    println!("[reader] seeked to byte 1000000 of /media/data.bin and read 16 matching bytes");
    check(
        archive.read_file("/media/data.bin").await? == data,
        "data.bin mismatch",
    )?;
    println!(
        "[reader] /media/data.bin read whole: all {} bytes match",
        data.len()
    );

    // 6. The publisher edits the site and publishes again; the reader is told.
    let mut updates = archive.updates().ok_or("no update stream")?;
    site.write_file("/index.html", "<h1>Hello again</h1>\n")
        .await?;
    let url2 = publisher.seed(&site).await?;
    publisher.publish(&url2, &keypair, b"").await?;
    println!("[publisher] changed /index.html and published version 2");
    let update = tokio::time::timeout(Duration::from_secs(20), updates.next())
        .await?
        .ok_or("update stream ended")?;
    println!(
        "[reader] noticed version {} -> {}",
        update.seq,
        update.info_hash.to_hex()
    );
    let latest = reader
        .lookup(
            &murl,
            LookupOptions::default().timeout(Duration::from_secs(20)),
        )
        .await?;
    let index = latest.read_file("/index.html").await?;
    println!(
        "[reader] newest /index.html: {:?}",
        String::from_utf8_lossy(&index).trim()
    );
    check(
        index == b"<h1>Hello again</h1>\n",
        "newest version not read",
    )?;

    // 7. Stop everything and check that no task is left.
    archive.close().await?;
    latest.close().await?;
    reader.stop().await;
    publisher.stop().await;
    for n in &nodes {
        n.shutdown().await;
    }
    check(
        reader.live_tasks() == 0 && publisher.live_tasks() == 0,
        "tasks left after stop",
    )?;
    println!("[demo] clients stopped, no task left");
    Ok(())
}

fn sep(dir: &str) -> &'static str {
    if dir.ends_with('/') { "" } else { "/" }
}

fn check(ok: bool, what: &'static str) -> Result<()> {
    if ok { Ok(()) } else { Err(what.into()) }
}
