//! Interop with Transmission (`transmission-cli`, Debian package `transmission-cli`), loopback
//! only, with DHT, LPD, PEX, uTP and port mapping off in its `settings.json` and encryption left
//! at Transmission's default, "preferred" (it still accepts the plain TCP swarmfs speaks):
//! - Transmission seeds (verifying the data with `-v`) and swarmfs fetches from its address, both
//!   from the info dictionary and from a magnet with only `x.pe` (metadata via BEP 9);
//! - swarmfs seeds and Transmission downloads from a `.torrent`; swarmfs dials Transmission (see
//!   `swarmfs_seeds_transmission_fetches` for why not the other way round); the files it wrote
//!   are compared.
//!
//! Each run takes ~10-17 s, nearly all of it Transmission's timers: it re-evaluates choking
//! and its own interest every 10 s, so it unchokes a new leecher, or declares interest in a new
//! seeder, only at its next 10-s tick; it answers a `ut_metadata` request ~2.5 s late; and as a
//! leecher it ramps its request pipeline up slowly (3 MiB took ~5 s). swarmfs answers at once:
//! it unchokes Transmission within a millisecond of its `interested`, requests metadata and
//! blocks as soon as it may, and took ~0.5 s for 3 MiB once unchoked (seen through a logging
//! proxy between the two).
//!
//! Skipped, with a printed SKIP line, when `transmission-cli` is not installed.

mod support;
mod third_party;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;
use third_party::{
    LIMIT, Payload, Reap, answers_handshake, available, fetch_from_address, fetch_from_magnet,
    free_port, poll_until,
};

/// `transmission-cli` with its own config directory below `dir`, saving into `save`, listening
/// on `127.0.0.1:port`, every peer source but trackers and given addresses off.
fn transmission(port: u16, dir: &Path, save: &Path, name: &str) -> Command {
    let config = dir.join(format!("{name}-config"));
    std::fs::create_dir_all(&config).expect("mkdir config");
    std::fs::create_dir_all(save).expect("mkdir save");
    let settings = format!(
        r#"{{
  "dht-enabled": false,
  "lpd-enabled": false,
  "pex-enabled": false,
  "utp-enabled": false,
  "port-forwarding-enabled": false,
  "bind-address-ipv4": "127.0.0.1",
  "bind-address-ipv6": "::1",
  "peer-port": {port},
  "rpc-enabled": false,
  "ratio-limit-enabled": false,
  "idle-seeding-limit-enabled": false,
  "speed-limit-up-enabled": false,
  "speed-limit-down-enabled": false,
  "blocklist-enabled": false,
  "message-level": 2
}}"#
    );
    std::fs::write(config.join("settings.json"), settings).expect("write settings.json");
    let mut cmd = Command::new("transmission-cli");
    cmd.arg("-g").arg(&config).arg("-w").arg(save).args([
        "-p",
        &port.to_string(),
        "-M",
        "-D",
        "-U",
    ]);
    cmd
}

/// Starts Transmission seeding `payload` (written below `dir/seed`) and waits until it verified
/// the data and listens.
fn transmission_seeder(payload: &Payload, dir: &Path) -> (Reap, SocketAddr) {
    let seed_dir = dir.join("seed");
    payload.write_to(&seed_dir);
    let port = free_port();
    let mut cmd = transmission(port, dir, &seed_dir, "seed");
    cmd.arg("-v").arg(&payload.torrent_path);
    let mut tr = Reap::spawn(cmd, &dir.join("transmission-seed.log"));
    wait_serving(&mut tr, port, payload, "seeder");
    (tr, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Waits until Transmission answers a handshake for `payload`'s torrent on `port`, then one
/// second more: Transmission keeps one connection per IP address and refuses a second one from
/// 127.0.0.1 until its next peer pulse (~0.5 s) noticed the probe connection closed.
fn wait_serving(tr: &mut Reap, port: u16, payload: &Payload, what: &str) {
    let ih = *payload.torrent.info_hash().as_bytes();
    let up = poll_until(LIMIT, || {
        answers_handshake(port, &ih) || tr.exited().is_some()
    });
    assert!(
        up && tr.exited().is_none(),
        "transmission {what} did not come up:\n{}",
        tr.log_tail(20)
    );
    std::thread::sleep(Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transmission_seeds_swarmfs_fetches_from_peer_address() {
    if !available("transmission-cli", "transmission-cli") {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    // 3 MiB and an odd tail: 49 pieces of 64 KiB, the last one short.
    let payload = Payload::single(dir.path(), "payload.bin", (3 << 20) + 4_321, 64 << 10, 100);
    let (tr, peer) = transmission_seeder(&payload, dir.path());

    let took = fetch_from_address(&payload, peer, &tr, "transmission").await;
    println!(
        "transmission -> swarmfs (peer address): {took:?} after the add, {:?} in all",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transmission_seeds_multi_file_swarmfs_fetches_magnet_with_x_pe() {
    if !available("transmission-cli", "transmission-cli") {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = Payload::multi(
        dir.path(),
        "set",
        &[
            ("a.bin", 1_000_000),
            ("sub/b.bin", 40_000),
            ("sub/deeper/c.bin", 1_500_001),
        ],
        32 << 10,
        101,
    );
    let (tr, peer) = transmission_seeder(&payload, dir.path());

    let (metadata_at, done_at) = fetch_from_magnet(&payload, peer, &tr, "transmission").await;
    println!(
        "transmission -> swarmfs (magnet x.pe, 3 files): metadata {metadata_at:?} and data \
         {done_at:?} after the add, {:?} in all",
        started.elapsed()
    );
}

/// swarmfs seeds `payload` from memory and dials Transmission, which downloads it until every
/// file it wrote holds the payload's bytes.
///
/// swarmfs dials, not Transmission: Transmission 3.00 drops every 127.0.0.0/8 address a tracker
/// hands it (`isMartianAddr` in libtransmission/net.c; 4.x allows loopback only for incoming,
/// LPD and resume peers), so on loopback it never connects to a tracker-announced seeder. It
/// does accept incoming connections from loopback and downloads over them.
async fn swarmfs_seeds_transmission_fetches(payload: Payload, dir: &Path) {
    let started = Instant::now();
    let (e, t) = seeder(payload.torrent.info(), &payload.stream).await;
    third_party::print_events(&t, started, "swarmfs seed");

    let out = dir.join("out");
    let port = free_port();
    let mut cmd = transmission(port, dir, &out, "leech");
    cmd.arg(&payload.torrent_path);
    let spawned = Instant::now();
    let mut tr = Reap::spawn(cmd, &dir.join("transmission-leech.log"));
    wait_serving(&mut tr, port, &payload, "leecher");
    t.add_peer(SocketAddr::from(([127, 0, 0, 1], port)))
        .expect("add transmission as a peer");
    let mut done = false;
    while spawned.elapsed() < LIMIT && tr.exited().is_none() {
        if payload.matches(&out) {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = spawned.elapsed();
    assert!(
        done,
        "transmission did not write the payload within {LIMIT:?} ({}; exit {:?}; swarmfs \
         uploaded {:?}):\n{}",
        payload.mismatch(&out).unwrap_or_default(),
        tr.exited(),
        t.stats().await.map(|s| s.uploaded),
        tr.log_tail(40)
    );
    let stats = t.stats().await.expect("stats");
    assert!(
        stats.uploaded >= payload.stream.len() as u64,
        "uploaded {} of {}",
        stats.uploaded,
        payload.stream.len()
    );
    drop(tr);
    e.shutdown().await;
    assert_eq!(e.live_tasks(), 0);
    println!(
        "swarmfs -> transmission ({} files): complete {took:?} after the spawn, {:?} in all",
        payload.files.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarmfs_seeds_transmission_fetches_single_file() {
    if !available("transmission-cli", "transmission-cli") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // 2 MiB and an odd tail in 65 pieces of 32 KiB (Transmission ramps its requests up slowly).
    let payload = Payload::single(dir.path(), "payload.bin", (2 << 20) + 999, 32 << 10, 102);
    swarmfs_seeds_transmission_fetches(payload, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarmfs_seeds_transmission_fetches_multi_file() {
    if !available("transmission-cli", "transmission-cli") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = Payload::multi(
        dir.path(),
        "album",
        &[
            ("01.flac", 900_000),
            ("02.flac", 700_001),
            ("art/cover.jpg", 20_000),
            ("notes.txt", 333),
        ],
        32 << 10,
        103,
    );
    swarmfs_seeds_transmission_fetches(payload, dir.path()).await;
}
