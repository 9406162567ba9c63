//! Block bookkeeping for one piece being downloaded: who requested each block, who sent it.

use crate::peer::PeerKey;

/// State of one block of a piece in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockState {
    Free,
    Requested(PeerKey),
    Received(PeerKey),
}

/// What receiving a block did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Receipt {
    New,
    Duplicate,
}

/// Failed-request records kept per block of a piece, on average.
const MAX_AVOID_PER_BLOCK: usize = 8;

#[derive(Debug)]
pub(crate) struct PieceDl {
    pub(crate) piece: u32,
    blocks: Vec<BlockState>,
    /// Endgame duplicate requesters beyond the one in `blocks`: (block index, peer).
    extra: Vec<(u32, PeerKey)>,
    /// Per block: how many entries `extra` holds for it (so endgame scans need not search it).
    dups: Vec<u8>,
    /// Blocks a peer failed to deliver (timeout, reject): not given to that peer again.
    avoid: Vec<(u32, PeerKey)>,
    free: u32,
    received: u32,
}

impl PieceDl {
    pub(crate) fn new(piece: u32, block_count: u32) -> Self {
        Self {
            piece,
            blocks: vec![BlockState::Free; block_count as usize],
            extra: Vec::new(),
            dups: vec![0; block_count as usize],
            avoid: Vec::new(),
            free: block_count,
            received: 0,
        }
    }

    pub(crate) fn free(&self) -> u32 {
        self.free
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.received as usize == self.blocks.len()
    }

    #[cfg(test)]
    pub(crate) fn state(&self, index: u32) -> Option<BlockState> {
        self.blocks.get(index as usize).copied()
    }

    /// Every peer with an outstanding request for block `index`.
    pub(crate) fn requesters(&self, index: u32) -> impl Iterator<Item = PeerKey> + '_ {
        let primary = match self.blocks.get(index as usize) {
            Some(BlockState::Requested(p)) => Some(*p),
            _ => None,
        };
        primary.into_iter().chain(
            self.extra
                .iter()
                .filter(move |(i, _)| *i == index)
                .map(|(_, p)| *p),
        )
    }

    /// Marks up to `max` free blocks as requested by `peer`, appending their indices to `out`.
    /// A block `peer` failed to deliver is skipped while some of the `avail` peers having the
    /// piece has not failed it yet.
    pub(crate) fn take_free(
        &mut self,
        peer: PeerKey,
        max: usize,
        avail: u32,
        out: &mut Vec<u32>,
    ) -> usize {
        let mut taken = 0;
        if self.free == 0 {
            return 0;
        }
        let avoid = &self.avoid;
        let avoided = |i: u32| {
            !avoid.is_empty()
                && avoid.contains(&(i, peer))
                && (avoid.iter().filter(|(j, _)| *j == i).count() as u32) < avail
        };
        for (i, b) in self.blocks.iter_mut().enumerate() {
            if taken == max {
                break;
            }
            if *b == BlockState::Free && !avoided(i as u32) {
                *b = BlockState::Requested(peer);
                out.push(i as u32);
                taken += 1;
            }
        }
        self.free -= taken as u32;
        taken
    }

    /// Endgame: duplicates requests already held by other peers, for blocks `peer` has not asked
    /// for and that have fewer than `max_requesters` requesters.
    pub(crate) fn take_busy(
        &mut self,
        peer: PeerKey,
        max_requesters: usize,
        max: usize,
        out: &mut Vec<u32>,
    ) -> usize {
        let mut taken = 0;
        for i in 0..self.blocks.len() {
            if taken == max {
                break;
            }
            let BlockState::Requested(primary) = self.blocks[i] else {
                continue;
            };
            let dups = usize::from(self.dups[i]);
            if primary == peer || 1 + dups >= max_requesters {
                continue;
            }
            if dups > 0
                && self
                    .extra
                    .iter()
                    .any(|&(j, p)| j as usize == i && p == peer)
            {
                continue;
            }
            self.extra.push((i as u32, peer));
            self.dups[i] += 1;
            out.push(i as u32);
            taken += 1;
        }
        taken
    }

    /// Records block `index` as received from `peer`; pushes every other requester to `cancel`.
    pub(crate) fn receive(
        &mut self,
        peer: PeerKey,
        index: u32,
        cancel: &mut Vec<PeerKey>,
    ) -> Receipt {
        let Some(state) = self.blocks.get(index as usize).copied() else {
            return Receipt::Duplicate;
        };
        match state {
            BlockState::Received(_) => return Receipt::Duplicate,
            BlockState::Free => self.free -= 1,
            BlockState::Requested(p) => {
                if p != peer {
                    cancel.push(p);
                }
            }
        }
        if self.dups[index as usize] > 0 {
            self.extra.retain(|&(i, p)| {
                if i != index {
                    return true;
                }
                if p != peer {
                    cancel.push(p);
                }
                false
            });
            self.dups[index as usize] = 0;
        }
        self.blocks[index as usize] = BlockState::Received(peer);
        self.received += 1;
        self.avoid.retain(|&(i, _)| i != index);
        Receipt::New
    }

    /// Forgets `peer`'s request for block `index`; the block becomes free unless another peer
    /// (endgame) still has it requested. Returns whether `peer` had requested it.
    pub(crate) fn release_block(&mut self, peer: PeerKey, index: u32) -> bool {
        let Some(state) = self.blocks.get(index as usize).copied() else {
            return false;
        };
        if state == BlockState::Requested(peer) {
            if let Some(pos) = self.extra.iter().position(|&(i, _)| i == index) {
                let (_, next) = self.extra.swap_remove(pos);
                self.dups[index as usize] -= 1;
                self.blocks[index as usize] = BlockState::Requested(next);
            } else {
                self.blocks[index as usize] = BlockState::Free;
                self.free += 1;
            }
            return true;
        }
        if self.dups[index as usize] == 0 {
            return false;
        }
        let before = self.extra.len();
        self.extra.retain(|&(i, p)| !(i == index && p == peer));
        let removed = before - self.extra.len();
        self.dups[index as usize] -= removed as u8;
        removed > 0
    }

    /// Like [`release_block`](Self::release_block), and `peer` is not given the block again
    /// while another peer having the piece has not failed it too.
    pub(crate) fn fail_block(&mut self, peer: PeerKey, index: u32) -> bool {
        let released = self.release_block(peer, index);
        if released && !self.avoid.contains(&(index, peer)) {
            // Bounded: the oldest record goes first.
            if self.avoid.len() >= MAX_AVOID_PER_BLOCK * self.blocks.len() {
                self.avoid.remove(0);
            }
            self.avoid.push((index, peer));
        }
        released
    }

    /// Forgets every request of `peer` in this piece; returns how many were released.
    pub(crate) fn release_peer(&mut self, peer: PeerKey) -> usize {
        let mut n = 0;
        for i in 0..self.blocks.len() as u32 {
            if self.release_block(peer, i) {
                n += 1;
            }
        }
        n
    }

    /// Every outstanding request of this piece: `(block index, peer)`.
    pub(crate) fn outstanding(&self) -> impl Iterator<Item = (u32, PeerKey)> + '_ {
        self.blocks
            .iter()
            .enumerate()
            .filter_map(|(i, b)| match b {
                BlockState::Requested(p) => Some((i as u32, *p)),
                _ => None,
            })
            .chain(self.extra.iter().copied())
    }

    /// The distinct peers that sent blocks of this piece.
    pub(crate) fn contributors(&self) -> Vec<PeerKey> {
        let mut v: Vec<PeerKey> = self
            .blocks
            .iter()
            .filter_map(|b| match b {
                BlockState::Received(p) => Some(*p),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: PeerKey = PeerKey(1);
    const B: PeerKey = PeerKey(2);
    const C: PeerKey = PeerKey(3);

    #[test]
    fn free_requested_received_and_release() {
        let mut d = PieceDl::new(0, 4);
        let mut out = Vec::new();
        assert_eq!(d.take_free(A, 3, 1, &mut out), 3);
        assert_eq!(out, vec![0, 1, 2]);
        assert_eq!(d.free(), 1);
        assert_eq!(d.release_peer(A), 3);
        assert_eq!(d.free(), 4);
        out.clear();
        d.take_free(B, 10, 1, &mut out);
        assert_eq!(d.free(), 0);
        let mut cancel = Vec::new();
        for i in 0..4 {
            assert_eq!(d.receive(B, i, &mut cancel), Receipt::New);
        }
        assert!(cancel.is_empty());
        assert!(d.is_complete());
        assert_eq!(d.receive(B, 0, &mut cancel), Receipt::Duplicate);
        assert_eq!(d.contributors(), vec![B]);
    }

    #[test]
    fn endgame_duplicates_cancel_and_promote() {
        let mut d = PieceDl::new(0, 2);
        let mut out = Vec::new();
        d.take_free(A, 2, 1, &mut out);
        out.clear();
        assert_eq!(d.take_busy(B, 2, 10, &mut out), 2);
        assert_eq!(d.take_busy(C, 2, 10, &mut out), 0, "two requesters max");
        assert_eq!(
            d.take_busy(B, 3, 10, &mut out),
            0,
            "never twice to one peer"
        );
        let mut cancel = Vec::new();
        d.receive(B, 0, &mut cancel);
        assert_eq!(cancel, vec![A]);
        // A goes away: block 1 stays requested by B, not free.
        assert_eq!(d.release_peer(A), 1);
        assert_eq!(d.state(1), Some(BlockState::Requested(B)));
        assert_eq!(d.free(), 0);
        assert_eq!(d.requesters(1).collect::<Vec<_>>(), vec![B]);
    }

    #[test]
    fn failed_block_is_not_given_back_to_the_same_peer() {
        let mut d = PieceDl::new(0, 2);
        let mut out = Vec::new();
        d.take_free(A, 1, 2, &mut out);
        assert!(d.fail_block(A, 0));
        out.clear();
        assert_eq!(d.take_free(A, 2, 2, &mut out), 1);
        assert_eq!(out, vec![1]);
        out.clear();
        assert_eq!(d.take_free(B, 2, 2, &mut out), 1);
        assert_eq!(out, vec![0]);
        // B fails it too. With a third peer having the piece, neither A nor B gets it; once
        // every peer having it failed it, anyone may retry.
        assert!(d.fail_block(B, 0));
        out.clear();
        assert_eq!(d.take_free(B, 2, 3, &mut out), 0);
        assert_eq!(d.take_free(A, 2, 3, &mut out), 0);
        assert_eq!(d.take_free(B, 2, 2, &mut out), 1);
    }
}
