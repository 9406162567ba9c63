//! Looks up a magnet or mutable magnet on a local DHT and lists or prints it.
//!
//! ```text
//! cargo run -p swarmfs --example lookup -- BOOTSTRAP URL [PATH]
//! ```
//!
//! BOOTSTRAP is a DHT node to join (the `seed` example prints one). Without PATH, every file
//! of the archive is listed with its size; with PATH, that file is written to stdout.

use std::error::Error;
use std::time::Duration;

use swarmfs::{Archive, Client, LookupOptions};
use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(boot), Some(url)) = (args.first(), args.get(1)) else {
        return Err("usage: lookup BOOTSTRAP URL [PATH]".into());
    };
    let client = Client::builder()
        .dht_bootstrap([boot.clone()])
        .build()
        .await?;
    let archive = client
        .lookup(
            url,
            LookupOptions::default().timeout(Duration::from_secs(20)),
        )
        .await?;
    match args.get(2) {
        Some(path) => {
            let data = archive.read_file(path).await?;
            tokio::io::stdout().write_all(&data).await?;
        }
        None => list(&archive, "/".to_owned()).await?,
    }
    archive.close().await?;
    client.stop().await;
    Ok(())
}

async fn list(archive: &Archive, root: String) -> Result<(), Box<dyn Error>> {
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for e in archive.read_dir(&dir).await? {
            let path = format!("{}{}", dir, e.name);
            if e.is_dir {
                dirs.push(format!("{path}/"));
            } else {
                println!("{:>12}  {path}", e.len);
            }
        }
    }
    Ok(())
}
