//! What readers ask of a download: urgency for the bytes they wait for (counted per read, and
//! given back when a read goes away), and the set of pieces still wanted.

use std::time::Instant;

use swarmfs_metainfo::Bitfield;

use super::Download;

impl Download {
    /// A reader waits for `len` bytes at `offset`: those pieces become urgent.
    pub(in crate::torrent) fn read_at(&mut self, offset: u64, len: u64) {
        let g = self.picker.geometry().clone();
        let (Some(first), Some(last)) = (
            g.piece_at(offset),
            g.piece_at(
                offset
                    .saturating_add(len.max(1) - 1)
                    .min(g.total_length() - 1),
            ),
        ) else {
            return;
        };
        let now = Instant::now();
        for p in first.get()..=last.get() {
            if let Some(piece) = g.piece(p) {
                let _ = self.picker.set_deadline(piece, now);
                if !self.picker.have().get(p) {
                    *self.readers.entry(p).or_insert(0) += 1;
                }
            }
        }
    }

    /// Takes back the urgency [`Self::read_at`] gave the pieces of `offset..offset + len`
    /// (their reader went away) once no other read holds them; pieces only a reader wanted are
    /// skipped again. Reads that never release (a plain `wait_range`) keep theirs.
    pub(in crate::torrent) fn release(&mut self, offset: u64, len: u64) {
        let g = self.picker.geometry().clone();
        if len == 0 {
            return;
        }
        let last = offset
            .saturating_add(len - 1)
            .min(g.total_length().saturating_sub(1));
        let (Some(first), Some(last)) = (g.piece_at(offset), g.piece_at(last)) else {
            return;
        };
        for p in first.get()..=last.get() {
            let Some(count) = self.readers.get_mut(&p) else {
                continue;
            };
            *count -= 1;
            if *count > 0 {
                continue; // another read still waits for it
            }
            self.readers.remove(&p);
            if let Some(piece) = g.piece(p) {
                self.picker.release_deadline(piece);
            }
        }
    }

    /// Pieces neither verified nor skipped.
    pub(in crate::torrent) fn wanted(&self) -> Bitfield {
        let g = self.picker.geometry();
        let mut b = Bitfield::new(g.piece_count());
        for piece in g.pieces() {
            if !self.picker.have().get(piece.get()) && !self.picker.priority(piece).is_skip() {
                b.set(piece.get(), true);
            }
        }
        b
    }
}
