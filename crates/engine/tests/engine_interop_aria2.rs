//! Interop with aria2 (`aria2c`, Debian package `aria2`), loopback only, with aria2's DHT, LPD
//! and PEX off (the engine's DHT and LSD are off by default):
//! - aria2 seeds (checking the data with `-V`) and swarmfs fetches from its address, both from
//!   the info dictionary and from a magnet with only `x.pe` (metadata from aria2, BEP 9);
//! - swarmfs seeds and aria2 downloads from a `.torrent` whose tracker (a fixture in this test)
//!   names only the swarmfs seeder; aria2 checks every piece and the files it wrote are compared;
//! - swarmfs relays between two aria2 clients, serving one while still fetching from the other.
//!
//! Skipped, with a printed SKIP line, when `aria2c` is not installed.

mod support;
mod third_party;

use std::net::{SocketAddr, SocketAddrV4};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;
use swarmfs_engine::{TorrentEvent, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use third_party::{
    LIMIT, Payload, Reap, Tracker, answers_handshake, available, fetch_from_address,
    fetch_from_magnet, free_port, poll_until, query_param, wait_done,
};

/// `aria2c` with every peer source but the ones given off, listening on `127.0.0.1:port`. Its
/// encryption settings stay at their defaults (`--bt-min-crypto-level=plain`,
/// `--bt-require-crypto=false`): swarmfs speaks plain TCP.
fn aria2c(port: u16, dir: &Path) -> Command {
    let mut cmd = Command::new("aria2c");
    cmd.args([
        "--no-conf",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        "--interface=127.0.0.1",
        "--file-allocation=none",
        "--summary-interval=0",
        "--console-log-level=notice",
    ])
    .arg(format!("--listen-port={port}"))
    .arg(format!("--dir={}", dir.display()));
    cmd
}

/// Starts aria2 seeding `payload` (written below `dir/seed`) and waits until it checked the data
/// and answers handshakes for the torrent.
fn aria2_seeder(payload: &Payload, dir: &Path) -> (Reap, SocketAddr) {
    let seed_dir = dir.join("seed");
    payload.write_to(&seed_dir);
    let port = free_port();
    let mut cmd = aria2c(port, &seed_dir);
    cmd.args(["--check-integrity=true", "--seed-ratio=0.0"])
        .arg(&payload.torrent_path);
    let mut aria2 = Reap::spawn(cmd, &dir.join("aria2-seed.log"));
    let ih = *payload.torrent.info_hash().as_bytes();
    let up = poll_until(LIMIT, || {
        answers_handshake(port, &ih) || aria2.exited().is_some()
    });
    assert!(
        up && aria2.exited().is_none(),
        "aria2 seeder did not come up:\n{}",
        aria2.log_tail(20)
    );
    (aria2, SocketAddr::from(([127, 0, 0, 1], port)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aria2_seeds_swarmfs_fetches_from_peer_address() {
    if !available("aria2c", "aria2") {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    // 3 MiB and an odd tail: 49 pieces of 64 KiB, the last one short.
    let payload = Payload::single(dir.path(), "payload.bin", (3 << 20) + 12_345, 64 << 10, 90);
    let (aria2, peer) = aria2_seeder(&payload, dir.path());
    let took = fetch_from_address(&payload, peer, &aria2, "aria2").await;
    println!(
        "aria2 -> swarmfs (peer address): {took:?} after the add, {:?} in all",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aria2_seeds_multi_file_swarmfs_fetches_magnet_with_x_pe() {
    if !available("aria2c", "aria2") {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    // Files that start and end inside pieces, one smaller than a piece.
    let payload = Payload::multi(
        dir.path(),
        "set",
        &[
            ("a.bin", 1_000_000),
            ("sub/b.bin", 40_000),
            ("sub/deeper/c.bin", 1_500_001),
        ],
        32 << 10,
        91,
    );
    let (aria2, peer) = aria2_seeder(&payload, dir.path());
    let (metadata_at, done_at) = fetch_from_magnet(&payload, peer, &aria2, "aria2").await;
    println!(
        "aria2 -> swarmfs (magnet x.pe, 3 files): metadata {metadata_at:?} and data {done_at:?} \
         after the add, {:?} in all",
        started.elapsed()
    );
}

/// swarmfs seeds `payload` from memory; aria2 downloads it through the fixture tracker and
/// exits (`--seed-time=0`); the files it wrote must be the payload's.
async fn swarmfs_seeds_aria2_fetches(mut payload: Payload, dir: &Path) {
    let started = Instant::now();
    let (e, t) = seeder(payload.torrent.info(), &payload.stream).await;
    third_party::print_events(&t, started, "swarmfs seed");
    let SocketAddr::V4(seed_addr) = e.listen_addr() else {
        panic!("engine listens on IPv4 loopback");
    };
    let tracker = Tracker::start(&[SocketAddrV4::new(*seed_addr.ip(), seed_addr.port())]);
    payload.set_announce(&tracker.announce_url());

    let out = dir.join("out");
    let aria2_port = free_port();
    let mut cmd = aria2c(aria2_port, &out);
    cmd.args(["--seed-time=0", "--bt-stop-timeout=20"])
        .arg(&payload.torrent_path);
    let spawned = Instant::now();
    let mut aria2 = Reap::spawn(cmd, &dir.join("aria2-leech.log"));
    let status = wait_exit(&mut aria2).await;
    let aria2_took = spawned.elapsed();
    assert!(
        status.is_some_and(|s| s.success()),
        "aria2 did not finish ({status:?}); tracker saw {} announces:\n{}",
        tracker.announces().len(),
        aria2.log_tail(30)
    );
    // aria2 learnt the seeder from the fixture tracker (the only peer source it had).
    let port = aria2_port.to_string();
    assert!(
        tracker
            .announces()
            .iter()
            .any(|q| query_param(q, "port") == Some(port.as_str())),
        "no announce from aria2: {:?}",
        tracker.announces()
    );
    if let Some(why) = payload.mismatch(&out) {
        panic!("aria2 wrote wrong data: {why}\n{}", aria2.log_tail(30));
    }
    let stats = t.stats().await.expect("stats");
    assert!(
        stats.uploaded >= payload.stream.len() as u64,
        "uploaded {} of {}",
        stats.uploaded,
        payload.stream.len()
    );
    e.shutdown().await;
    assert_eq!(e.live_tasks(), 0);
    println!(
        "swarmfs -> aria2 ({} files): aria2 ran {aria2_took:?}, {:?} in all",
        payload.files.len(),
        started.elapsed()
    );
}

/// Waits at most [`LIMIT`] for the child to exit.
async fn wait_exit(child: &mut Reap) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < LIMIT {
        if let Some(s) = child.exited() {
            return Some(s);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarmfs_seeds_aria2_fetches_single_file() {
    if !available("aria2c", "aria2") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = Payload::single(dir.path(), "payload.bin", (3 << 20) + 777, 64 << 10, 92);
    swarmfs_seeds_aria2_fetches(payload, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarmfs_seeds_aria2_fetches_multi_file() {
    if !available("aria2c", "aria2") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = Payload::multi(
        dir.path(),
        "album",
        &[
            ("01.flac", 1_200_000),
            ("02.flac", 900_001),
            ("art/cover.jpg", 20_000),
            ("notes.txt", 333),
        ],
        64 << 10,
        93,
    );
    swarmfs_seeds_aria2_fetches(payload, dir.path()).await;
}

/// swarmfs between two aria2 clients: aria2 B knows only swarmfs (through the tracker) and
/// connects while swarmfs has nothing; then swarmfs starts fetching from aria2 A, throttled to
/// 1 MiB/s, and must pass each piece on to B as soon as it verified it (seeding while
/// downloading: `have` to B, B's requests served), not only once it is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarmfs_relays_aria2_to_aria2_while_downloading() {
    if !available("aria2c", "aria2") {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut payload = Payload::single(dir.path(), "relay.bin", (3 << 20) + 55, 64 << 10, 94);
    let (aria2_a, peer_a) = aria2_seeder(&payload, dir.path());

    let e = engine().await;
    let t = e
        .add_info(
            payload.torrent.info().clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().download_rate_limit(Some(1 << 20)),
        )
        .expect("add");
    third_party::print_events(&t, started, "swarmfs relay");
    let mut events = t.events();
    let SocketAddr::V4(addr) = e.listen_addr() else {
        panic!("engine listens on IPv4 loopback");
    };
    let tracker = Tracker::start(&[addr]);
    payload.set_announce(&tracker.announce_url());
    let out = dir.path().join("out");
    let mut cmd = aria2c(free_port(), &out);
    cmd.args(["--seed-time=0", "--bt-stop-timeout=30"])
        .arg(&payload.torrent_path);
    let mut aria2_b = Reap::spawn(cmd, &dir.path().join("aria2-b.log"));

    // B is connected (it is the only peer swarmfs knows so far) before A is added.
    tokio::time::timeout(LIMIT, async {
        while !matches!(events.recv().await, Ok(TorrentEvent::PeerConnected(_))) {}
    })
    .await
    .unwrap_or_else(|_| panic!("aria2 B never connected\n{}", aria2_b.log_tail(30)));
    t.add_peer(peer_a).expect("add aria2 A");
    wait_done(&t, &aria2_a, "data from aria2 A").await;
    let uploaded_while_downloading = t.stats().await.expect("stats").uploaded;
    let status = wait_exit(&mut aria2_b).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "aria2 B did not finish ({status:?}):\n{}",
        aria2_b.log_tail(30)
    );
    if let Some(why) = payload.mismatch(&out) {
        panic!("aria2 B wrote wrong data: {why}\n{}", aria2_b.log_tail(30));
    }
    assert!(
        uploaded_while_downloading > 0,
        "swarmfs served B nothing before it had the whole torrent"
    );
    assert_eq!(read_all(&t, payload.stream.len()).await, payload.stream);
    e.shutdown().await;
    assert_eq!(e.live_tasks(), 0);
    println!(
        "aria2 -> swarmfs -> aria2: {uploaded_while_downloading} of {} bytes passed on before \
         swarmfs finished, {:?} in all",
        payload.stream.len(),
        started.elapsed()
    );
}
