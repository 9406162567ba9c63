//! Load: 100 TCP clients share 20 torrents (every client follows every torrent) with 1 s
//! updates. Every client must get `done` for all 20, keep getting updates, and the process's
//! memory must stay flat. The default run lasts 5 s; the full minute is `#[ignore]`d:
//! `cargo test --release -p swarmfs-remote --test remote_load -- --ignored --nocapture`.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use swarmfs_remote::protocol::AddOptions;
use swarmfs_remote::{ClientOptions, RemoteClient, ServerMessage, TcpServer};

const CLIENTS: usize = 100;
const TORRENTS: usize = 20;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn load(run_for: Duration) {
    let seeder = swarm_client().await;
    let mut magnets = Vec::new();
    for i in 0..TORRENTS {
        magnets.push(seed(&seeder, &format!("t{i}"), 256 * 1024, i as u8).await.0);
    }
    let mut config = fast_config();
    config.update_interval = Duration::from_secs(1);
    config.heartbeat_timeout = Duration::from_secs(30);
    let (server, router) = server(config).await;
    let tcp = TcpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        None,
        server.clone(),
        router.clone(),
    )
    .await
    .unwrap();
    let updates = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<(usize, Duration)>(CLIENTS);
    let stop = tokio_util_stop();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mut client =
            RemoteClient::connect_tcp(tcp.local_addr(), None, ClientOptions::default())
                .await
                .unwrap();
        let keys: HashSet<String> = magnets
            .iter()
            .map(|m| client.add(m, AddOptions::default()))
            .collect();
        let done_tx = done_tx.clone();
        let updates = updates.clone();
        let mut stop = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            let mut pending = keys.clone();
            loop {
                let m = tokio::select! {
                    m = client.next_event() => m,
                    _ = stop.changed() => break,
                };
                match m {
                    Some(ServerMessage::Done { torrent_key, .. }) => {
                        pending.remove(&torrent_key);
                        if pending.is_empty() {
                            let _ = done_tx.send((c, started.elapsed())).await;
                        }
                    }
                    Some(ServerMessage::Update { .. }) => {
                        updates.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(_) => {}
                    None => panic!("client {c} disconnected"),
                }
            }
            client.destroy(None);
            pending.len()
        }));
    }
    drop(done_tx);
    let mut all_done = 0;
    let mut last_done = Duration::ZERO;
    while all_done < CLIENTS {
        let (_, at) = tokio::time::timeout(Duration::from_secs(120), done_rx.recv())
            .await
            .expect("some client never got done for all torrents")
            .unwrap();
        all_done += 1;
        last_done = at;
    }
    let rss_start = rss_kib();
    let u0 = updates.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let mut samples = vec![rss_start];
    while t0.elapsed() < run_for {
        tokio::time::sleep(Duration::from_secs(1).min(run_for)).await;
        samples.push(rss_kib());
        assert!(
            router.queued() <= CLIENTS * TORRENTS * 3 + 64,
            "queued {}",
            router.queued()
        );
    }
    let rss_end = rss_kib();
    let got = updates.load(Ordering::Relaxed) - u0;
    let secs = t0.elapsed().as_secs_f64();
    let expected = (CLIENTS * TORRENTS) as f64 * secs;
    println!(
        "load: {CLIENTS} clients x {TORRENTS} torrents; all done after {:.2?}; over {secs:.1} s: \
         {got} updates ({:.0}% of {expected:.0} expected), RSS start {} KiB end {} KiB \
         (min {} max {}), dropped {}",
        last_done,
        got as f64 * 100.0 / expected,
        rss_start,
        rss_end,
        samples.iter().min().unwrap(),
        samples.iter().max().unwrap(),
        router.dropped()
    );
    let _ = stop.send(true);
    for t in tasks {
        assert_eq!(t.await.unwrap(), 0, "a client missed a done");
    }
    // Every client kept receiving updates (the interval ticks every second).
    assert!(
        got as f64 >= expected * 0.7,
        "only {got} of ~{expected:.0} updates"
    );
    assert_eq!(router.dropped(), 0);
    // Flat: the end is within 16 MiB (and 25%) of the start.
    assert!(
        rss_end <= rss_start + (16 * 1024).max(rss_start / 4),
        "RSS grew from {rss_start} to {rss_end} KiB"
    );
    server.shutdown().await;
    seeder.stop().await;
}

fn tokio_util_stop() -> tokio::sync::watch::Sender<bool> {
    tokio::sync::watch::Sender::new(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_clients_twenty_torrents_short() {
    load(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a minute long; run with --ignored --nocapture and report the figures"]
async fn hundred_clients_twenty_torrents_one_minute() {
    load(Duration::from_secs(60)).await;
}
