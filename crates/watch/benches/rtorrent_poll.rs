//! Polling cost for 1,000 torrents on a real rtorrent: wall time and CPU (the watcher's and
//! rtorrent's) per `get_all` poll. Prints figures, or a SKIP line without rtorrent. Run with
//! `cargo bench -p swarmfs-watch --bench rtorrent_poll`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use swarmfs_metainfo::TorrentBuilder;
use swarmfs_watch::{Backend, RtorrentBackend, Value};

const N: usize = 1000;
const POLLS: usize = 30;

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: &str, tck: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / tck
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::process::Command::new("rtorrent")
        .arg("-h")
        .output()
        .is_err()
    {
        println!("SKIP: rtorrent not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let d = dir.path().display();
    std::fs::create_dir_all(dir.path().join("session")).unwrap();
    std::fs::create_dir_all(dir.path().join("download")).unwrap();
    let rc = format!(
        "system.daemon.set = true\nnetwork.scgi.open_port = {addr}\n\
         network.bind_address.set = 127.0.0.1\nnetwork.port_range.set = {p}-{p}\n\
         dht.mode.set = disable\nprotocol.pex.set = no\ntrackers.use_udp.set = no\n\
         session.path.set = {d}/session\ndirectory.default.set = {d}/download\n\
         network.max_open_files.set = 4096\n",
        p = port.wrapping_add(1).max(1025)
    );
    std::fs::write(dir.path().join("rc"), rc).unwrap();
    let mut child = std::process::Command::new("rtorrent")
        .arg("-n")
        .arg("-o")
        .arg(format!("import={}/rc", d))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rt_pid = child.id().to_string();
    let b = RtorrentBackend::new(addr);
    let mut up = false;
    for _ in 0..200 {
        if b.list().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "rtorrent did not answer");

    let t0 = Instant::now();
    for i in 0..N {
        let data: Vec<u8> = (0..16 * 1024u32)
            .map(|x| (x.wrapping_mul(31) ^ i as u32) as u8)
            .collect();
        let mut t = TorrentBuilder::new()
            .piece_length(16 * 1024)
            .build_single(&format!("t{i:04}.bin"), &data)
            .unwrap();
        t.set_announce(Some("dht://"));
        b.call(
            "load.raw_start",
            &[Value::Str(String::new()), Value::Base64(t.to_bytes())],
        )
        .await
        .unwrap();
    }
    loop {
        let n = b.list().await.unwrap().len();
        if n >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "loaded {N} torrents into rtorrent in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    let tck = clock_ticks();
    let me = "self";
    let (c0, r0, t0) = (cpu_secs(me, tck), cpu_secs(&rt_pid, tck), Instant::now());
    let all = b.get_all().await.unwrap();
    assert_eq!(all.len(), N);
    println!(
        "cold poll (1 d.multicall2 + {N} f.multicall for the file lists): {:.1} ms wall, watcher CPU {:.1} ms, rtorrent CPU {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3,
        (cpu_secs(me, tck) - c0) * 1e3,
        (cpu_secs(&rt_pid, tck) - r0) * 1e3
    );
    let mut walls = Vec::new();
    let (c0, r0) = (cpu_secs(me, tck), cpu_secs(&rt_pid, tck));
    for _ in 0..POLLS {
        let t = Instant::now();
        let all = b.get_all().await.unwrap();
        assert_eq!(all.len(), N);
        walls.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (c1, r1) = (cpu_secs(me, tck), cpu_secs(&rt_pid, tck));
    walls.sort_by(f64::total_cmp);
    println!(
        "warm poll of {N} torrents (one d.multicall2, 12 fields), {POLLS} polls: wall median {:.1} ms (min {:.1}, max {:.1}); CPU per poll: watcher {:.2} ms, rtorrent {:.2} ms",
        walls[POLLS / 2],
        walls[0],
        walls[POLLS - 1],
        (c1 - c0) * 1e3 / POLLS as f64,
        (r1 - r0) * 1e3 / POLLS as f64
    );
    let _ = child.kill();
    let _ = child.wait();
}
