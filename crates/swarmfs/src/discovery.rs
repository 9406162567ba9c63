//! Peers through the DHT, done by the client until the engine finds peers by itself: torrents
//! we hold are announced, torrents we look up are searched, and the peers found are dialled.

use std::time::Duration;

use swarmfs_dht::{Dht, Id};
use swarmfs_engine::TorrentHandle;
use tokio::sync::watch;

use crate::tasks::stopped;

/// Announces `handle`'s torrent on `port` every `every`, and searches its peers with a pause
/// that starts at `search` and doubles up to `every`, until the torrent is removed or `closed`
/// turns `true`.
pub(crate) async fn run(
    dht: Dht,
    handle: TorrentHandle,
    port: u16,
    announce: bool,
    search: Option<Duration>,
    every: Duration,
    mut closed: watch::Receiver<bool>,
) {
    let target = Id(*handle.info_hash().as_bytes());
    let mut pause = search.unwrap_or(every).min(every);
    let mut last_announce: Option<tokio::time::Instant> = None;
    loop {
        if announce && last_announce.is_none_or(|t| t.elapsed() >= every) {
            last_announce = Some(tokio::time::Instant::now());
            if let Err(e) = dht.announce_peer(target, Some(port)).await {
                tracing::debug!(info_hash = %handle.info_hash(), error = %e, "announce failed");
            }
        }
        if search.is_some() {
            match dht.get_peers(target) {
                Ok(mut peers) => {
                    while let Some(peer) = peers.next().await {
                        if handle.add_peer(peer).is_err() {
                            return; // removed
                        }
                    }
                }
                Err(_) => return, // the DHT is shut down
            }
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = stopped(&mut closed) => return,
        }
        pause = (pause * 2).min(every);
        if handle.stats().await.is_err() {
            return; // removed
        }
    }
}
