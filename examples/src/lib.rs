//! Helpers shared by the swarmfs examples in `examples/examples/` (`lookup`, `seed`, `publish`):
//!
//! ```text
//! cargo run -p swarmfs-examples --example lookup
//! cargo run -p swarmfs-examples --example seed
//! cargo run -p swarmfs-examples --example publish
//! ```
//!
//! Run without arguments, each example starts a private DHT on 127.0.0.1 in-process
//! ([`LocalSwarm`]), plays its part against it and exits; nothing leaves the loopback interface.
//! With arguments they work on real data and join a given DHT node (each one's doc says how).
//!
//! This is not a library to depend on: it keeps the examples short. The API they show is the
//! `swarmfs` crate's.

use std::error::Error;
use std::time::Duration;

use swarmfs::{Archive, Client};
use swarmfs_dht::Dht;
use swarmfs_memory::MemoryStorage;

/// The error type of the examples.
pub type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// A private DHT: a few swarmfs-dht nodes on 127.0.0.1 that know each other.
#[derive(Debug)]
pub struct LocalSwarm {
    nodes: Vec<Dht>,
}

impl LocalSwarm {
    /// Starts `n` nodes (at least one) and waits until they know each other.
    pub async fn start(n: usize) -> Result<Self> {
        let first = Dht::builder().build().await?;
        let boot = [first.local_addr()];
        let mut nodes = vec![first];
        for _ in 1..n {
            let node = Dht::builder().bootstrap(&boot).build().await?;
            node.bootstrapped().await?;
            nodes.push(node);
        }
        for node in &nodes {
            node.find_node(node.id()).await?;
        }
        println!(
            "[swarm] private DHT of {} node(s) on 127.0.0.1, first at {}",
            nodes.len(),
            boot[0]
        );
        Ok(Self { nodes })
    }

    /// The nodes' addresses, to give to [`client`] (or to another process).
    pub fn bootstrap(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| n.local_addr().to_string())
            .collect()
    }

    /// Stops every node.
    pub async fn shutdown(&self) {
        for n in &self.nodes {
            n.shutdown().await;
        }
    }
}

/// A client with memory storage that joins the DHT through `bootstrap`, with intervals short
/// enough for a demo (updates polled every 250 ms, peers searched again every 250 ms).
pub async fn client(name: &str, bootstrap: &[String]) -> Result<Client> {
    let client = Client::builder()
        .dht_bootstrap(bootstrap.iter().cloned())
        .storage(MemoryStorage::factory())
        .update_interval(Duration::from_millis(250))
        .peer_search_interval(Duration::from_millis(250))
        .build()
        .await?;
    println!(
        "[{name}] client up: peers connect to {}, DHT node at {}",
        client.listen_addr(),
        client
            .dht_addr()
            .map_or_else(|| "-".to_owned(), |a| a.to_string())
    );
    Ok(client)
}

/// A small draft archive named `demo-site`: `/index.html`, `/posts/first.md` and a 1.5 MB
/// `/media/data.bin` (bytes `i % 251`).
pub async fn demo_site() -> Result<Archive> {
    let site = Archive::with_name("demo-site", MemoryStorage::factory());
    site.write_file("/index.html", "<h1>Hello from swarmfs</h1>\n")
        .await?;
    site.write_file("/posts/first.md", "# First post\nWritten offline.\n")
        .await?;
    site.write_file("/media/data.bin", demo_data()).await?;
    Ok(site)
}

/// The content of the demo site's `/media/data.bin`.
pub fn demo_data() -> Vec<u8> {
    (0..1_500_000u32).map(|i| (i % 251) as u8).collect()
}

/// Every file below directory `dir` of `archive` as `(path, length)`, sorted by path.
pub async fn list_files(archive: &Archive, dir: &str) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.trim_end_matches('/').to_owned()];
    while let Some(d) = todo.pop() {
        for e in archive.read_dir(&d).await? {
            let path = format!("{d}/{}", e.name);
            if e.is_dir {
                todo.push(path);
            } else {
                out.push((path, e.len));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Fails with `what` unless `ok`.
pub fn check(ok: bool, what: &str) -> Result<()> {
    if ok { Ok(()) } else { Err(what.into()) }
}

/// Runs `f`, failing after `secs` seconds instead of hanging.
pub async fn within<T>(secs: u64, f: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(r) => r,
        Err(_) => Err(format!("did not finish within {secs} s").into()),
    }
}
