//! Publishes an archive under a key as a BEP 46 mutable magnet, and publishes a new version.
//!
//! ```text
//! cargo run -p swarmfs-examples --example publish
//! cargo run -p swarmfs-examples --example publish -- PATH KEY_FILE [BOOTSTRAP]
//! ```
//!
//! Without arguments it runs offline: it starts a private DHT on 127.0.0.1; a publisher writes
//! a demo site into a draft archive, seeds it and publishes it under a fresh key (with salt
//! `site`); a reader resolves the mutable magnet and reads the site; the publisher changes a
//! file and publishes again (sequence number 2); the reader's update stream reports the new
//! version and resolving again opens it. Then it exits.
//!
//! With arguments it seeds PATH, publishes it under the key in KEY_FILE (created, mode 0600,
//! when missing), joining DHT node BOOTSTRAP or a DHT node of its own, prints the mutable
//! magnet, and keeps the item alive until Ctrl-C. Publishing again with the same key after
//! changing PATH makes the next version.

use std::time::Duration;

use swarmfs::{Keypair, LookupOptions};
use swarmfs_examples::{LocalSwarm, Result, check, client, demo_site, list_files};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match (args.first(), args.get(1)) {
        (Some(path), Some(key)) => publish_path(path, key, args.get(2)).await,
        (None, _) => swarmfs_examples::within(120, demo()).await,
        _ => Err("usage: publish [PATH KEY_FILE [BOOTSTRAP]]".into()),
    }
}

fn options() -> LookupOptions {
    LookupOptions::default().timeout(Duration::from_secs(20))
}

async fn publish_path(path: &str, key_file: &str, boot: Option<&String>) -> Result<()> {
    let keypair = if std::path::Path::new(key_file).exists() {
        Keypair::load(key_file)?
    } else {
        let k = Keypair::generate();
        k.save(key_file)?;
        println!("[publisher] saved a new key to {key_file}");
        k
    };
    let (own, boot) = match boot {
        Some(b) => (None, vec![b.clone()]),
        None => {
            let swarm = LocalSwarm::start(1).await?;
            let boot = swarm.bootstrap();
            (Some(swarm), boot)
        }
    };
    let publisher = client("publisher", &boot).await?;
    let url = publisher.seed_path(path).await?;
    println!("[publisher] seeding {url}");
    let murl = publisher.publish(&url, &keypair, b"").await?;
    let version = publisher.resolve(&murl).await?;
    println!("[publisher] published version {} as {murl}", version.seq);
    println!(
        "[publisher] read it: cargo run -p swarmfs-examples --example lookup -- {} '{murl}'",
        boot[0]
    );
    println!("[publisher] keeping it alive; Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    publisher.stop().await;
    if let Some(swarm) = own {
        swarm.shutdown().await;
    }
    Ok(())
}

async fn demo() -> Result<()> {
    let swarm = LocalSwarm::start(5).await?;
    let boot = swarm.bootstrap();
    let publisher = client("publisher", &boot).await?;
    let reader = client("reader", &boot).await?;

    // Version 1: write, seed, publish.
    let site = demo_site().await?;
    let url = publisher.seed(&site).await?;
    let keypair = Keypair::generate();
    let murl = publisher.publish(&url, &keypair, b"site").await?;
    println!("[publisher] seeding {url}");
    println!("[publisher] published version 1 as {murl}");

    let archive = reader.lookup(&murl, options()).await?;
    let mut updates = archive.updates().ok_or("no update stream")?;
    println!(
        "[reader] resolved version {} -> torrent {}",
        updates.latest().map_or(0, |v| v.seq),
        archive.info_hash().map_or_else(String::new, |h| h.to_hex())
    );
    for (path, len) in list_files(&archive, "/").await? {
        println!("[reader] {len:>9}  {path}");
    }
    let index = archive.read_file("/index.html").await?;
    println!(
        "[reader] /index.html: {:?}",
        String::from_utf8_lossy(&index).trim()
    );

    // Version 2: change one file (the others are shared, not copied), seed, publish again.
    site.write_file("/index.html", "<h1>Hello again</h1>\n")
        .await?;
    let url2 = publisher.seed(&site).await?;
    publisher.publish(&url2, &keypair, b"site").await?;
    println!("[publisher] changed /index.html and published version 2");

    let update = tokio::time::timeout(Duration::from_secs(20), updates.next())
        .await?
        .ok_or("update stream ended")?;
    println!(
        "[reader] update stream: version {} -> torrent {}",
        update.seq,
        update.info_hash.to_hex()
    );
    check(update.seq == 2, "expected version 2")?;
    let latest = reader.lookup(&murl, options()).await?;
    let index = latest.read_file("/index.html").await?;
    println!(
        "[reader] newest /index.html: {:?}",
        String::from_utf8_lossy(&index).trim()
    );
    check(
        index == b"<h1>Hello again</h1>\n",
        "the newest version was not read",
    )?;

    archive.close().await?;
    latest.close().await?;
    reader.stop().await;
    publisher.stop().await;
    swarm.shutdown().await;
    check(
        reader.live_tasks() == 0 && publisher.live_tasks() == 0,
        "tasks left after stop",
    )?;
    println!("[publish] done: every step worked");
    Ok(())
}
