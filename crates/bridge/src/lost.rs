//! Pieces the engine stopped advertising: when serving a piece fails (the origin changed, is
//! down or sends bytes that fail the hash), the engine clears it from its verified set and emits
//! [`TorrentEvent::PieceLost`]. The bridge reports that as [`BridgeEvent::PieceLost`] and keeps
//! trying the piece with backoff; once the origin delivers bytes that verify again (an outage
//! ended, a file was put back), the piece is handed back with
//! [`TorrentHandle::put_piece`] and advertised again ([`BridgeEvent::PieceRestored`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use swarmfs_engine::{TorrentEvent, TorrentHandle};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{BridgeEvent, VerifyingStorage};

/// First wait before a lost piece is tried again.
pub(crate) const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between tries.
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(30);

/// Watches `handle` for lost pieces, reports them and restores them when they verify again.
pub(crate) fn spawn_watch(handle: TorrentHandle, storage: Arc<VerifyingStorage>) -> JoinHandle<()> {
    let mut events = handle.events();
    tokio::spawn(async move {
        // piece -> (next try, current backoff)
        let mut lost: BTreeMap<u32, (Instant, Duration)> = BTreeMap::new();
        loop {
            let next = lost.values().map(|v| v.0).min();
            let event = match next {
                Some(at) => tokio::select! {
                    e = events.recv() => Some(e),
                    () = tokio::time::sleep_until(at) => None,
                },
                None => Some(events.recv().await),
            };
            match event {
                Some(Ok(TorrentEvent::PieceLost { piece, error })) => {
                    storage.report(BridgeEvent::PieceLost { piece, error });
                    lost.insert(piece, (Instant::now() + FIRST_RETRY, FIRST_RETRY));
                }
                Some(Ok(_)) | Some(Err(RecvError::Lagged(_))) => {}
                Some(Err(RecvError::Closed)) => return,
                None => {
                    let now = Instant::now();
                    let due: Vec<u32> = lost
                        .iter()
                        .filter(|(_, v)| v.0 <= now)
                        .map(|(p, _)| *p)
                        .collect();
                    for piece in due {
                        match try_restore(&handle, &storage, piece).await {
                            Restore::Done => {
                                lost.remove(&piece);
                                storage.report(BridgeEvent::PieceRestored(piece));
                            }
                            Restore::Gone => return,
                            Restore::Later => {
                                if let Some(v) = lost.get_mut(&piece) {
                                    v.1 = (v.1 * 2).min(MAX_RETRY);
                                    v.0 = Instant::now() + v.1;
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

enum Restore {
    Done,
    Later,
    Gone,
}

async fn try_restore(handle: &TorrentHandle, storage: &VerifyingStorage, piece: u32) -> Restore {
    let Some(bytes) = storage.verified_piece(piece).await else {
        return Restore::Later;
    };
    match handle.put_piece(piece, bytes).await {
        Ok(true) => Restore::Done,
        Ok(false) => Restore::Later,
        Err(swarmfs_engine::TorrentError::Removed) => Restore::Gone,
        Err(_) => Restore::Later,
    }
}
