//! Shared fixtures: a seeder on loopback, a server over a real swarmfs client, raw HTTP.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use swarmfs::{Archive, Client};
use swarmfs_memory::MemoryStorage;
use swarmfs_remote::{RemoteServer, Router, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// A swarmfs client with no DHT and no LSD: peers come from the magnets' `x.pe`.
pub async fn swarm_client() -> Client {
    Client::builder()
        .dht(false)
        .lsd(false)
        .storage(MemoryStorage::factory())
        .build()
        .await
        .unwrap()
}

/// Seeds one file `name` of `len` bytes; returns the magnet (with `x.pe`) and the bytes.
pub async fn seed(seeder: &Client, name: &str, len: usize, salt: u8) -> (String, Vec<u8>) {
    let draft = Archive::with_name(name, MemoryStorage::factory());
    let data = pattern(len, salt);
    draft.write_file("/data.bin", &data).await.unwrap();
    (seeder.seed(&draft).await.unwrap(), data)
}

pub fn fast_config() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.update_interval = Duration::from_millis(100);
    c.heartbeat_timeout = Duration::from_millis(600);
    c.grace = Duration::from_millis(300);
    c
}

pub async fn server(config: ServerConfig) -> (RemoteServer, Arc<Router>) {
    let router = Router::new();
    let server = RemoteServer::new(swarm_client().await, router.clone(), config);
    (server, router)
}

/// `GET path` with optional extra headers over a fresh connection; status and body.
pub async fn http_get(addr: SocketAddr, path: &str, headers: &str) -> (u16, Vec<u8>) {
    http_get_host(addr, "x", path, headers).await
}

/// [`http_get`] with the `Host` header given.
pub async fn http_get_host(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &str,
) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut all))
        .await
        .expect("http reply timed out")
        .unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, all[split + 4..].to_vec())
}

/// Polls `f` until true or `within` elapses.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// A lazy server: its engine (no DHT, no LSD) is built on the first add.
pub fn lazy_server(config: ServerConfig) -> (RemoteServer, Arc<Router>) {
    let router = Router::new();
    let server = RemoteServer::lazy(
        || async {
            Client::builder()
                .dht(false)
                .lsd(false)
                .storage(MemoryStorage::factory())
                .build()
                .await
        },
        router.clone(),
        config,
    );
    (server, router)
}

/// Seeds a two-file archive (`/index.html`, `/docs/readme.txt`); magnet and both contents.
pub async fn seed_site(seeder: &Client) -> (String, Vec<u8>, Vec<u8>) {
    let draft = Archive::with_name("site", MemoryStorage::factory());
    let index = pattern(50_000, 7);
    let readme = pattern(90_000, 8);
    draft.write_file("/index.html", &index).await.unwrap();
    draft.write_file("/docs/readme.txt", &readme).await.unwrap();
    (seeder.seed(&draft).await.unwrap(), index, readme)
}

/// `n` DHT nodes on 127.0.0.1 that know each other.
pub async fn dht_network(n: usize) -> Vec<swarmfs_dht::Dht> {
    use swarmfs_dht::Dht;
    let first = Dht::builder().build().await.unwrap();
    let boot = [first.local_addr()];
    let mut nodes = vec![first];
    for _ in 1..n {
        let node = Dht::builder().bootstrap(&boot).build().await.unwrap();
        node.bootstrapped().await.unwrap();
        nodes.push(node);
    }
    for node in &nodes {
        node.find_node(node.id()).await.unwrap();
    }
    nodes
}

/// A client builder for the private DHT `boot`, with short intervals.
pub fn dht_builder(boot: &[String]) -> swarmfs::ClientBuilder {
    let mut b = Client::builder();
    b.dht_bootstrap(boot.iter().cloned())
        .lsd(false)
        .storage(MemoryStorage::factory())
        .update_interval(Duration::from_millis(200))
        .peer_search_interval(Duration::from_millis(200));
    b
}
