//! A private loopback DHT and clients on 127.0.0.1 with memory storage.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use swarmfs::{Client, ClientBuilder};
use swarmfs_dht::Dht;
use swarmfs_memory::MemoryStorage;

/// `n` swarmfs-dht nodes on 127.0.0.1 that know each other.
pub async fn dht_network(n: usize) -> Vec<Dht> {
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

pub async fn shutdown(nodes: &[Dht]) {
    for n in nodes {
        n.shutdown().await;
    }
}

/// A builder for a client joining `nodes`, with short intervals for tests.
pub fn builder(nodes: &[Dht]) -> ClientBuilder {
    let mut b = Client::builder();
    b.dht_bootstrap(nodes.iter().take(3).map(|n| n.local_addr().to_string()))
        .storage(MemoryStorage::factory())
        .update_interval(Duration::from_millis(200))
        .peer_search_interval(Duration::from_millis(200));
    b
}

pub async fn client(nodes: &[Dht]) -> Client {
    builder(nodes).build().await.unwrap()
}

/// Deterministic bytes that differ at every offset modulo 251.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// Fails the test instead of hanging.
pub async fn within<F: Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test step timed out")
}
