//! Hashing whole pieces received in memory, two at a time when they come close together, then
//! writing the good ones.
//!
//! SHA-1 is most of a leecher's CPU time. Two pieces hashed together with
//! [`swarmfs_metainfo::sha1_pair`] cost about 0.6 of two hashed one after the other, so a piece
//! that finds the hasher idle waits up to [`PAIR_WAIT`] for a second one. In a fast download
//! the next piece comes long before that (a 256 KiB piece every 0.4 ms at 600 MiB/s); in a
//! slow one the wait is a small part of the time the piece took to arrive.

use std::sync::Arc;
use std::time::Duration;

use sha1::{Digest, Sha1};
use swarmfs_metainfo::{PieceIndex, sha1_pair};
use swarmfs_storage::{PieceStore, PieceStoreError};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use super::Internal;
use super::download::preallocate_files;
use crate::tasks::Tasks;

/// How long a piece waits for another to be hashed with.
pub(super) const PAIR_WAIT: Duration = Duration::from_millis(2);

/// A piece whose blocks all arrived.
pub(super) struct Job {
    pub(super) piece: PieceIndex,
    pub(super) buf: Vec<u8>,
    pub(super) expected: [u8; 20],
    /// Files whose space is reserved before the piece is written.
    pub(super) preallocate: Vec<usize>,
}

/// Where pieces go to be checked; each verdict comes back as [`Internal::Checked`].
pub(super) struct Verifier {
    jobs: mpsc::UnboundedSender<Job>,
}

/// What the hasher needs to write and report a piece.
#[derive(Clone)]
struct Sink {
    store: Arc<PieceStore>,
    tasks: Tasks,
    report: mpsc::UnboundedSender<Internal>,
    /// Durable mode: good pieces are written for the next group commit.
    durable: bool,
}

impl Verifier {
    /// Starts the hasher task of a torrent; it ends when the verifier is dropped.
    pub(super) fn start(
        store: Arc<PieceStore>,
        tasks: &Tasks,
        report: mpsc::UnboundedSender<Internal>,
        durable: bool,
    ) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        let sink = Sink {
            store,
            tasks: tasks.clone(),
            report,
            durable,
        };
        tasks.spawn(hasher(rx, sink));
        Self { jobs }
    }

    /// Queues `job` for hashing. The queue is bounded by the torrent: it stops requesting
    /// blocks at the engine's `max_unwritten_bytes`.
    pub(super) fn submit(&self, job: Job) {
        // Fails only when the hasher task is gone (the runtime is shutting down).
        let _ = self.jobs.send(job);
    }
}

async fn hasher(mut rx: mpsc::UnboundedReceiver<Job>, sink: Sink) {
    while let Some(first) = rx.recv().await {
        let second = match rx.try_recv() {
            Ok(job) => Some(job),
            Err(TryRecvError::Empty) => tokio::time::timeout(PAIR_WAIT, rx.recv())
                .await
                .ok()
                .flatten(),
            Err(TryRecvError::Disconnected) => None,
        };
        match second {
            Some(second) => {
                let (a, b) = sha1_pair(&first.buf, &second.buf);
                sink.write(first, a);
                sink.write(second, b);
            }
            None => {
                let digest = Sha1::digest(&first.buf).into();
                sink.write(first, digest);
            }
        }
    }
}

impl Sink {
    /// Writes `job`'s piece if `digest` is the expected one, then reports the verdict.
    fn write(&self, job: Job, digest: [u8; 20]) {
        let this = self.clone();
        self.tasks.spawn(async move {
            let Job {
                piece,
                buf,
                expected,
                preallocate,
            } = job;
            // Reserved whatever the verdict: the files count as reserved from the submit on.
            preallocate_files(&this.store, &preallocate).await;
            let (ok, error, uncommitted) = if digest != expected {
                (false, None, false)
            } else {
                match this.store_piece(piece, &buf, &digest).await {
                    Ok((ok, uncommitted)) => (ok, None, uncommitted),
                    Err(e) => (
                        false,
                        Some(format!("write piece {}: {e}", piece.get())),
                        false,
                    ),
                }
            };
            let _ = this.report.send(Internal::Checked {
                piece: piece.get(),
                ok,
                error,
                buf,
                uncommitted,
            });
        });
    }

    /// Writes a good piece. Returns whether the store took it, and whether it awaits a group
    /// commit (durable mode: written now, marked verified by the next commit, no read-back).
    async fn store_piece(
        &self,
        piece: PieceIndex,
        buf: &[u8],
        digest: &[u8; 20],
    ) -> Result<(bool, bool), PieceStoreError> {
        if !self.durable {
            return self
                .store
                .write_block(piece, 0, buf)
                .await
                .map(|()| (true, false));
        }
        match self.store.write_hashed_piece(piece, buf, digest).await {
            Ok(taken) => Ok((taken, taken)),
            Err(PieceStoreError::AlreadyVerified { .. }) => Ok((true, false)),
            Err(e) => Err(e),
        }
    }
}
