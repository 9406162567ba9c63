//! Real swarmfs nodes (tokio driver, UDP) on 127.0.0.1.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use swarmfs_dht::{Dht, DhtError, ErrorCode, Id, MutableItem, Value};

async fn network(n: usize) -> Vec<Dht> {
    let first = Dht::builder().build().await.unwrap();
    let boot = [first.local_addr()];
    let mut nodes = vec![first];
    for _ in 1..n {
        let node = Dht::builder().bootstrap(&boot).build().await.unwrap();
        node.bootstrapped().await.unwrap();
        nodes.push(node);
    }
    // A second pass so that early nodes learn about late ones.
    for node in &nodes {
        node.find_node(node.id()).await.unwrap();
    }
    nodes
}

async fn shutdown(nodes: Vec<Dht>) {
    for node in &nodes {
        node.shutdown().await;
        assert!(node.is_shut_down());
        assert!(matches!(node.stats().await, Err(DhtError::Shutdown)));
    }
}

#[tokio::test]
async fn ten_nodes_share_a_bep46_item() {
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(10))
        .await
        .unwrap();
    for node in &nodes {
        assert!(node.stats().await.unwrap().routing_nodes >= 5);
    }
    let key = SigningKey::from_bytes(&[0x46; 32]);
    let salt = b"swarmfs";
    let publish =
        |seq: i64, ih: u8| MutableItem::sign(&key, salt, seq, Value::bep46(&[ih; 20])).unwrap();
    let put = nodes[3].put_mutable(publish(1, 0xaa), None).await.unwrap();
    assert!(put.stored >= 5, "{put:?}");
    let got = nodes[8]
        .get_mutable(&key.verifying_key().to_bytes(), salt)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.seq(), got.value().bep46_info_hash()),
        (1, Some([0xaa; 20]))
    );

    nodes[5]
        .put_mutable(publish(2, 0xbb), Some(1))
        .await
        .unwrap();
    match nodes[6].put_mutable(publish(3, 0xcc), Some(1)).await {
        Err(DhtError::Conflict { stored, errors }) => {
            // BEP 44's CAS is per node: a node that held no copy (with 10 nodes, at most one is
            // outside both earlier puts' closest 8 + publisher) accepts the put.
            assert!(stored <= 1, "{stored} nodes without a copy");
            assert!(errors.len() >= 6 && errors.iter().all(|e| e.code == ErrorCode::CasMismatch));
        }
        other => panic!("cas mismatch accepted: {other:?}"),
    }
    // The newest verified item wins: seq 2, or seq 3 if the lone copy-less node is reached.
    let got = nodes[0]
        .get_mutable(&key.verifying_key().to_bytes(), salt)
        .await
        .unwrap()
        .unwrap();
    let ih = got.value().bep46_info_hash();
    assert!(
        matches!(
            (got.seq(), ih),
            (2, Some([0xbb, ..])) | (3, Some([0xcc, ..]))
        ),
        "{got:?}"
    );
    shutdown(nodes).await;
}

#[tokio::test]
async fn peers_immutable_items_and_ping_on_loopback() {
    let nodes = tokio::time::timeout(Duration::from_secs(60), network(10))
        .await
        .unwrap();
    let id = nodes[1].ping(nodes[2].local_addr()).await.unwrap();
    assert_eq!(id, nodes[2].id());
    let dead: SocketAddr = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    };
    assert!(matches!(
        nodes[1].ping(dead).await,
        Err(DhtError::NoAnswer { .. })
    ));

    let ih = Id::sha1(b"loopback torrent");
    assert!(nodes[2].announce_peer(ih, Some(6000)).await.unwrap() >= 5);
    assert!(nodes[4].announce_peer(ih, None).await.unwrap() >= 5);
    let peers: HashSet<SocketAddr> = nodes[9]
        .get_peers(ih)
        .unwrap()
        .collect()
        .await
        .into_iter()
        .collect();
    let expect: HashSet<SocketAddr> =
        ["127.0.0.1:6000".parse().unwrap(), nodes[4].local_addr()].into();
    assert_eq!(peers, expect);

    let value = Value::from_bencode(b"l4:spam4:eggse".to_vec()).unwrap();
    let put = nodes[7].put_immutable(value.clone()).await.unwrap();
    assert_eq!(put.target, Id::sha1(value.as_bencode()));
    assert_eq!(
        nodes[1].get_immutable(put.target).await.unwrap(),
        Some(value)
    );
    assert_eq!(
        nodes[1].get_immutable(Id::sha1(b"absent")).await.unwrap(),
        None
    );
    let closest = nodes[0].find_node(nodes[6].id()).await.unwrap();
    assert_eq!(closest[0].addr, nodes[6].local_addr());
    shutdown(nodes).await;
}

/// IPv6 (BEP 32 `nodes6`, 18-byte peers) on `[::1]`: single-stack nodes, where the host has it.
#[tokio::test]
async fn ipv6_loopback_nodes() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        println!("SKIP ipv6_loopback_nodes: no IPv6 loopback");
        return;
    }
    let v6: SocketAddr = "[::1]:0".parse().unwrap();
    let first = Dht::builder().bind(v6).build().await.unwrap();
    let mut nodes = vec![first.clone()];
    for _ in 0..4 {
        let node = Dht::builder()
            .bind(v6)
            .bootstrap(&[first.local_addr()])
            .build()
            .await
            .unwrap();
        assert!(node.bootstrapped().await.unwrap() >= 1);
        nodes.push(node);
    }
    let closest = nodes[4].find_node(nodes[2].id()).await.unwrap();
    assert_eq!(closest[0].addr, nodes[2].local_addr());
    let ih = Id::sha1(b"v6 torrent");
    nodes[1].announce_peer(ih, None).await.unwrap();
    let peers = nodes[3].get_peers(ih).unwrap().collect().await;
    assert_eq!(peers, vec![nodes[1].local_addr()]);
    let value = Value::from_byte_string(b"over ipv6").unwrap();
    let put = nodes[2].put_immutable(value.clone()).await.unwrap();
    assert_eq!(
        nodes[0].get_immutable(put.target).await.unwrap(),
        Some(value)
    );
    shutdown(nodes).await;
}
