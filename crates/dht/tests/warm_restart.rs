//! Warm restarts through a persisted node list, with 10 real nodes on 127.0.0.1.

use std::path::PathBuf;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use swarmfs_dht::{Dht, Id, MutableItem, NodesFileError, Value, decode_nodes_file};

async fn network(n: usize) -> Vec<Dht> {
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

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("swarmfs-dht-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn restart_from_nodes_file_without_bootstrap_list() {
    let dir = temp_dir("warm");
    let path = dir.join("nodes.dat");
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(10))
        .await
        .unwrap();
    let info_hash = Id::sha1(b"warm restart torrent");
    assert!(nodes[2].announce_peer(info_hash, Some(4242)).await.unwrap() >= 1);
    let key = SigningKey::from_bytes(&[0x5a; 32]);
    let item = MutableItem::sign(&key, b"", 1, Value::bep46(&[0x77; 20])).unwrap();
    nodes[4].put_mutable(item, None).await.unwrap();

    // A node that knows the network saves its list and goes away.
    let leaving = Dht::builder()
        .bootstrap(&[nodes[0].local_addr()])
        .nodes_file(&path)
        .build()
        .await
        .unwrap();
    assert!(matches!(
        leaving.nodes_file_warning(),
        Some(NodesFileError::Missing { .. })
    ));
    leaving.bootstrapped().await.unwrap();
    let saved = leaving.save_nodes(&path).await.unwrap();
    assert!(saved >= 5, "saved {saved}");
    let on_disk = decode_nodes_file(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(on_disk.len(), saved);
    assert!(on_disk.iter().all(|n| n.addr.ip().is_loopback()));
    leaving.shutdown().await;

    // A new node with that file and no bootstrap list joins and finds the peer and the item.
    let back = Dht::builder().nodes_file(&path).build().await.unwrap();
    assert!(back.nodes_file_warning().is_none());
    let size = back.bootstrapped().await.unwrap();
    assert!(size >= 5, "routing table {size}");
    let mut peers = back.get_peers(info_hash).unwrap();
    let peer = tokio::time::timeout(Duration::from_secs(20), peers.next())
        .await
        .unwrap();
    assert_eq!(peer.map(|p| p.port()), Some(4242));
    let got = back
        .get_mutable(&key.verifying_key().to_bytes(), b"")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.value().bep46_info_hash(), Some([0x77; 20]));

    // Shutdown rewrites the file with the new node's table.
    std::fs::remove_file(&path).unwrap();
    back.shutdown().await;
    assert!(
        decode_nodes_file(&std::fs::read(&path).unwrap())
            .unwrap()
            .len()
            >= 5
    );

    for node in &nodes {
        node.shutdown().await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn corrupt_nodes_file_is_a_warning_and_bootstrap_still_works() {
    let dir = temp_dir("corrupt");
    let path = dir.join("nodes.dat");
    let nodes = network(3).await;
    // A hostile file: huge declared string length.
    std::fs::write(&path, b"d5:nodes999999999:e").unwrap();
    let node = Dht::builder()
        .bootstrap(&[nodes[0].local_addr()])
        .nodes_file(&path)
        .save_interval(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    assert!(matches!(
        node.nodes_file_warning(),
        Some(NodesFileError::Corrupt { .. })
    ));
    assert!(node.bootstrapped().await.unwrap() >= 2);
    // The periodic save replaces the corrupt file with a valid one.
    let mut saved = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(list) = decode_nodes_file(&std::fs::read(&path).unwrap_or_default()) {
            saved = list;
            break;
        }
    }
    assert!(saved.len() >= 2, "periodic save wrote {saved:?}");
    node.shutdown().await;
    for node in &nodes {
        node.shutdown().await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
