//! State of one torrent that its peer tasks read without asking the torrent task: the info
//! dictionary and piece store once known, and which pieces are verified.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use swarmfs_metainfo::{Bitfield, Info, InfoHash};
use swarmfs_storage::PieceStore;
use tokio::sync::watch;

use crate::limit::RateLimit;

/// A completion bitfield readable and writable from any task.
#[derive(Debug)]
pub(crate) struct HaveBits {
    words: Vec<AtomicU64>,
    len: u32,
}

impl HaveBits {
    pub(crate) fn from_bitfield(bits: &Bitfield) -> Self {
        let words = (0..bits.len().div_ceil(64))
            .map(|_| AtomicU64::new(0))
            .collect();
        let me = Self {
            words,
            len: bits.len(),
        };
        for i in bits.ones() {
            me.set(i);
        }
        me
    }

    pub(crate) fn get(&self, i: u32) -> bool {
        i < self.len && self.words[(i / 64) as usize].load(Ordering::Acquire) & (1 << (i % 64)) != 0
    }

    pub(crate) fn set(&self, i: u32) {
        if i < self.len {
            self.words[(i / 64) as usize].fetch_or(1 << (i % 64), Ordering::AcqRel);
        }
    }

    /// Clears bit `i`; returns whether it was set.
    pub(crate) fn clear(&self, i: u32) -> bool {
        i < self.len
            && self.words[(i / 64) as usize].fetch_and(!(1 << (i % 64)), Ordering::AcqRel)
                & (1 << (i % 64))
                != 0
    }

    pub(crate) fn to_bitfield(&self) -> Bitfield {
        let mut b = Bitfield::new(self.len);
        for i in 0..self.len {
            if self.get(i) {
                b.set(i, true);
            }
        }
        b
    }
}

/// Spare whole-piece buffers, shared by a torrent and its peer readers (which assemble runs of
/// blocks in them): steady state allocates nothing per piece.
pub(crate) type PiecePool = Arc<Mutex<Vec<Vec<u8>>>>;

/// A buffer of `len` bytes from `pool`. Pooled buffers keep their old bytes: every byte is
/// overwritten by a block before the piece is hashed, so there is nothing to clear.
pub(crate) fn take_piece_buf(pool: &PiecePool, len: usize) -> Vec<u8> {
    let mut b = pool
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop()
        .unwrap_or_default();
    b.resize(len, 0);
    b.truncate(len);
    b
}

/// Most spare piece buffers a torrent keeps.
const MAX_POOLED_PIECES: usize = 64;

/// Gives `buf` back to `pool` (dropped when the pool is full).
pub(crate) fn recycle_piece_buf(pool: &PiecePool, buf: Vec<u8>) {
    let mut pool = pool
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if pool.len() < MAX_POOLED_PIECES && !buf.is_empty() {
        pool.push(buf);
    }
}

/// What exists once the info dictionary is known.
#[derive(Debug)]
pub(crate) struct Ready {
    pub(crate) info: Arc<Info>,
    /// The raw info dictionary, sliced to serve BEP 9 requests.
    pub(crate) info_bytes: Bytes,
    pub(crate) store: Arc<PieceStore>,
    pub(crate) have: HaveBits,
}

/// Shared by a torrent task, its peer tasks and its handles.
#[derive(Debug)]
pub(crate) struct TorrentShared {
    pub(crate) info_hash: InfoHash,
    pub(crate) ready: OnceLock<Ready>,
    /// Bumped on every verified piece and when the metadata arrives; closed when the torrent ends.
    pub(crate) progress: watch::Sender<u64>,
    pub(crate) uploaded: AtomicU64,
    pub(crate) upload_limits: Vec<Arc<RateLimit>>,
    pub(crate) download_limits: Vec<Arc<RateLimit>>,
    pub(crate) piece_pool: PiecePool,
    /// Why the torrent cannot go on (its storage could not be opened or checked, its info
    /// dictionary is unusable); waiters return it instead of waiting forever.
    pub(crate) failure: OnceLock<String>,
}

impl TorrentShared {
    pub(crate) fn new(
        info_hash: InfoHash,
        upload_limits: Vec<Arc<RateLimit>>,
        download_limits: Vec<Arc<RateLimit>>,
    ) -> Self {
        Self {
            info_hash,
            ready: OnceLock::new(),
            progress: watch::Sender::new(0),
            uploaded: AtomicU64::new(0),
            upload_limits,
            download_limits,
            piece_pool: PiecePool::default(),
            failure: OnceLock::new(),
        }
    }

    pub(crate) fn bump(&self) {
        self.progress.send_modify(|v| *v += 1);
    }

    /// Records that the torrent failed for good (the first reason counts) and wakes waiters.
    pub(crate) fn fail(&self, reason: String) {
        let _ = self.failure.set(reason);
        self.bump();
    }

    /// [`crate::TorrentError::Failed`] once the torrent failed.
    pub(crate) fn check_failed(&self) -> Result<(), crate::TorrentError> {
        match self.failure.get() {
            Some(reason) => Err(crate::TorrentError::Failed {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn have_bits_round_trip() {
        let mut b = Bitfield::new(130);
        b.set(0, true);
        b.set(64, true);
        b.set(129, true);
        let h = HaveBits::from_bitfield(&b);
        assert!(h.get(64) && h.get(129) && !h.get(1) && !h.get(130));
        h.set(5);
        h.set(500);
        b.set(5, true);
        assert_eq!(h.to_bitfield(), b);
        assert!(h.clear(64) && !h.clear(64) && !h.clear(500));
        b.set(64, false);
        assert_eq!(h.to_bitfield(), b);
    }
}
