//! Bare-magnet lookup through a private 50-node swarmfs DHT on loopback: time from `add_magnet`
//! to the first connected peer, to the metadata, and to the whole 64 MiB torrent verified.
//! Median (and min/max) of 10 fresh leechers against one seeder. Then, when python3 can import
//! libtorrent, the same for 10 libtorrent leechers (`tests/discovery_lt.py`, DHT bootstrapped
//! before the magnet is added; times measured inside the script) in the same DHT.
//!
//! `cargo bench -p swarmfs-engine --bench discovery_dht` (add `-- --nodes N --mib M --runs R`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use swarmfs_dht::Dht;
use swarmfs_engine::{Engine, TorrentEvent, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, TorrentBuilder};
use swarmfs_storage::{StorageFactory, StoragePath};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn payload(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn report(who: &str, peer: &mut [Duration], meta: &mut [Duration], done: &mut [Duration]) {
    for (name, v) in [("first peer", peer), ("metadata", meta), ("done", done)] {
        let (lo, med, hi) = median(v);
        println!(
            "  {who:<10} {name:<10} median {:>8.1} ms   min {:>8.1} ms   max {:>8.1} ms",
            med.as_secs_f64() * 1e3,
            lo.as_secs_f64() * 1e3,
            hi.as_secs_f64() * 1e3
        );
    }
}

fn libtorrent_available() -> bool {
    Command::new("python3")
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One libtorrent leecher: (first peer, metadata, done) as the script measured them.
fn libtorrent_leech(
    uri: &str,
    dir: &std::path::Path,
    boot: &str,
) -> (Duration, Duration, Duration) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/discovery_lt.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["leech", uri])
        .arg(dir)
        .arg(boot)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let out = child.stdout.take().expect("stdout");
    let mut got = [None, None, None];
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        let mut it = line.split_whitespace();
        let slot = match it.next() {
            Some("PEER") => 0,
            Some("METADATA") => 1,
            Some("DONE") => 2,
            _ => continue,
        };
        let ms: f64 = it.next().and_then(|v| v.parse().ok()).expect("ms");
        got[slot] = Some(Duration::from_secs_f64(ms / 1e3));
    }
    let _ = child.wait();
    let [Some(p), Some(m), Some(d)] = got else {
        panic!("libtorrent leecher failed: {got:?}");
    };
    (p, m, d)
}

fn median(v: &mut [Duration]) -> (Duration, Duration, Duration) {
    v.sort();
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nodes_n = arg("--nodes", 50);
    let mib = arg("--mib", 64);
    let runs = arg("--runs", 10);
    let first = Dht::builder().build().await.expect("dht");
    let mut nodes = vec![first.clone()];
    for _ in 1..nodes_n {
        nodes.push(
            Dht::builder()
                .bootstrap(&[first.local_addr()])
                .build()
                .await
                .expect("dht"),
        );
    }
    for n in &nodes {
        n.bootstrapped().await.expect("bootstrap");
    }
    let boot: Vec<_> = nodes.iter().take(5).map(Dht::local_addr).collect();

    let data = payload(mib << 20);
    let info = TorrentBuilder::new()
        .piece_length(256 * 1024)
        .build_single("file.bin", &data)
        .expect("torrent")
        .into_info();
    let storage = MemoryStorage::factory();
    let path = StoragePath::new(["file.bin"]).expect("path");
    storage
        .open(&path)
        .await
        .expect("open")
        .write_at(0, &data)
        .await
        .expect("write");
    let seeder = Engine::builder()
        .dht_bootstrap(&boot)
        .build()
        .await
        .expect("seeder");
    let s = seeder
        .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
        .expect("add");
    s.wait_done().await.expect("seeded");
    // Wait until the announce is on the DHT.
    let ih = swarmfs_dht::Id(*info.info_hash().as_bytes());
    while !nodes[nodes_n / 2]
        .get_peers(ih)
        .expect("lookup")
        .collect()
        .await
        .contains(&seeder.listen_addr())
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let magnet = Magnet::from_info_hash(info.info_hash());
    let (mut peer, mut meta, mut done) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let leech = Engine::builder()
            .dht_bootstrap(&boot)
            .dht_retry_interval(Duration::from_millis(200))
            .build()
            .await
            .expect("leecher");
        leech
            .dht()
            .expect("dht")
            .bootstrapped()
            .await
            .expect("bootstrap");
        let t0 = Instant::now();
        let t = leech
            .add_magnet(&magnet, MemoryStorage::factory(), TorrentOptions::new())
            .expect("add");
        let mut events = t.events();
        let (mut p, mut m) = (None, None);
        while p.is_none() || m.is_none() {
            match events.recv().await {
                Ok(TorrentEvent::PeerConnected(_)) if p.is_none() => p = Some(t0.elapsed()),
                Ok(TorrentEvent::Metadata) => m = Some(t0.elapsed()),
                Ok(_) => {}
                Err(e) => panic!("events: {e}"),
            }
        }
        t.wait_done().await.expect("done");
        done.push(t0.elapsed());
        peer.extend(p);
        meta.extend(m);
        leech.shutdown().await;
    }
    println!(
        "discovery_dht: {nodes_n}-node private DHT, {mib} MiB torrent, {runs} fresh leechers (bootstrapped before timing)"
    );
    report("swarmfs", &mut peer, &mut meta, &mut done);
    if libtorrent_available() {
        let boot_list = boot
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let uri = format!("magnet:?xt=urn:btih:{}", info.info_hash().to_hex());
        let (mut peer, mut meta, mut done) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let dir = tempfile::tempdir().expect("tempdir");
            let (p, m, d) = tokio::task::spawn_blocking({
                let (uri, boot_list, dir) = (uri.clone(), boot_list.clone(), dir.path().to_owned());
                move || libtorrent_leech(&uri, &dir, &boot_list)
            })
            .await
            .expect("join");
            peer.push(p);
            meta.push(m);
            done.push(d);
        }
        report("libtorrent", &mut peer, &mut meta, &mut done);
    } else {
        println!("  libtorrent: SKIP (python3 cannot import libtorrent)");
    }
    seeder.shutdown().await;
    for n in nodes {
        n.shutdown().await;
    }
}
