//! Seeds a draft archive or a file/directory on disk and prints its magnet link.
//!
//! ```text
//! cargo run -p swarmfs-examples --example seed
//! cargo run -p swarmfs-examples --example seed -- PATH [BOOTSTRAP]
//! ```
//!
//! Without arguments it runs offline: it starts a private DHT on 127.0.0.1, writes a small demo
//! site into a draft archive (memory storage), seeds it, and checks the seed from a second
//! client that looks the magnet up by info-hash alone (the seeder is found through the DHT),
//! reads every file and compares it; then it exits.
//!
//! With arguments it seeds PATH from where it is (hashing progress on stderr), joining DHT node
//! BOOTSTRAP or, without one, a DHT node of its own whose address it prints; it runs until
//! Ctrl-C. Read it with the `lookup` example.

use std::time::Duration;

use swarmfs::{LookupOptions, SeedProgress};
use swarmfs_examples::{LocalSwarm, Result, check, client, demo_site, list_files};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first() {
        Some(path) => seed_path(path, args.get(1)).await,
        None => swarmfs_examples::within(120, demo()).await,
    }
}

/// Prints hashing progress on one line of stderr.
fn show(p: SeedProgress) {
    eprint!(
        "\r[seeder] {:?}: {} / {} bytes",
        p.phase, p.done_bytes, p.total_bytes
    );
    if p.done_bytes == p.total_bytes {
        eprintln!();
    }
}

async fn seed_path(path: &str, boot: Option<&String>) -> Result<()> {
    // Without a node to join, one of our own that others can join.
    let (own, boot) = match boot {
        Some(b) => (None, vec![b.clone()]),
        None => {
            let swarm = LocalSwarm::start(1).await?;
            let boot = swarm.bootstrap();
            (Some(swarm), boot)
        }
    };
    let seeder = client("seeder", &boot).await?;
    let url = seeder.seed_path_with_progress(path, show).await?;
    println!("[seeder] seeding {url}");
    println!(
        "[seeder] read it: cargo run -p swarmfs-examples --example lookup -- {} '{url}'",
        boot[0]
    );
    println!("[seeder] Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    seeder.stop().await;
    if let Some(swarm) = own {
        swarm.shutdown().await;
    }
    Ok(())
}

async fn demo() -> Result<()> {
    let swarm = LocalSwarm::start(5).await?;
    let boot = swarm.bootstrap();
    let seeder = client("seeder", &boot).await?;
    let site = demo_site().await?;
    let url = seeder.seed_with_progress(&site, show).await?;
    println!("[seeder] seeding {url}");

    // A second client fetches it by info-hash alone: no peer address in the magnet.
    let bare = url.split('&').next().ok_or("empty magnet")?.to_owned();
    let checker = client("checker", &boot).await?;
    let copy = checker
        .lookup(
            &bare,
            LookupOptions::default().timeout(Duration::from_secs(20)),
        )
        .await?;
    println!("[checker] found the seeder through the DHT for {bare}");
    let files = list_files(&site, "/").await?;
    for (path, len) in &files {
        let got = copy.read_file(path).await?;
        check(
            got == site.read_file(path).await?,
            "a file differs from the seed",
        )?;
        println!("[checker] {path}: {len} bytes, identical");
    }
    check(
        list_files(&copy, "/").await? == files,
        "the file lists differ",
    )?;

    copy.close().await?;
    checker.stop().await;
    seeder.stop().await;
    swarm.shutdown().await;
    check(
        checker.live_tasks() == 0 && seeder.live_tasks() == 0,
        "tasks left after stop",
    )?;
    println!("[seed] done: every step worked");
    Ok(())
}
