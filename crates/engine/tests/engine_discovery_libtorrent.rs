//! Interop through a private DHT on loopback: libtorrent 2.x (python bindings) and swarmfs find
//! each other from a bare magnet, each way. The DHT is ten swarmfs-dht nodes on 127.0.0.1; the
//! libtorrent side is `tests/discovery_lt.py`. Prints a SKIP line when `import libtorrent` fails
//! (`pip install libtorrent==2.1.1`).

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::*;
use swarmfs_dht::Dht;
use swarmfs_engine::{Engine, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, TorrentBuilder};

/// Kills the child when dropped.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn libtorrent_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!(
            "SKIP engine_discovery_libtorrent: python3 cannot import libtorrent (pip install libtorrent==2.1.1)"
        );
    }
    ok
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/discovery_lt.py")
}

/// Starts the script; its stdout lines arrive on the returned channel.
fn lt(args: &[String]) -> (Reap, mpsc::Receiver<String>) {
    let mut child = Command::new("python3")
        .arg(script())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn python3");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (Reap(child), rx)
}

/// Waits (off the runtime) for a line starting with `prefix`.
async fn line(
    rx: mpsc::Receiver<String>,
    prefix: &'static str,
) -> (String, mpsc::Receiver<String>) {
    tokio::task::spawn_blocking(move || {
        loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(l) if l.starts_with(prefix) => return (l, rx),
                Ok(_) => {}
                Err(e) => panic!("libtorrent script ended or stalled before {prefix:?}: {e}"),
            }
        }
    })
    .await
    .expect("join")
}

async fn private_dht(n: usize) -> Vec<Dht> {
    let first = Dht::builder().build().await.expect("dht");
    let mut nodes = vec![first.clone()];
    for _ in 1..n {
        nodes.push(
            Dht::builder()
                .bootstrap(&[first.local_addr()])
                .build()
                .await
                .expect("dht"),
        );
    }
    for node in &nodes {
        node.bootstrapped().await.expect("bootstrapped");
    }
    nodes
}

fn joined(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_seeder_in_our_dht_is_found_from_a_bare_magnet() {
    if !libtorrent_available() {
        return;
    }
    let nodes = private_dht(10).await;
    let boot: Vec<SocketAddr> = nodes.iter().take(3).map(Dht::local_addr).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = data(3 << 20, 81);
    let torrent = TorrentBuilder::new()
        .piece_length(64 * 1024)
        .build_single("payload.bin", &payload)
        .expect("build");
    std::fs::write(dir.path().join("payload.bin"), &payload).expect("write data");
    let tpath = dir.path().join("t.torrent");
    std::fs::write(&tpath, torrent.to_bytes()).expect("write torrent");
    let info = torrent.into_info();

    let (_seed, rx) = lt(&[
        "seed".into(),
        tpath.display().to_string(),
        dir.path().display().to_string(),
        joined(&boot),
    ]);
    let (ready, _rx) = line(rx, "READY").await;
    let lt_port: u16 = ready["READY port=".len()..].parse().expect("port");

    let engine = Engine::builder()
        .dht_bootstrap(&boot)
        .dht_retry_interval(Duration::from_millis(500))
        .build()
        .await
        .expect("engine");
    let magnet = Magnet::from_info_hash(info.info_hash());
    let t = engine
        .add_magnet(&magnet, MemoryStorage::factory(), TorrentOptions::new())
        .expect("add");
    let mut events = t.events();
    tokio::time::timeout(Duration::from_secs(90), t.wait_done())
        .await
        .expect("found libtorrent through the dht and downloaded in 90 s")
        .expect("done");
    assert_eq!(read_all(&t, payload.len()).await, payload);
    let mut from_lt = false;
    while let Ok(ev) = events.try_recv() {
        if ev
            == swarmfs_engine::TorrentEvent::PeerConnected(SocketAddr::from((
                [127, 0, 0, 1],
                lt_port,
            )))
        {
            from_lt = true;
        }
    }
    assert!(
        from_lt,
        "never connected to libtorrent's announced port {lt_port}"
    );
    engine.shutdown().await;
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_finds_a_swarmfs_seeder_from_a_bare_magnet() {
    if !libtorrent_available() {
        return;
    }
    let nodes = private_dht(10).await;
    let boot: Vec<SocketAddr> = nodes.iter().take(3).map(Dht::local_addr).collect();
    let payload = data(2 << 20, 82);
    let info = info(&payload, 64 * 1024);
    let engine = Engine::builder()
        .dht_bootstrap(&boot)
        .build()
        .await
        .expect("engine");
    let storage = filled_storage(&info, &payload).await;
    let s = engine
        .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
        .expect("add");
    timeout(s.wait_done()).await.expect("seeding");
    // Our announce is on the DHT before libtorrent looks.
    let ih = swarmfs_dht::Id(*info.info_hash().as_bytes());
    for _ in 0..100 {
        let found = nodes[5].get_peers(ih).expect("lookup").collect().await;
        if found.contains(&engine.listen_addr()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_leech, rx) = lt(&[
        "leech".into(),
        format!("magnet:?xt=urn:btih:{}", info.info_hash().to_hex()),
        dir.path().display().to_string(),
        joined(&boot),
    ]);
    line(rx, "DONE").await;
    let got = file_once_written(&dir.path().join("file.bin"), &payload).await;
    assert!(
        got == payload,
        "libtorrent's file differs ({} bytes)",
        got.len()
    );
    engine.shutdown().await;
    for n in nodes {
        n.shutdown().await;
    }
}
