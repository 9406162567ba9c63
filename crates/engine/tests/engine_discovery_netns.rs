//! BEP 14 with the real group and port (239.192.152.143:6771, default interface), DHT off: two
//! engines find each other and transfer. Multicast on loopback needs a private network
//! namespace with one route, so the test re-runs itself under
//! `unshare --net` + `ip link set lo up; ip route add 239.0.0.0/8 dev lo src 127.0.0.1`
//! (as `../shared/peers/netns_run.sh --multicast` does; root needed). Elsewhere it prints SKIP.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;
use swarmfs_engine::{Engine, EngineBuilder, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::Magnet;

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
        println!("LSD-NETNS-PASS");
    });
}
