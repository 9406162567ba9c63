//! Seeds a file or directory and publishes it under a key, on a local DHT it starts itself.
//!
//! ```text
//! cargo run -p swarmfs --example seed -- PATH [KEY_FILE]
//! ```
//!
//! Starts a DHT node on 127.0.0.1 (others join through it), seeds PATH, publishes it as a BEP 46
//! mutable magnet under the key in KEY_FILE (created with mode 0600 when missing; a fresh key
//! when not given), prints the bootstrap address and both magnets, and runs until Ctrl-C. Read
//! it with the `lookup` example.

use std::error::Error;

use swarmfs::{Client, Keypair};
use swarmfs_dht::Dht;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: seed PATH [KEY_FILE]")?;
    let keypair = match args.next() {
        Some(file) if std::path::Path::new(&file).exists() => Keypair::load(&file)?,
        Some(file) => {
            let k = Keypair::generate();
            k.save(&file)?;
            println!("saved a new key to {file}");
            k
        }
        None => Keypair::generate(),
    };
    // A bootstrap node for this local swarm.
    let router = Dht::builder().build().await?;
    let boot = router.local_addr().to_string();
    let client = Client::builder()
        .dht_bootstrap([boot.clone()])
        .build()
        .await?;
    let url = client.seed_path(&path).await?;
    let murl = client.publish(&url, &keypair, b"").await?;
    println!("bootstrap: {boot}");
    println!("magnet:    {url}");
    println!("mutable:   {murl}");
    println!("read it:   cargo run -p swarmfs --example lookup -- {boot} '{murl}'");
    println!("seeding; Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    client.stop().await;
    router.shutdown().await;
    Ok(())
}
