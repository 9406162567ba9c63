//! The two downloads every third-party seeder is put through: swarmfs fetches from the seeder's
//! address given the info dictionary, and from a magnet that carries only `x.pe` (the info
//! dictionary then comes from the seeder over BEP 9).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use swarmfs_engine::{TorrentHandle, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::{Magnet, PeerAddr};

use super::{Payload, Reap, print_events};
use crate::support::{engine, read_all};

/// Longest any wait may take before the test fails (a hang guard, not a performance bound:
/// the runs the tests print take a fraction of it).
pub const LIMIT: Duration = Duration::from_secs(60);

/// Waits for `t` to finish, failing with the seeder's log when it does not within [`LIMIT`].
pub async fn wait_done(t: &TorrentHandle, seeder: &Reap, what: &str) {
    match tokio::time::timeout(LIMIT, t.wait_done()).await {
        Ok(r) => r.unwrap_or_else(|e| panic!("{what}: {e}\n{}", seeder.log_tail(40))),
        Err(_) => panic!(
            "{what}: not done within {LIMIT:?} ({:?})\n{}",
            t.stats().await.map(|s| (s.downloaded, s.peers)),
            seeder.log_tail(40)
        ),
    }
}

/// swarmfs, given the info dictionary and `peer`, fetches `payload` from the seeder `name`
/// and reads back every byte; returns the time from the add to done.
pub async fn fetch_from_address(
    payload: &Payload,
    peer: SocketAddr,
    seeder: &Reap,
    name: &str,
) -> Duration {
    let e = engine().await;
    let added = Instant::now();
    let t = e
        .add_info(
            payload.torrent.info().clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().peer(peer),
        )
        .expect("add");
    print_events(&t, added, "swarmfs");
    wait_done(&t, seeder, &format!("data from {name}")).await;
    let took = added.elapsed();
    assert_eq!(read_all(&t, payload.stream.len()).await, payload.stream);
    let stats = t.stats().await.expect("stats");
    assert!(stats.downloaded >= payload.stream.len() as u64, "{stats:?}");
    e.shutdown().await;
    assert_eq!(e.live_tasks(), 0);
    took
}

/// swarmfs, given only a magnet with `x.pe` = `peer`, gets the info dictionary from the seeder
/// `name` (the very bytes of the payload's), then the data; returns the times from the add to
/// the metadata and to done.
pub async fn fetch_from_magnet(
    payload: &Payload,
    peer: SocketAddr,
    seeder: &Reap,
    name: &str,
) -> (Duration, Duration) {
    let mut magnet = Magnet::from_info_hash(payload.torrent.info_hash());
    magnet.peers.push(PeerAddr::Ip(peer));
    let e = engine().await;
    let added = Instant::now();
    let t = e
        .add_magnet(&magnet, MemoryStorage::factory(), TorrentOptions::new())
        .expect("add magnet");
    print_events(&t, added, "swarmfs");
    let info = tokio::time::timeout(LIMIT, t.wait_metadata())
        .await
        .unwrap_or_else(|_| panic!("no metadata from {name}\n{}", seeder.log_tail(40)))
        .unwrap_or_else(|e| panic!("metadata from {name}: {e}"));
    assert_eq!(info.as_bytes(), payload.torrent.info().as_bytes());
    assert_eq!(info.files().len(), payload.torrent.info().files().len());
    let metadata_at = added.elapsed();
    wait_done(&t, seeder, &format!("data from {name}")).await;
    let done_at = added.elapsed();
    assert_eq!(read_all(&t, payload.stream.len()).await, payload.stream);
    e.shutdown().await;
    assert_eq!(e.live_tasks(), 0);
    (metadata_at, done_at)
}
