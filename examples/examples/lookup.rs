//! Looks up a magnet link or a BEP 46 mutable magnet and lists or prints the archive.
//!
//! ```text
//! cargo run -p swarmfs-examples --example lookup
//! cargo run -p swarmfs-examples --example lookup -- BOOTSTRAP URL [PATH]
//! ```
//!
//! Without arguments it runs offline: it starts a private DHT on 127.0.0.1 and a seeder client
//! that publishes a small demo site under a fresh key, then looks up the mutable magnet from a
//! second client that knows nothing but the magnet: the item, the seeder and the metadata all
//! come through the DHT, and only the files read are fetched.
//!
//! With arguments it joins DHT node BOOTSTRAP (`ip:port`, for example one printed by the `seed`
//! or `publish` example) and lists every file of URL with its size, or writes file PATH of it
//! to stdout.

use std::time::Duration;

use swarmfs::{Client, Keypair, LookupOptions};
use swarmfs_examples::{LocalSwarm, Result, check, client, demo_data, demo_site, list_files};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match (args.first(), args.get(1)) {
        (Some(boot), Some(url)) => lookup(boot, url, args.get(2)).await,
        (None, _) => swarmfs_examples::within(120, demo()).await,
        _ => Err("usage: lookup [BOOTSTRAP URL [PATH]]".into()),
    }
}

/// Looks `url` up through `boot` and lists it, or prints `path`.
async fn lookup(boot: &str, url: &str, path: Option<&String>) -> Result<()> {
    let client = Client::builder()
        .dht_bootstrap([boot.to_owned()])
        .build()
        .await?;
    let archive = client.lookup(url, options()).await?;
    match path {
        Some(path) => {
            let data = archive.read_file(path).await?;
            tokio::io::stdout().write_all(&data).await?;
        }
        None => {
            for (path, len) in list_files(&archive, "/").await? {
                println!("{len:>12}  {path}");
            }
        }
    }
    archive.close().await?;
    client.stop().await;
    Ok(())
}

/// Fetches only what is read (`seed(false)`), waiting at most 20 s for the metadata.
fn options() -> LookupOptions {
    LookupOptions::default()
        .timeout(Duration::from_secs(20))
        .seed(false)
}

async fn demo() -> Result<()> {
    let swarm = LocalSwarm::start(5).await?;
    let boot = swarm.bootstrap();

    // Something to look up: a demo site, seeded and published by another client.
    let seeder = client("seeder", &boot).await?;
    let url = seeder.seed(&demo_site().await?).await?;
    let murl = seeder.publish(&url, &Keypair::generate(), b"").await?;
    println!("[seeder] seeding {url}");
    println!("[seeder] published as {murl}");

    // The reader knows only the mutable magnet.
    let reader = client("reader", &boot).await?;
    let archive = reader.lookup(&murl, options()).await?;
    println!(
        "[reader] {murl} -> version {} = torrent {} ({:?})",
        archive
            .updates()
            .and_then(|u| u.latest())
            .map_or(0, |v| v.seq),
        archive.info_hash().map_or_else(String::new, |h| h.to_hex()),
        archive.name()
    );
    let files = list_files(&archive, "/").await?;
    for (path, len) in &files {
        println!("[reader] {len:>9}  {path}");
    }
    let total: u64 = files.iter().map(|f| f.1).sum();
    let index = archive.read_file("/index.html").await?;
    println!(
        "[reader] /index.html: {:?}",
        String::from_utf8_lossy(&index).trim()
    );
    // Read 16 bytes from the middle of the large file: only the piece under them is fetched.
    let mut f = archive.open("/media/data.bin").await?;
    f.seek(std::io::SeekFrom::Start(1_000_000)).await?;
    let mut buf = [0u8; 16];
    f.read_exact(&mut buf).await?;
    check(
        buf[..] == demo_data()[1_000_000..1_000_016],
        "bytes read at 1000000 differ",
    )?;
    let fetched = archive
        .torrent()
        .ok_or("not a torrent")?
        .stats()
        .await?
        .downloaded;
    println!(
        "[reader] read 16 bytes at offset 1000000 of /media/data.bin; {fetched} of {total} bytes fetched so far"
    );

    archive.close().await?;
    reader.stop().await;
    seeder.stop().await;
    swarm.shutdown().await;
    check(
        reader.live_tasks() == 0 && seeder.live_tasks() == 0,
        "tasks left after stop",
    )?;
    println!("[lookup] done: every step worked");
    Ok(())
}
