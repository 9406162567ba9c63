//! What follows a piece's verdict: group commits in durable mode, pieces put from outside the
//! swarm, `have` announcements, bans of peers that sent bad blocks, pieces lost from storage,
//! and the end of the download.

use sha1::{Digest, Sha1};
use swarmfs_metainfo::PieceIndex;
use swarmfs_storage::{PieceStore, PieceStoreError};
use swarmfs_wire::{Message, PeerId};
use tokio::sync::oneshot;

use super::{Download, MAX_FAILED_KEPT, differing_senders, recycle};
use crate::error::TorrentError;
use crate::event::TorrentEvent;
use crate::torrent::{Internal, Torrent};

impl Download {
    /// A good copy of piece `index` arrived (`buf`, recycled here): the senders of the blocks in
    /// which the failed copy kept for it, if any, differed.
    fn culprits(&mut self, index: u32, buf: Vec<u8>) -> Vec<PeerId> {
        let culprits = self
            .failed
            .remove(&index)
            .map(|(bad, bad_senders)| differing_senders(&bad, &bad_senders, &buf))
            .unwrap_or_default();
        recycle(&self.pool, buf);
        culprits
    }
}

impl Torrent {
    /// Durable mode: a good piece was written; its senders are cleared (and a bad earlier copy
    /// convicts its culprits now), and it is announced once a group commit made it durable.
    pub(in crate::torrent) fn piece_written(&mut self, index: u32, buf: Vec<u8>) {
        let Some(dl) = self.dl.as_mut() else {
            return;
        };
        dl.senders.remove(&index);
        let culprits = dl.culprits(index, buf);
        dl.uncommitted.push(index);
        for c in culprits {
            self.strike(c, self.engine.config.ban_strikes);
        }
        self.start_commit();
    }

    /// Starts a group commit of the pieces written so far, unless one is running (the pieces
    /// written meanwhile go into the next one).
    fn start_commit(&mut self) {
        let (Some(dl), Some(ready)) = (self.dl.as_mut(), self.shared.ready.get()) else {
            return;
        };
        if dl.committing || dl.uncommitted.is_empty() {
            return;
        }
        dl.committing = true;
        let store = ready.store.clone();
        let tx = self.internal_tx.clone();
        self.engine.tasks.spawn(async move {
            let r = store.commit_hashed().await;
            let _ = tx.send(Internal::Committed(r.err().map(|e| e.to_string())));
        });
    }

    /// A group commit ended: the pieces it made durable are verified; after a failure the
    /// pieces it dropped are fetched again.
    pub(in crate::torrent) fn committed(&mut self, error: Option<String>) {
        let (Some(dl), Some(ready)) = (self.dl.as_mut(), self.shared.ready.get()) else {
            return;
        };
        dl.committing = false;
        let mut verified = Vec::new();
        let mut refetch = false;
        for index in std::mem::take(&mut dl.uncommitted) {
            let Some(piece) = dl.picker.geometry().piece(index) else {
                continue;
            };
            if ready.store.is_verified(piece) {
                if dl.picker.handle_hash_passed(piece) {
                    verified.push(index);
                }
            } else if error.is_some() {
                dl.picker.handle_hash_failed(piece);
                refetch = true;
            } else {
                // Written after this commit took its batch: the next one covers it.
                dl.uncommitted.push(index);
            }
        }
        if let Some(e) = error {
            self.emit(TorrentEvent::Error(format!("commit pieces: {e}")));
        }
        for index in verified {
            self.announce_verified(index);
        }
        self.start_commit();
        if refetch {
            self.fill_all();
        }
    }

    /// [`TorrentHandle::put_piece`](crate::TorrentHandle::put_piece): checks the bytes on
    /// another task like a downloaded piece, then [`Torrent::piece_put`] takes over.
    pub(in crate::torrent) fn put_piece(
        &mut self,
        index: u32,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<bool, TorrentError>>,
    ) {
        let (Some(dl), Some(ready)) = (self.dl.as_ref(), self.shared.ready.get()) else {
            let _ = reply.send(Err(TorrentError::NoMetadata));
            return;
        };
        let g = dl.picker.geometry();
        let Some(piece) = g.piece(index) else {
            let count = g.piece_count();
            let _ = reply.send(Err(TorrentError::NoSuchPiece { index, count }));
            return;
        };
        let expected_len = g.piece_len(piece);
        if data.len() != expected_len as usize {
            let _ = reply.send(Err(TorrentError::PieceLength {
                index,
                len: data.len(),
                expected: expected_len,
            }));
            return;
        }
        if dl.picker.have().get(index) {
            let _ = reply.send(Ok(true));
            return;
        }
        let Some(expected) = ready.store.hashes().get(index).copied() else {
            let _ = reply.send(Err(TorrentError::NoMetadata));
            return;
        };
        let store = ready.store.clone();
        let tx = self.internal_tx.clone();
        let reverify = self.options.resume;
        self.engine.tasks.spawn(async move {
            let result = store_piece(&store, piece, &data, expected, reverify).await;
            let _ = tx.send(Internal::Put {
                piece: index,
                result,
                reply,
            });
        });
    }

    /// The outcome of a [`Torrent::put_piece`]: a good piece is ours like a downloaded one
    /// (have to peers, event), and requests still out for its blocks are cancelled.
    pub(in crate::torrent) fn piece_put(
        &mut self,
        index: u32,
        result: Result<bool, PieceStoreError>,
        reply: oneshot::Sender<Result<bool, TorrentError>>,
    ) {
        let r = match result {
            Ok(true) | Err(PieceStoreError::AlreadyVerified { .. }) => {
                self.piece_added(index);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => Err(TorrentError::Storage(e)),
        };
        let _ = reply.send(r);
    }

    /// `index` became ours by other means than its blocks: announce it, drop what was being
    /// gathered for it, cancel its requests.
    fn piece_added(&mut self, index: u32) {
        let Some(dl) = self.dl.as_mut() else {
            return;
        };
        let Some(piece) = dl.picker.geometry().piece(index) else {
            return;
        };
        if dl.picker.handle_piece_added(piece) != Ok(true) {
            return;
        }
        if let Some(buf) = dl.bufs.remove(&index) {
            recycle(&dl.pool, buf);
        }
        dl.senders.remove(&index);
        self.announce_verified(index);
        self.send_cancels();
    }

    /// A verified piece became ours: shared bitfield, have to every peer, event, done check.
    fn announce_verified(&mut self, index: u32) {
        if let Some(ready) = self.shared.ready.get() {
            ready.have.set(index);
        }
        for p in self.peers.values() {
            p.send(Message::Have(index));
        }
        self.shared.bump();
        self.emit(TorrentEvent::PieceVerified(index));
        self.check_done();
    }

    /// A peer writer could not read verified piece `index` back (it already cleared the shared
    /// bit): forget it in the picker and the store, and report it.
    pub(in crate::torrent) fn piece_lost(&mut self, index: u32, error: String) {
        let Some(dl) = self.dl.as_mut() else {
            return;
        };
        let Some(piece) = dl.picker.geometry().piece(index) else {
            return;
        };
        let _ = dl.picker.handle_piece_lost(piece);
        if let Some(ready) = self.shared.ready.get() {
            ready.have.clear(index);
            let store = ready.store.clone();
            let events = self.events.clone();
            self.engine.tasks.spawn(async move {
                if let Err(e) = store.invalidate(piece).await {
                    let _ = events.send(TorrentEvent::Error(format!(
                        "unmark lost piece {index}: {e}"
                    )));
                }
            });
        }
        tracing::debug!(piece = index, %error, "piece lost");
        self.shared.bump();
        self.emit(TorrentEvent::PieceLost {
            piece: index,
            error,
        });
    }

    pub(in crate::torrent) fn piece_checked(
        &mut self,
        index: u32,
        ok: bool,
        error: Option<String>,
        buf: Vec<u8>,
    ) {
        let had_error = error.is_some();
        if let Some(e) = error {
            self.emit(TorrentEvent::Error(e));
        }
        let Some(dl) = self.dl.as_mut() else {
            return;
        };
        let Some(piece) = dl.picker.geometry().piece(index) else {
            return;
        };
        let senders = dl.senders.remove(&index).unwrap_or_default();
        if ok {
            if !dl.picker.handle_hash_passed(piece) {
                // It became ours meanwhile (put from outside): already announced.
                dl.failed.remove(&index);
                recycle(&dl.pool, buf);
                return;
            }
            let culprits = dl.culprits(index, buf);
            self.announce_verified(index);
            // A block that differs from the good copy is proof: ban its sender.
            for c in culprits {
                self.strike(c, self.engine.config.ban_strikes);
            }
        } else if had_error {
            // The bytes matched but storage refused them: nobody sent bad data.
            dl.picker.handle_hash_failed(piece);
            recycle(&dl.pool, buf);
            self.fill_all();
        } else {
            dl.picker.handle_hash_failed(piece);
            self.hash_failures += 1;
            let mut distinct: Vec<PeerId> = senders.iter().flatten().copied().collect();
            distinct.sort();
            distinct.dedup();
            match distinct.as_slice() {
                // One sender: it alone sent bad data.
                [one] => {
                    let one = *one;
                    self.strike(one, 2);
                }
                // Several: wait for a good copy to tell which blocks were bad.
                [_, _, ..] if !buf.is_empty() && dl.failed.len() < MAX_FAILED_KEPT => {
                    dl.failed.insert(index, (buf, senders));
                    self.emit(TorrentEvent::HashFailed(index));
                    self.fill_all();
                    return;
                }
                _ => {}
            }
            if let Some(dl) = self.dl.as_mut() {
                recycle(&dl.pool, buf);
            }
            self.emit(TorrentEvent::HashFailed(index));
            self.fill_all();
        }
    }

    pub(in crate::torrent) fn check_done(&mut self) {
        let Some(dl) = self.dl.as_mut() else {
            return;
        };
        if dl.picker.is_done() && !dl.done_reported {
            dl.done_reported = true;
            self.emit(TorrentEvent::Done);
            self.update_interest();
        }
    }
}

/// Hashes a whole piece held in memory and, when it matches, writes it (with `durable`, and
/// makes it durable and marked in a group commit before returning). Returns whether it matched.
async fn store_piece(
    store: &PieceStore,
    piece: PieceIndex,
    buf: &[u8],
    expected: [u8; 20],
    durable: bool,
) -> Result<bool, PieceStoreError> {
    let digest = <[u8; 20]>::from(Sha1::digest(buf));
    if digest != expected {
        return Ok(false);
    }
    if !durable {
        store.write_block(piece, 0, buf).await?;
        return Ok(true);
    }
    if !store.write_hashed_piece(piece, buf, &digest).await? {
        return Ok(false);
    }
    store.commit_hashed().await?;
    if store.is_verified(piece) {
        Ok(true)
    } else {
        Err(PieceStoreError::NotCommitted { piece: piece.get() })
    }
}
