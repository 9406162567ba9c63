//! Interop on loopback with libtorrent 2.1.1 (python bindings) DHT nodes, driven by the lab script
//! `tests/peers/dht_node_lt.py`. Prints a SKIP line when `import libtorrent` fails.
//! CI: `pip install libtorrent==2.1.1`.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use support::external::{
    External, assert_reads_peer_and_item, have_libtorrent, hex, peers_dir, read_actions,
};
use swarmfs_dht::{Dht, Id, MutableItem, Value};

fn lt_node(name: &str, bootstrap: &[SocketAddr], actions: &[String]) -> External {
    let boot: Vec<String> = bootstrap.iter().map(ToString::to_string).collect();
    let mut args = vec![
        peers_dir().join("dht_node_lt.py").display().to_string(),
        "--bootstrap".into(),
        boot.join(","),
        "--duration".into(),
        "-1".into(),
    ];
    args.extend(actions.iter().cloned());
    External::spawn(name, "python3", &args).expect("spawn python3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarmfs_and_libtorrent_share_peers_and_items() {
    if !have_libtorrent() {
        println!(
            "SKIP interop_libtorrent: python3 cannot import libtorrent (pip install libtorrent==2.1.1)"
        );
        return;
    }
    let long = Duration::from_secs(60);
    // A small swarmfs DHT.
    let first = Dht::builder().build().await.unwrap();
    let mut ours = vec![first.clone()];
    for _ in 0..3 {
        let node = Dht::builder()
            .bootstrap(&[first.local_addr()])
            .build()
            .await
            .unwrap();
        node.bootstrapped().await.unwrap();
        ours.push(node);
    }
    let boot: Vec<SocketAddr> = ours.iter().map(Dht::local_addr).collect();

    // libtorrent node A joins through our nodes, announces a torrent and puts a mutable item.
    let ih_lt = Id::sha1(b"announced by libtorrent");
    let lt_key = SigningKey::from_bytes(&[0x33; 32]);
    let lt_value = b"hello from libtorrent";
    // One bootstrap node only: libtorrent never puts its bootstrap ("router") nodes in its
    // routing table, so the others must be learnt from responses.
    let mut lt_a = lt_node(
        "lt-a",
        &boot[..1],
        &[
            format!("announce:{ih_lt}:6100"),
            format!("put_mutable:{}:1:-:{}", "33".repeat(32), hex(lt_value)),
        ],
    );
    let ready = lt_a.expect(long, |l| l.starts_with("READY")).await;
    let lt_a_addr: SocketAddr = ready["READY ".len()..].trim().parse().unwrap();
    let announce = lt_a.action("announce", long).await;
    assert_eq!(announce["ok"], true, "{announce}");
    let put = lt_a.action("put_mutable", long).await;
    assert_eq!(
        put["ok"], true,
        "libtorrent could not store on swarmfs nodes: {put}"
    );

    // swarmfs finds libtorrent's peer and item; libtorrent answered our 4-byte-tid queries.
    assert_eq!(ours[2].ping(lt_a_addr).await.unwrap().to_string().len(), 40);
    let peers = ours[3].get_peers(ih_lt).unwrap().collect().await;
    assert!(
        peers.contains(&"127.0.0.1:6100".parse().unwrap()),
        "{peers:?}"
    );
    let item = ours[1]
        .get_mutable(&lt_key.verifying_key().to_bytes(), b"")
        .await
        .unwrap()
        .expect("libtorrent's item");
    assert_eq!(item.value().as_byte_string(), Some(&lt_value[..]));
    assert_eq!(hex(item.signature()), put["sig"].as_str().unwrap());

    // swarmfs publishes a BEP 46 item (dict value) and announces; libtorrent node B reads both.
    let ih_sf = Id::sha1(b"announced by swarmfs");
    assert!(ours[0].announce_peer(ih_sf, Some(6200)).await.unwrap() >= 1);
    let key = SigningKey::from_bytes(&[0x46; 32]);
    let target_ih = Id::sha1(b"bep46 content");
    let bep46 = MutableItem::sign(&key, b"bep46", 1, Value::bep46(target_ih.as_bytes())).unwrap();
    let stored = ours[1].put_mutable(bep46.clone(), None).await.unwrap();
    assert!(stored.stored >= 1);
    let mut lt_b = lt_node(
        "lt-b",
        &[boot[2], lt_a_addr],
        &read_actions(
            &ih_sf.to_string(),
            "127.0.0.1:6200",
            &key.verifying_key().to_bytes(),
            b"bep46",
        ),
    );
    assert_reads_peer_and_item(
        &mut lt_b,
        "127.0.0.1:6200",
        1,
        bep46.value().as_bencode(),
        long,
    )
    .await;
    assert!(lt_a.finish(long).await.starts_with("PASS"));
    for node in &ours {
        node.shutdown().await;
    }
}
