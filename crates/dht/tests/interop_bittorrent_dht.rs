//! Interop on loopback with bittorrent-dht 11 (webtorrent's DHT, node), driven by the lab script
//! `tests/peers/dht_node_js.mjs`. Prints a SKIP line when node or the package is missing.
//! CI: `npm install --ignore-scripts` in `crates/dht/tests/peers` (or set `LAB_NODE_MODULES`).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use support::external::{
    External, assert_reads_peer_and_item, bittorrent_dht_modules, hex, peers_dir, read_actions,
};
use swarmfs_dht::{Dht, Id, MutableItem, Value};

fn js_node(name: &str, modules: &Path, bootstrap: &[SocketAddr], actions: &[String]) -> External {
    let boot: Vec<String> = bootstrap.iter().map(ToString::to_string).collect();
    let mut args = vec![
        peers_dir().join("dht_node_js.mjs").display().to_string(),
        "--bootstrap".into(),
        boot.join(","),
        "--duration".into(),
        "-1".into(),
    ];
    args.extend(actions.iter().cloned());
    let env = [("LAB_NODE_MODULES", modules.display().to_string())];
    External::spawn_env(name, "node", &args, &env).expect("spawn node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarmfs_and_bittorrent_dht_share_peers_and_bep46_items() {
    let Some(modules) = bittorrent_dht_modules() else {
        println!(
            "SKIP interop_bittorrent_dht: node or bittorrent-dht missing (npm install --ignore-scripts in crates/dht/tests/peers)"
        );
        return;
    };
    let long = Duration::from_secs(60);
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

    // bittorrent-dht announces and publishes a BEP 46 item (dict value) through our nodes.
    let ih_js = Id::sha1(b"announced by bittorrent-dht");
    let js_key = SigningKey::from_bytes(&[0x11; 32]);
    let pointed = Id::sha1(b"js bep46 content");
    let js_value = Value::bep46(pointed.as_bytes());
    let mut js_a = js_node(
        "js-a",
        &modules,
        &boot[..2],
        &[
            format!("announce:{ih_js}:6500"),
            format!(
                "put_mutable_benc:{}:3:{}:{}",
                "11".repeat(32),
                hex(b"js46"),
                hex(js_value.as_bencode())
            ),
        ],
    );
    let ready = js_a.expect(long, |l| l.starts_with("READY")).await;
    let js_a_addr: SocketAddr = ready["READY ".len()..].trim().parse().unwrap();
    let announce = js_a.action("announce", long).await;
    assert_eq!(announce["ok"], true, "{announce}");
    let put = js_a.action("put_mutable_benc", long).await;
    assert_eq!(
        put["ok"], true,
        "bittorrent-dht could not store on swarmfs nodes: {put}"
    );

    assert_eq!(ours[3].ping(js_a_addr).await.unwrap().to_string().len(), 40);
    let peers = ours[2].get_peers(ih_js).unwrap().collect().await;
    assert!(
        peers.contains(&"127.0.0.1:6500".parse().unwrap()),
        "{peers:?}"
    );
    let item = ours[1]
        .get_mutable(&js_key.verifying_key().to_bytes(), b"js46")
        .await
        .unwrap()
        .expect("bittorrent-dht's BEP 46 item");
    assert_eq!(item.seq(), 3);
    assert_eq!(item.value().bep46_info_hash(), Some(pointed.0));
    assert_eq!(hex(item.signature()), put["sig"].as_str().unwrap());

    // swarmfs announces and publishes; a second bittorrent-dht node reads both.
    let ih_sf = Id::sha1(b"announced by swarmfs for js");
    assert!(ours[0].announce_peer(ih_sf, Some(6600)).await.unwrap() >= 1);
    let key = SigningKey::from_bytes(&[0x46; 32]);
    let ours_item = MutableItem::sign(&key, b"sf46", 2, Value::bep46(&[0x5a; 20])).unwrap();
    ours[2].put_mutable(ours_item.clone(), None).await.unwrap();
    let mut js_b = js_node(
        "js-b",
        &modules,
        &[boot[3], js_a_addr],
        &read_actions(
            &ih_sf.to_string(),
            "127.0.0.1:6600",
            &key.verifying_key().to_bytes(),
            b"sf46",
        ),
    );
    assert_reads_peer_and_item(
        &mut js_b,
        "127.0.0.1:6600",
        2,
        ours_item.value().as_bencode(),
        long,
    )
    .await;
    assert!(js_a.finish(long).await.starts_with("PASS"));
    for node in &ours {
        node.shutdown().await;
    }
}
