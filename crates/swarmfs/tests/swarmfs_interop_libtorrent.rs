//! Interop on loopback: a BEP 46 item published by a swarmfs client is read back by libtorrent
//! 2.1.1's `dht_get_mutable_item` (python bindings, driven by the DHT crate's lab script
//! `crates/dht/tests/peers/dht_node_lt.py`) and its `ih` is the seeded torrent's info-hash.
//! Prints a SKIP line when `import libtorrent` fails.

mod support;

use std::path::PathBuf;
use std::process::Command;

use swarmfs::{Archive, Keypair};
use swarmfs_memory::MemoryStorage;

use support::{client, dht_network, shutdown, within};

fn have_libtorrent() -> bool {
    Command::new("python3")
        .args(["-c", "import libtorrent"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn lab_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dht/tests/peers/dht_node_lt.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_reads_a_published_archive() {
    if !have_libtorrent() || !lab_script().exists() {
        println!(
            "SKIP swarmfs_interop_libtorrent: python3 cannot import libtorrent (pip install libtorrent==2.1.1)"
        );
        return;
    }
    let nodes = within(30, dht_network(4)).await;
    let publisher = client(&nodes).await;
    let site = Archive::new(MemoryStorage::factory());
    site.write_file("/index.html", b"<h1>interop</h1>")
        .await
        .unwrap();
    let url = within(30, publisher.seed(&site)).await.unwrap();
    let keypair = Keypair::generate();
    let salt = b"lt";
    within(30, publisher.publish(&url, &keypair, salt))
        .await
        .unwrap();
    let ih = swarmfs_metainfo::Magnet::parse(&url)
        .unwrap()
        .info_hash()
        .unwrap();

    let boot = nodes[0].local_addr().to_string();
    let action = format!(
        "get_mutable:{}:{}",
        keypair.public_key_hex(),
        hex::encode(salt)
    );
    let script = lab_script();
    let out = within(
        90,
        tokio::task::spawn_blocking(move || {
            Command::new("python3")
                .arg(script)
                .args(["--bootstrap", &boot, "--duration", "0", &action])
                .output()
                .expect("run python3")
        }),
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("\"action\": \"get_mutable\""))
        .unwrap_or_else(|| panic!("no get_mutable result: {stdout}"));
    assert!(line.contains("\"ok\": true"), "{line}");
    assert!(line.contains("\"seq\": 1"), "{line}");
    assert!(line.contains("\"sig_valid\": true"), "{line}");
    // The value is the BEP 46 dictionary {ih: <the torrent's 20 raw bytes>}.
    let v_benc = format!("d2:ih20:{}e", "X");
    let expect = hex::encode(v_benc.as_bytes()).replace(&hex::encode(b"X"), &ih.to_hex());
    assert!(
        line.contains(&format!("\"v_benc\": \"{expect}\"")),
        "{line}"
    );

    publisher.stop().await;
    shutdown(&nodes).await;
}
