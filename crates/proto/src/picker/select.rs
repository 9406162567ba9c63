//! The picking passes behind [`Picker::pick`]: deadlines, partial pieces, new pieces, endgame.

use super::piece::PieceDl;
use super::{NOT_PARTIAL, PeerHave, Picker, Status};
use crate::peer::{Block, PeerKey};
use crate::priority::Priority;

impl Picker {
    /// Moves an idle piece to `active`; returns its index there.
    pub(super) fn start(&mut self, p: u32) -> usize {
        if let Status::Active(i) = self.status[p as usize] {
            return i as usize;
        }
        self.buckets.remove(p);
        let piece = self
            .geometry
            .piece(p)
            // Only pieces taken from `buckets` or `status`, hence in range, are started.
            .unwrap_or_else(|| unreachable!("checked piece"));
        let blocks = self.geometry.block_count(piece);
        self.active.push(PieceDl::new(p, blocks));
        let i = self.active.len() - 1;
        self.status[p as usize] = Status::Active(i as u32);
        self.sync_partial(i);
        i
    }

    pub(super) fn remove_active(&mut self, p: u32) -> PieceDl {
        let Status::Active(i) = self.status[p as usize] else {
            unreachable!("remove_active on a piece that is not active")
        };
        self.unlist_partial(p);
        let dl = self.active.swap_remove(i as usize);
        if let Some(moved) = self.active.get(i as usize) {
            self.status[moved.piece as usize] = Status::Active(i);
        }
        self.status[p as usize] = Status::Idle;
        dl
    }

    pub(super) fn take_free(
        &mut self,
        i: usize,
        peer: PeerKey,
        max: usize,
        out: &mut Vec<Block>,
    ) -> usize {
        self.scratch.clear();
        let p = self.active[i].piece as usize;
        let avail = self.avail[p] + self.seeds;
        let n = self.active[i].take_free(peer, max, avail, &mut self.scratch);
        self.sync_partial(i);
        self.emit(self.active[i].piece, out);
        n
    }

    pub(super) fn emit(&self, p: u32, out: &mut Vec<Block>) {
        // `p` is active, hence in range; block indices came from its block vector.
        let Some(piece) = self.geometry.piece(p) else {
            return;
        };
        out.extend(
            self.scratch
                .iter()
                .filter_map(|&b| Block::nth(&self.geometry, piece, b)),
        );
    }

    pub(super) fn pick_deadlines(
        &mut self,
        ph: &PeerHave,
        peer: PeerKey,
        max: usize,
        out: &mut Vec<Block>,
    ) -> usize {
        if self.deadlines.is_empty() {
            return 0;
        }
        let urgent: Vec<u32> = self.deadlines.iter().map(|&(_, p)| p).collect();
        let mut picked = 0;
        let mut head = true;
        for p in urgent {
            if picked == max {
                break;
            }
            if !self.is_wanted(p) || matches!(self.status[p as usize], Status::Verifying) {
                continue;
            }
            // The first missing deadline piece is the one a reader is blocked on.
            let is_head = std::mem::take(&mut head);
            if !ph.has(p) {
                continue;
            }
            let i = match self.status[p as usize] {
                Status::Idle => self.start(p),
                Status::Active(i) => i as usize,
                Status::Verifying | Status::Have => continue,
            };
            picked += self.take_free(i, peer, max - picked, out);
            if is_head && picked < max && self.endgame_requesters > 1 {
                // Every block of it is requested: ask a second peer too, as in endgame, so one
                // slow peer cannot stall the reader. Costs at most one piece per deadline piece.
                self.scratch.clear();
                picked += self.active[i].take_busy(
                    peer,
                    self.endgame_requesters,
                    max - picked,
                    &mut self.scratch,
                );
                self.emit(p, out);
            }
        }
        picked
    }

    pub(super) fn pick_partial(
        &mut self,
        ph: &PeerHave,
        peer: PeerKey,
        max: usize,
        out: &mut Vec<Block>,
    ) -> usize {
        // Reused buffer: this runs once per pick, i.e. up to once per block.
        let mut candidates = std::mem::take(&mut self.scratch_partial);
        candidates.clear();
        candidates.extend(
            self.partial
                .iter()
                .filter(|&&p| ph.has(p) && !self.priority[p as usize].is_skip())
                .filter_map(|&p| match self.status[p as usize] {
                    Status::Active(i) => Some((
                        Priority::HIGH.get() - self.priority[p as usize].get(),
                        self.active[i as usize].free(),
                        p,
                    )),
                    _ => None,
                }),
        );
        candidates.sort_unstable();
        let mut picked = 0;
        for &(_, _, p) in &candidates {
            if picked == max {
                break;
            }
            if let Status::Active(i) = self.status[p as usize] {
                picked += self.take_free(i as usize, peer, max - picked, out);
            }
        }
        self.scratch_partial = candidates;
        picked
    }

    pub(super) fn pick_endgame(
        &mut self,
        ph: &PeerHave,
        peer: PeerKey,
        max: usize,
        out: &mut Vec<Block>,
    ) -> usize {
        let mut picked = 0;
        for i in 0..self.active.len() {
            if picked == max {
                break;
            }
            let p = self.active[i].piece;
            if !ph.has(p) || self.priority[p as usize].is_skip() {
                continue;
            }
            self.scratch.clear();
            picked += self.active[i].take_busy(
                peer,
                self.endgame_requesters,
                max - picked,
                &mut self.scratch,
            );
            self.emit(p, out);
        }
        picked
    }

    /// No block that some connected peer could send us is unrequested.
    pub(super) fn no_free_obtainable(&self) -> bool {
        !self.buckets.any_available(self.seeds)
            && self.partial.iter().all(|&p| {
                self.priority[p as usize].is_skip() || self.avail[p as usize] + self.seeds == 0
            })
    }

    /// Keeps `partial` in step with the free-block count of `active[i]`.
    pub(super) fn sync_partial(&mut self, i: usize) {
        let dl = &self.active[i];
        let p = dl.piece as usize;
        let listed = self.partial_pos[p] != NOT_PARTIAL;
        if dl.free() > 0 && !listed {
            self.partial_pos[p] = self.partial.len() as u32;
            self.partial.push(dl.piece);
        } else if dl.free() == 0 && listed {
            self.unlist_partial(dl.piece);
        }
    }

    pub(super) fn unlist_partial(&mut self, piece: u32) {
        let pos = std::mem::replace(&mut self.partial_pos[piece as usize], NOT_PARTIAL);
        if pos == NOT_PARTIAL {
            return;
        }
        self.partial.swap_remove(pos as usize);
        if let Some(&moved) = self.partial.get(pos as usize) {
            self.partial_pos[moved as usize] = pos;
        }
    }
}
