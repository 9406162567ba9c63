//! BEP 14 with the real group and port (239.192.152.143:6771, default interface), DHT off: two
//! engines find each other and transfer. Multicast on loopback needs a private network
//! namespace with one route, so the test re-runs itself under
//! `unshare --net` + `ip link set lo up; ip route add 239.0.0.0/8 dev lo src 127.0.0.1`
//! (as `../shared/peers/netns_run.sh --multicast` does; root needed). Elsewhere it prints SKIP.
//!
//! With libtorrent's python bindings installed, the same namespace also runs a live libtorrent
//! session with LSD only (`tests/discovery_lt.py`): swarmfs fetches a bare magnet from the
//! libtorrent seeder, and libtorrent fetches one from a swarmfs seeder.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;
use swarmfs_engine::{Engine, EngineBuilder, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, TorrentBuilder};

/// Set in the re-executed test process, inside the namespace.
const INNER: &str = "SWARMFS_LSD_NETNS_INNER";
const NAME: &str = "lsd_default_group_in_a_network_namespace";

#[test]
fn lsd_default_group_in_a_network_namespace() {
    if std::env::var_os(INNER).is_some() {
        inner();
        return;
    }
    let can = Command::new("unshare")
        .args(["--net", "--", "ip", "link", "set", "lo", "up"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !can {
        println!(
            "SKIP {NAME}: cannot create a network namespace (needs root, util-linux unshare and iproute2)"
        );
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new("unshare")
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && ip route add 239.0.0.0/8 dev lo src 127.0.0.1 && exec \"$0\" \"$@\"",
        ])
        .arg(exe)
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .output()
        .expect("run in netns");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("LSD-NETNS-PASS"),
        "inner run failed:\n{stdout}\n{stderr}"
    );
}

fn inner() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut b: EngineBuilder = Engine::builder();
        // The defaults: group 239.192.152.143:6771, system-chosen interface; DHT off.
        b.lsd(true).lsd_min_gap(Duration::from_millis(200));
        let payload = data(1 << 20, 71);
        let info = info(&payload, 16 * 1024);
        let seed = b.build().await.expect("seeder");
        let storage = filled_storage(&info, &payload).await;
        let s = seed
            .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
            .expect("add");
        timeout(s.wait_done()).await.expect("seeded");
        let leech = b.build().await.expect("leecher");
        let t = leech
            .add_magnet(
                &Magnet::from_info_hash(info.info_hash()),
                MemoryStorage::factory(),
                TorrentOptions::new(),
            )
            .expect("add magnet");
        timeout(t.wait_done()).await.expect("done via lsd");
        assert_eq!(read_all(&t, payload.len()).await, payload);
        leech.shutdown().await;
        seed.shutdown().await;
        assert_eq!(leech.live_tasks() + seed.live_tasks(), 0);
        if libtorrent_available() {
            with_libtorrent(&b).await;
        } else {
            println!("SKIP libtorrent lsd: python3 cannot import libtorrent");
        }
        println!("LSD-NETNS-PASS");
    });
}

fn libtorrent_available() -> bool {
    Command::new("python3")
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Kills the child when dropped.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `tests/discovery_lt.py` with LSD and waits (off the runtime) for a line with `prefix`.
async fn lt_until(args: Vec<String>, prefix: &'static str) -> Reap {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/discovery_lt.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    let out = child.stdout.take().expect("stdout");
    let found = tokio::task::spawn_blocking(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with(prefix))
    });
    let found = tokio::time::timeout(Duration::from_secs(120), found)
        .await
        .expect("libtorrent stalled")
        .expect("join");
    assert!(found, "libtorrent ended before {prefix:?}");
    Reap(child)
}

async fn with_libtorrent(b: &EngineBuilder) {
    let mut b = b.clone();
    b.lsd_announce_interval(Duration::from_secs(1));
    // libtorrent seeds over LSD; swarmfs fetches a bare magnet.
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = data(1 << 20, 72);
    let torrent = TorrentBuilder::new()
        .piece_length(32 * 1024)
        .build_single("payload.bin", &payload)
        .expect("build");
    std::fs::write(dir.path().join("payload.bin"), &payload).expect("data");
    let tpath = dir.path().join("t.torrent");
    std::fs::write(&tpath, torrent.to_bytes()).expect("torrent");
    let lt_info = torrent.into_info();
    let _lt_seed = lt_until(
        vec![
            "seed".into(),
            tpath.display().to_string(),
            dir.path().display().to_string(),
            "lsd".into(),
        ],
        "READY",
    )
    .await;
    let leech = b.build().await.expect("leecher");
    let t = leech
        .add_magnet(
            &Magnet::from_info_hash(lt_info.info_hash()),
            MemoryStorage::factory(),
            TorrentOptions::new(),
        )
        .expect("add");
    tokio::time::timeout(Duration::from_secs(90), t.wait_done())
        .await
        .expect("libtorrent's lsd seeder found and fetched")
        .expect("done");
    assert_eq!(read_all(&t, payload.len()).await, payload);
    leech.shutdown().await;
    println!("libtorrent lsd seeder -> swarmfs: ok");

    // swarmfs seeds; libtorrent hears our LSD announce and fetches a bare magnet.
    let payload = data(1 << 20, 73);
    let info = info(&payload, 32 * 1024);
    let seed = b.build().await.expect("seeder");
    let storage = filled_storage(&info, &payload).await;
    let s = seed
        .add_info(info.clone(), storage, TorrentOptions::new().recheck(true))
        .expect("add");
    timeout(s.wait_done()).await.expect("seeded");
    let out = tempfile::tempdir().expect("tempdir");
    let _lt_leech = lt_until(
        vec![
            "leech".into(),
            format!("magnet:?xt=urn:btih:{}", info.info_hash().to_hex()),
            out.path().display().to_string(),
            "lsd".into(),
        ],
        "DONE",
    )
    .await;
    let got = file_once_written(&out.path().join("file.bin"), &payload).await;
    assert!(
        got == payload,
        "libtorrent's file differs ({} bytes)",
        got.len()
    );
    seed.shutdown().await;
    println!("swarmfs lsd seeder -> libtorrent: ok");
}
