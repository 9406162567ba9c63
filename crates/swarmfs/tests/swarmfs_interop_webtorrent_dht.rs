//! Interop on loopback, the way mutable-webtorrent publishes: the npm `bittorrent-dht` package
//! (webtorrent's DHT) puts a BEP 46 item `{ih: <info-hash>}` into a private DHT; a libtorrent
//! 2.x seeder announces that torrent to the same DHT; a swarmfs client gets only the mutable
//! magnet, resolves it, finds the libtorrent seeder through the DHT (it is given no peer
//! address), fetches the metadata and reads the files.
//!
//! Counterparts, reused from other crates' tests rather than copied:
//! - `crates/dht/tests/peers/dht_node_js.mjs` (`put_mutable_benc`), which needs
//!   `npm install --ignore-scripts` in `crates/dht/tests/peers` (or `LAB_NODE_MODULES`);
//! - `crates/engine/tests/discovery_lt.py seed`, which needs `pip install libtorrent==2.1.1`.
//!
//! Prints a SKIP line (and passes) when node, bittorrent-dht or libtorrent is missing.

mod support;

#[allow(dead_code, unreachable_pub)]
#[path = "../../dht/tests/support/external.rs"]
mod external;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use external::{External, have_libtorrent};
use swarmfs::{Keypair, LookupOptions};
use swarmfs_dht::Value;
use swarmfs_metainfo::TorrentBuilder;

use support::{builder, dht_network, pattern, shutdown, within};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A `node_modules` with bittorrent-dht where the DHT crate's tests look for it, if `node` runs.
fn bittorrent_dht_modules() -> Option<PathBuf> {
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok {
        return None;
    }
    [
        std::env::var_os("LAB_NODE_MODULES").map(PathBuf::from),
        Some(crates_dir().join("dht/tests/peers/node_modules")),
        Some(crates_dir().join("../../shared/peers/node_modules")),
    ]
    .into_iter()
    .flatten()
    .find(|dir| dir.join("bittorrent-dht/package.json").exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bittorrent_dht_item_resolves_to_a_libtorrent_seeder_found_through_the_dht() {
    let Some(modules) = bittorrent_dht_modules() else {
        println!(
            "SKIP swarmfs_interop_webtorrent_dht: node or bittorrent-dht missing (npm install --ignore-scripts in crates/dht/tests/peers)"
        );
        return;
    };
    if !have_libtorrent() {
        println!(
            "SKIP swarmfs_interop_webtorrent_dht: python3 cannot import libtorrent (pip install libtorrent==2.1.1)"
        );
        return;
    }
    let long = Duration::from_secs(90);
    let nodes = within(30, dht_network(6)).await;
    let boot: Vec<String> = nodes.iter().map(|n| n.local_addr().to_string()).collect();

    // The content, on disk for libtorrent, as a multi-file torrent.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("wt-site");
    std::fs::create_dir_all(root.join("media")).unwrap();
    let big = pattern(3 * 1024 * 1024 + 777, 46);
    std::fs::write(root.join("index.html"), b"<h1>from webtorrent's dht</h1>").unwrap();
    std::fs::write(root.join("media/big.bin"), &big).unwrap();
    let torrent = TorrentBuilder::new()
        .piece_length(64 * 1024)
        .build_path(&root)
        .unwrap();
    let tfile = dir.path().join("wt-site.torrent");
    std::fs::write(&tfile, torrent.to_bytes()).unwrap();
    let info_hash = torrent.info_hash();

    // libtorrent seeds it and announces it to our DHT (every 3 s).
    let mut lt = External::spawn(
        "lt-seed",
        "python3",
        &[
            crates_dir()
                .join("engine/tests/discovery_lt.py")
                .display()
                .to_string(),
            "seed".into(),
            tfile.display().to_string(),
            dir.path().display().to_string(),
            boot[..3].join(","),
        ],
    )
    .unwrap();
    let ready = lt.expect(long, |l| l.starts_with("READY port=")).await;
    let lt_port: u16 = ready["READY port=".len()..].trim().parse().unwrap();

    // bittorrent-dht publishes the BEP 46 pointer, as mutable-webtorrent does.
    let seed = [0x6d; 32];
    let salt = b"wt-site";
    let keypair = Keypair::from_secret_bytes(&seed);
    let value = Value::bep46(info_hash.as_bytes());
    let mut js = External::spawn_env(
        "js-publish",
        "node",
        &[
            crates_dir()
                .join("dht/tests/peers/dht_node_js.mjs")
                .display()
                .to_string(),
            "--bootstrap".into(),
            boot[3..].join(","),
            "--duration".into(),
            "-1".into(),
            format!(
                "put_mutable_benc:{}:1:{}:{}",
                hex::encode(seed),
                hex::encode(salt),
                hex::encode(value.as_bencode())
            ),
        ],
        &[("LAB_NODE_MODULES", modules.display().to_string())],
    )
    .unwrap();
    let put = js.action("put_mutable_benc", long).await;
    assert_eq!(put["ok"], true, "bittorrent-dht could not publish: {put}");
    assert_eq!(put["pubkey"].as_str(), Some(&*keypair.public_key_hex()));

    // The reader gets nothing but the mutable magnet.
    let murl = format!(
        "magnet:?xs=urn:btpk:{}&s={}",
        keypair.public_key_hex(),
        hex::encode(salt)
    );
    let reader = builder(&nodes).build().await.unwrap();
    let version = within(60, reader.resolve(&murl)).await.unwrap();
    assert_eq!((version.seq, version.info_hash), (1, info_hash));
    let archive = within(
        90,
        reader.lookup(
            &murl,
            LookupOptions::default()
                .timeout(Duration::from_secs(80))
                .seed(false),
        ),
    )
    .await
    .unwrap();
    assert_eq!(archive.info_hash(), Some(info_hash));
    assert_eq!(archive.name(), "wt-site");
    // The metadata just came from libtorrent, the only peer there is.
    let torrent = archive.torrent().unwrap().clone();
    let stats = torrent.stats().await.unwrap();
    assert!(stats.peers >= 1, "{stats:?}");
    let names: Vec<String> = archive
        .read_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["index.html", "media"]);
    assert_eq!(
        within(60, archive.read_file("/index.html")).await.unwrap(),
        b"<h1>from webtorrent's dht</h1>"
    );
    assert_eq!(
        within(90, archive.read_file("/media/big.bin"))
            .await
            .unwrap(),
        big
    );
    // The bytes came from libtorrent, the only seeder, found through the DHT.
    let stats = torrent.stats().await.unwrap();
    assert!(stats.downloaded >= big.len() as u64, "{stats:?}");
    println!(
        "read {} bytes; libtorrent listens on 127.0.0.1:{lt_port}",
        stats.downloaded
    );

    archive.close().await.unwrap();
    reader.stop().await;
    assert_eq!(reader.live_tasks(), 0);
    assert!(js.finish(long).await.starts_with("PASS"));
    drop(lt);
    shutdown(&nodes).await;
}
