//! One private DHT on loopback with three implementations: swarmfs nodes, a `mainline::Testnet`
//! (plus a mainline server that knows swarmfs nodes) and a libtorrent node. Every implementation
//! finds the peers every other one announced.
//!
//! mainline nodes never answer libtorrent (2-byte transaction ids), so the peers mainline
//! announces reach libtorrent only because swarmfs nodes, which answer both, store them too.
//! Prints a SKIP line when libtorrent's python bindings are missing.
#![allow(deprecated)] // mainline's blocking API

mod support;

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use support::external::{External, have_libtorrent, peers_dir};
use swarmfs_dht::{Dht, Id};

fn ml_id(id: Id) -> mainline::Id {
    mainline::Id::from_str(&id.to_string()).unwrap()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_implementation_finds_every_other_ones_peers() {
    if !have_libtorrent() {
        println!(
            "SKIP interop_mixed: python3 cannot import libtorrent (pip install libtorrent==2.1.1)"
        );
        return;
    }
    let long = Duration::from_secs(60);
    let testnet = blocking(|| mainline::Testnet::builder(3).build().unwrap()).await;
    let ml_boot: Vec<SocketAddr> = testnet
        .bootstrap
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let mut ours = Vec::new();
    for _ in 0..4 {
        let node = Dht::builder().bootstrap(&ml_boot).build().await.unwrap();
        node.bootstrapped().await.unwrap();
        ours.push(node);
    }
    let ours_boot: Vec<String> = ours.iter().map(|n| n.local_addr().to_string()).collect();
    let bridge = {
        let mut boot = ours_boot.clone();
        boot.extend(testnet.bootstrap.iter().cloned());
        blocking(move || {
            let dht = mainline::Dht::builder()
                .bootstrap(&boot)
                .server_mode()
                .build()
                .unwrap();
            assert!(dht.bootstrapped());
            dht
        })
        .await
    };

    let (ih_sf, ih_ml, ih_lt) = (
        Id::sha1(b"mixed: swarmfs"),
        Id::sha1(b"mixed: mainline"),
        Id::sha1(b"mixed: libtorrent"),
    );
    assert!(ours[0].announce_peer(ih_sf, Some(7100)).await.unwrap() >= 1);
    {
        let bridge = bridge.clone();
        blocking(move || bridge.announce_peer(ml_id(ih_ml), Some(7200)).unwrap()).await;
    }
    let mut lt = External::spawn(
        "lt-mixed",
        "python3",
        &[
            peers_dir().join("dht_node_lt.py").display().to_string(),
            "--bootstrap".into(),
            ours_boot[1].clone(),
            "--duration".into(),
            "-1".into(),
            format!("announce:{ih_lt}:7300"),
            format!("get_peers:{ih_sf}:127.0.0.1:7100"),
            format!("get_peers:{ih_ml}:127.0.0.1:7200"),
        ],
    )
    .unwrap();
    assert_eq!(lt.action("announce", long).await["ok"], true);
    let contains = |v: &serde_json::Value, peer: &str| {
        v["peers"].as_array().unwrap().iter().any(|p| p == peer)
    };
    let lt_sf = lt.action("get_peers", long).await;
    assert!(
        contains(&lt_sf, "127.0.0.1:7100"),
        "libtorrent missed swarmfs's peer: {lt_sf}"
    );
    let lt_ml = lt.action("get_peers", long).await;
    assert!(
        contains(&lt_ml, "127.0.0.1:7200"),
        "libtorrent missed mainline's peer: {lt_ml}"
    );

    // swarmfs finds mainline's and libtorrent's peers.
    for (ih, peer) in [(ih_ml, "127.0.0.1:7200"), (ih_lt, "127.0.0.1:7300")] {
        let peers = ours[3].get_peers(ih).unwrap().collect().await;
        assert!(
            peers.contains(&peer.parse().unwrap()),
            "swarmfs missed {peer}: {peers:?}"
        );
    }
    // mainline (a Testnet node, which knows only mainline nodes and the bridge's answers) finds
    // swarmfs's and libtorrent's peers.
    for (ih, peer) in [(ih_sf, "127.0.0.1:7100"), (ih_lt, "127.0.0.1:7300")] {
        let ml = bridge.clone();
        let peers: Vec<std::net::SocketAddrV4> =
            blocking(move || ml.get_peers(ml_id(ih)).flatten().collect()).await;
        assert!(
            peers.contains(&peer.parse().unwrap()),
            "mainline missed {peer}: {peers:?}"
        );
    }

    assert!(lt.finish(long).await.starts_with("PASS"));
    for node in &ours {
        node.shutdown().await;
    }
    drop(bridge);
    drop(testnet);
}
