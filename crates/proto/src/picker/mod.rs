//! The piece picker: which blocks to ask a peer for next.
//!
//! Order of preference when a peer has room for more requests (see `STATE.md` beside this file):
//! 1. pieces with a deadline (a streaming reader is waiting), earliest deadline first;
//! 2. pieces already in progress (whole pieces are finished before new ones are started),
//!    higher priority first, then those closest to completion;
//! 3. a new piece: highest priority, then rarest (fewest peers have it), with a random start among
//!    equally rare pieces;
//! 4. endgame: once every block obtainable from connected peers is requested, blocks already
//!    requested from others are requested again; the first copy to arrive cancels the rest.

mod buckets;
mod piece;
mod select;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use swarmfs_metainfo::{Bitfield, Geometry, PieceIndex};

use self::buckets::{Buckets, Key};
use self::piece::{PieceDl, Receipt};
use crate::peer::{Block, PeerKey};
use crate::priority::Priority;
use crate::rng::Rng;

/// What a peer told us about the pieces it has (BEP 3 `bitfield`/`have`, BEP 6 `have all/none`),
/// or that it is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerEvent {
    /// The peer's full bitfield.
    Bitfield(Bitfield),
    /// The peer completed a piece.
    Have(PieceIndex),
    /// BEP 6: the peer has every piece.
    HaveAll,
    /// BEP 6: the peer has no piece.
    HaveNone,
    /// The connection closed: its availability is forgotten and its requests released.
    Gone,
}

/// Something the engine must do on the picker's behalf, from [`Picker::poll_action`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PickerAction {
    /// Send a `cancel` for `block` to `peer` (another peer delivered it first).
    Cancel {
        /// Who still has the request outstanding.
        peer: PeerKey,
        /// The block that arrived.
        block: Block,
    },
}

/// What [`Picker::handle_block`] made of a block that arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockOutcome {
    /// New data: store it. When `piece_complete`, every block of the piece is in; hash it and
    /// report with [`Picker::handle_hash_passed`] or [`Picker::handle_hash_failed`].
    Accepted {
        /// Whether this was the last missing block of its piece.
        piece_complete: bool,
    },
    /// The block was already received (endgame loser or a repeat): discard it.
    Duplicate,
    /// Nobody asked for this piece: discard it.
    Unrequested,
}

/// A peer sent something that does not fit the torrent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PickerError {
    /// A bitfield of the wrong length.
    #[error("bitfield has {got} bits, torrent has {expected} pieces")]
    BitfieldLength {
        /// Bits in the peer's bitfield.
        got: u32,
        /// Pieces in the torrent.
        expected: u32,
    },
    /// A piece index past the end of the torrent.
    #[error("piece {index} out of range, torrent has {count} pieces")]
    PieceOutOfRange {
        /// The index received.
        index: u32,
        /// Pieces in the torrent.
        count: u32,
    },
    /// A block that is not one of the blocks the torrent's pieces are cut into.
    #[error("invalid block: piece {piece} offset {offset} length {len}")]
    InvalidBlock {
        /// Piece index.
        piece: u32,
        /// Offset in the piece.
        offset: u32,
        /// Length.
        len: u32,
    },
    /// A file index past the end of the torrent's file list.
    #[error("file {index} out of range, torrent has {count} files")]
    NoSuchFile {
        /// The index given.
        index: usize,
        /// Files in the torrent.
        count: usize,
    },
}

/// Spacing of the deadlines [`Picker::read_at`] gives consecutive pieces, which only orders them.
const READ_DEADLINE_STEP: Duration = Duration::from_millis(1);

const NOT_PARTIAL: u32 = u32::MAX;

/// Endgame: at most this many peers hold a request for one block at the same time.
const DEFAULT_ENDGAME_REQUESTERS: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Not started (in `buckets` when wanted).
    Idle,
    /// Being downloaded: index into `active`.
    Active(u32),
    /// All blocks in, waiting for the hash result.
    Verifying,
    /// Verified.
    Have,
}

#[derive(Clone, Debug)]
enum PeerHave {
    Seed,
    /// The peer's pieces, and how many of them we want (so interest is O(1)).
    Some {
        bits: Bitfield,
        wanted: u32,
    },
}

impl PeerHave {
    fn has(&self, piece: u32) -> bool {
        match self {
            Self::Seed => true,
            Self::Some { bits, .. } => bits.get(piece),
        }
    }

    fn none(pieces: u32) -> Self {
        Self::Some {
            bits: Bitfield::new(pieces),
            wanted: 0,
        }
    }
}

/// Piece availability, priorities, deadlines and per-block request state of one torrent.
///
/// Call order: feed peers' piece announcements with [`handle_peer`](Self::handle_peer); when a
/// peer can take more requests call [`pick`](Self::pick) and send what it returns; feed arriving
/// blocks to [`handle_block`](Self::handle_block) and then drain
/// [`poll_action`](Self::poll_action) (cancels); report hash results; report requests that
/// timed out or were rejected with [`handle_request_failed`](Self::handle_request_failed) and
/// requests voided by a choke or our own cancel with [`release`](Self::release).
#[derive(Debug)]
pub struct Picker {
    geometry: Geometry,
    rng: Rng,
    have: Bitfield,
    priority: Vec<Priority>,
    file_priority: Vec<Priority>,
    /// Per piece: how many non-seed peers have it.
    avail: Vec<u32>,
    /// Peers that have everything (counted once here instead of once per piece).
    seeds: u32,
    /// Pieces neither verified nor skipped.
    wanted_missing: u32,
    status: Vec<Status>,
    buckets: Buckets,
    active: Vec<PieceDl>,
    /// Active pieces that still have free blocks (a handful, unlike `active`).
    partial: Vec<u32>,
    /// Per piece: its position in `partial`, or `NOT_PARTIAL`.
    partial_pos: Vec<u32>,
    verifying: HashMap<u32, Vec<PeerKey>>,
    deadlines: BTreeSet<(Instant, u32)>,
    deadline_of: HashMap<u32, Instant>,
    /// Skipped pieces a deadline made wanted; [`Picker::release_deadline`] skips them again.
    raised_by_deadline: HashSet<u32>,
    peers: HashMap<PeerKey, PeerHave>,
    actions: VecDeque<PickerAction>,
    endgame_requesters: usize,
    scratch: Vec<u32>,
    scratch_peers: Vec<PeerKey>,
    /// (inverse priority, free blocks, piece) of partial pieces, reused by every pick.
    scratch_partial: Vec<(u8, u32, u32)>,
}

impl Picker {
    /// A picker for `geometry` with nothing downloaded, every piece at [`Priority::NORMAL`], and
    /// random choices drawn from a generator seeded with `seed`.
    pub fn new(geometry: &Geometry, seed: u64) -> Self {
        let n = geometry.piece_count();
        let mut buckets = Buckets::new(n);
        for p in 0..n {
            buckets.insert(p, Key::new(Priority::NORMAL, 0));
        }
        Self {
            geometry: geometry.clone(),
            rng: Rng::new(seed),
            have: Bitfield::new(n),
            priority: vec![Priority::NORMAL; n as usize],
            file_priority: vec![Priority::NORMAL; geometry.file_count()],
            avail: vec![0; n as usize],
            seeds: 0,
            wanted_missing: n,
            status: vec![Status::Idle; n as usize],
            buckets,
            active: Vec::new(),
            partial: Vec::new(),
            partial_pos: vec![NOT_PARTIAL; n as usize],
            verifying: HashMap::new(),
            deadlines: BTreeSet::new(),
            deadline_of: HashMap::new(),
            raised_by_deadline: HashSet::new(),
            peers: HashMap::new(),
            actions: VecDeque::new(),
            endgame_requesters: DEFAULT_ENDGAME_REQUESTERS,
            scratch: Vec::new(),
            scratch_peers: Vec::new(),
            scratch_partial: Vec::new(),
        }
    }

    /// Sets how many peers may hold a request for the same block in endgame (clamped to 1..=8;
    /// 1 disables endgame duplicates). The default is 2.
    pub fn set_endgame_requesters(&mut self, n: usize) -> &mut Self {
        self.endgame_requesters = n.clamp(1, 8);
        self
    }

    /// The torrent's geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The pieces we have verified.
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Whether every piece not skipped is verified.
    pub fn is_done(&self) -> bool {
        self.wanted_missing == 0
    }

    /// The priority of `piece`.
    pub fn priority(&self, piece: PieceIndex) -> Priority {
        self.priority
            .get(piece.get() as usize)
            .copied()
            .unwrap_or(Priority::SKIP)
    }

    /// How many connected peers have `piece`.
    pub fn availability(&self, piece: PieceIndex) -> u32 {
        self.avail.get(piece.get() as usize).copied().unwrap_or(0) + self.seeds
    }

    /// Peers holding an outstanding request for `block` (more than one only in endgame).
    pub fn requesters(&self, block: Block) -> Vec<PeerKey> {
        match self.status.get(block.piece.get() as usize) {
            Some(Status::Active(i)) => self.active[*i as usize].requesters(block.index()).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether endgame is on: blocks are still missing, but every block obtainable from a
    /// connected peer is already requested.
    pub fn is_endgame(&self) -> bool {
        self.no_free_obtainable() && !self.is_done()
    }

    /// Whether `peer` has a piece we want and do not have (we should be interested). O(1).
    pub fn is_interesting(&self, peer: PeerKey) -> bool {
        match self.peers.get(&peer) {
            Some(PeerHave::Seed) => self.wanted_missing > 0,
            Some(PeerHave::Some { wanted, .. }) => *wanted > 0,
            None => false,
        }
    }

    /// Marks `piece` verified without downloading it (resume from storage).
    pub fn mark_have(&mut self, piece: PieceIndex) -> Result<(), PickerError> {
        let p = self.check_piece(piece)?;
        self.finish(p);
        Ok(())
    }

    /// Records what `peer` announced about its pieces, or that it left.
    pub fn handle_peer(&mut self, peer: PeerKey, event: PeerEvent) -> Result<(), PickerError> {
        match event {
            PeerEvent::Bitfield(bits) => {
                let expected = self.geometry.piece_count();
                if bits.len() != expected {
                    return Err(PickerError::BitfieldLength {
                        got: bits.len(),
                        expected,
                    });
                }
                self.forget_peer_pieces(peer);
                if bits.all() {
                    self.seeds += 1;
                    self.peers.insert(peer, PeerHave::Seed);
                } else {
                    let mut wanted = 0;
                    for p in bits.ones() {
                        self.add_avail(p, 1);
                        wanted += u32::from(self.is_wanted(p));
                    }
                    self.peers.insert(peer, PeerHave::Some { bits, wanted });
                }
            }
            PeerEvent::Have(piece) => {
                let p = self.check_piece(piece)?;
                let n = self.geometry.piece_count();
                let is_wanted = self.is_wanted(p);
                let ph = self.peers.entry(peer).or_insert_with(|| PeerHave::none(n));
                if let PeerHave::Some { bits, wanted } = ph {
                    if !bits.set(p, true) {
                        *wanted += u32::from(is_wanted);
                        self.add_avail(p, 1);
                    }
                }
            }
            PeerEvent::HaveAll => {
                self.forget_peer_pieces(peer);
                self.seeds += 1;
                self.peers.insert(peer, PeerHave::Seed);
            }
            PeerEvent::HaveNone => {
                self.forget_peer_pieces(peer);
                let n = self.geometry.piece_count();
                self.peers.insert(peer, PeerHave::none(n));
            }
            PeerEvent::Gone => {
                self.forget_peer_pieces(peer);
                self.release_peer(peer);
            }
        }
        Ok(())
    }

    /// Picks up to `max` blocks to request from `peer`, marks them requested by it and appends
    /// them to `out`. Returns how many were appended. Never returns a block of a piece the peer
    /// lacks, of a skipped piece, or one the peer already has requested. A block already
    /// requested from another peer is only returned in endgame, or when it belongs to the
    /// earliest-deadline missing piece (the one a reader waits for).
    pub fn pick(&mut self, peer: PeerKey, max: usize, out: &mut Vec<Block>) -> usize {
        // Taken out of the map for the duration of the pick so the rest of `self` stays mutable.
        let Some(ph) = self.peers.remove(&peer) else {
            return 0;
        };
        let mut picked = 0;
        if max > 0 {
            picked += self.pick_deadlines(&ph, peer, max, out);
            if picked < max {
                picked += self.pick_partial(&ph, peer, max - picked, out);
            }
            while picked < max {
                let Some(p) = self.buckets.find(&mut self.rng, |p| ph.has(p)) else {
                    break;
                };
                let i = self.start(p);
                picked += self.take_free(i, peer, max - picked, out);
            }
            if picked < max && self.endgame_requesters > 1 && self.no_free_obtainable() {
                picked += self.pick_endgame(&ph, peer, max - picked, out);
            }
        }
        self.peers.insert(peer, ph);
        picked
    }

    /// Records an arriving block. Queues cancels for other requesters (drain with
    /// [`poll_action`](Self::poll_action)).
    pub fn handle_block(
        &mut self,
        peer: PeerKey,
        block: Block,
    ) -> Result<BlockOutcome, PickerError> {
        if !block.is_valid(&self.geometry) {
            return Err(PickerError::InvalidBlock {
                piece: block.piece.get(),
                offset: block.offset,
                len: block.len,
            });
        }
        let p = block.piece.get();
        let i = match self.status[p as usize] {
            Status::Active(i) => i as usize,
            Status::Verifying | Status::Have => return Ok(BlockOutcome::Duplicate),
            Status::Idle => return Ok(BlockOutcome::Unrequested),
        };
        self.scratch_peers.clear();
        if self.active[i].receive(peer, block.index(), &mut self.scratch_peers)
            == Receipt::Duplicate
        {
            return Ok(BlockOutcome::Duplicate);
        }
        for &other in &self.scratch_peers {
            self.actions
                .push_back(PickerAction::Cancel { peer: other, block });
        }
        self.sync_partial(i);
        let complete = self.active[i].is_complete();
        if complete {
            let dl = self.remove_active(p);
            self.verifying.insert(p, dl.contributors());
            self.status[p as usize] = Status::Verifying;
        }
        Ok(BlockOutcome::Accepted {
            piece_complete: complete,
        })
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<PickerAction> {
        self.actions.pop_front()
    }

    /// Forgets `peer`'s request for `block` (we cancelled it, or the peer choked us); the block
    /// can be picked again, by any peer.
    pub fn release(&mut self, peer: PeerKey, block: Block) {
        if let Some(Status::Active(i)) = self.status.get(block.piece.get() as usize) {
            let i = *i as usize;
            self.active[i].release_block(peer, block.index());
            self.sync_partial(i);
        }
    }

    /// `peer` failed to deliver `block` (the request timed out or was rejected): the block can be
    /// picked again, by any other peer.
    pub fn handle_request_failed(&mut self, peer: PeerKey, block: Block) {
        if let Some(Status::Active(i)) = self.status.get(block.piece.get() as usize) {
            let i = *i as usize;
            self.active[i].fail_block(peer, block.index());
            self.sync_partial(i);
        }
    }

    /// Forgets every request of `peer` (it choked us without the fast extension, or left).
    pub fn release_peer(&mut self, peer: PeerKey) {
        for i in 0..self.active.len() {
            if self.active[i].release_peer(peer) > 0 {
                self.sync_partial(i);
            }
        }
    }

    /// The piece's hash matched: it is ours. Returns `false` if it was not waiting for a hash.
    pub fn handle_hash_passed(&mut self, piece: PieceIndex) -> bool {
        let p = piece.get();
        if self.status.get(p as usize) != Some(&Status::Verifying) {
            return false;
        }
        self.verifying.remove(&p);
        self.finish(p);
        true
    }

    /// The piece's hash did not match: its data is discarded and it will be downloaded again.
    /// Returns the peers that sent blocks of it (suspects, for the engine's ban accounting).
    pub fn handle_hash_failed(&mut self, piece: PieceIndex) -> Vec<PeerKey> {
        let p = piece.get();
        if self.status.get(p as usize) != Some(&Status::Verifying) {
            return Vec::new();
        }
        self.status[p as usize] = Status::Idle;
        self.rebucket(p);
        self.verifying.remove(&p).unwrap_or_default()
    }

    /// The piece was verified by other means (a web seed, a local copy): it is ours, and every
    /// request still outstanding for its blocks is queued as a [`PickerAction::Cancel`] (drain
    /// with [`poll_action`](Self::poll_action)). A piece whose hash check is pending becomes
    /// ours too (its later [`handle_hash_passed`](Self::handle_hash_passed) returns `false`).
    /// Returns `false` if the piece was already ours.
    pub fn handle_piece_added(&mut self, piece: PieceIndex) -> Result<bool, PickerError> {
        let p = self.check_piece(piece)?;
        match self.status[p as usize] {
            Status::Have => return Ok(false),
            Status::Active(i) => {
                let pending: Vec<(u32, PeerKey)> = self.active[i as usize].outstanding().collect();
                for (index, peer) in pending {
                    if let Some(block) = Block::nth(&self.geometry, piece, index) {
                        self.actions.push_back(PickerAction::Cancel { peer, block });
                    }
                }
            }
            Status::Verifying => {
                self.verifying.remove(&p);
            }
            Status::Idle => {}
        }
        self.finish(p);
        Ok(true)
    }

    /// A verified piece is no longer ours (its storage can no longer produce it). It is not
    /// fetched again by itself: its priority becomes [`Priority::SKIP`] until a file or piece
    /// priority, or a deadline, asks for it again. Returns `false` if it was not ours.
    pub fn handle_piece_lost(&mut self, piece: PieceIndex) -> Result<bool, PickerError> {
        let p = self.check_piece(piece)?;
        if self.status[p as usize] != Status::Have {
            return Ok(false);
        }
        self.status[p as usize] = Status::Idle;
        self.priority[p as usize] = Priority::SKIP;
        // Skipped and missing: not counted as wanted, by us or by the peers having it.
        self.have.set(p, false);
        self.rebucket(p);
        Ok(true)
    }

    /// Sets the priority of one piece. A skipped piece already in progress keeps the requests it
    /// has but gets no new ones.
    pub fn set_piece_priority(
        &mut self,
        piece: PieceIndex,
        priority: Priority,
    ) -> Result<(), PickerError> {
        let p = self.check_piece(piece)?;
        self.raised_by_deadline.remove(&p);
        self.set_priority_of(p, priority);
        Ok(())
    }

    /// Sets the priority of a file. Each of its pieces gets the highest priority of the files it
    /// overlaps, so a piece shared with a wanted file stays wanted when this file is skipped.
    pub fn set_file_priority(
        &mut self,
        file: usize,
        priority: Priority,
    ) -> Result<(), PickerError> {
        let count = self.geometry.file_count();
        if file >= count {
            return Err(PickerError::NoSuchFile { index: file, count });
        }
        self.file_priority[file] = priority;
        let Some(range) = self.geometry.file_pieces(file) else {
            return Ok(()); // an empty file covers no piece
        };
        for p in range.start().get()..=range.end().get() {
            let Some(piece) = self.geometry.piece(p) else {
                continue;
            };
            let len = self.geometry.piece_len(piece);
            let best = self
                .geometry
                .spans(piece, 0, len)
                .map(|s| self.file_priority[s.file_index])
                .max()
                .unwrap_or(Priority::SKIP);
            self.raised_by_deadline.remove(&p);
            self.set_priority_of(p, best);
        }
        Ok(())
    }

    /// Gives `piece` a deadline: it is picked before any piece without one or with a later one.
    /// A skipped piece with a deadline becomes [`Priority::NORMAL`] (someone is reading it).
    pub fn set_deadline(&mut self, piece: PieceIndex, at: Instant) -> Result<(), PickerError> {
        let p = self.check_piece(piece)?;
        if self.have.get(p) {
            return Ok(());
        }
        if self.priority[p as usize].is_skip() {
            self.set_priority_of(p, Priority::NORMAL);
            self.raised_by_deadline.insert(p);
        }
        if let Some(old) = self.deadline_of.insert(p, at) {
            self.deadlines.remove(&(old, p));
        }
        self.deadlines.insert((at, p));
        Ok(())
    }

    /// Removes the deadline of `piece`, if any.
    pub fn clear_deadline(&mut self, piece: PieceIndex) {
        if let Some(old) = self.deadline_of.remove(&piece.get()) {
            self.deadlines.remove(&(old, piece.get()));
        }
    }

    /// Nobody waits for `piece` any more (a reader went away): its deadline goes, and a piece
    /// that only the deadline made wanted (its files are skipped) is skipped again.
    pub fn release_deadline(&mut self, piece: PieceIndex) {
        self.clear_deadline(piece);
        let p = piece.get();
        if self.raised_by_deadline.remove(&p) && !self.have.get(p) {
            self.set_priority_of(p, Priority::SKIP);
        }
    }

    /// A reader waits at byte `offset`: the missing pieces among the next `window` pieces from
    /// there become urgent, in order (an earlier deadline a piece already has is kept).
    pub fn read_at(&mut self, now: Instant, offset: u64, window: u32) {
        let Some(first) = self.geometry.piece_at(offset) else {
            return;
        };
        let end = first
            .get()
            .saturating_add(window)
            .min(self.geometry.piece_count());
        for (k, p) in (first.get()..end).enumerate() {
            let at = now + READ_DEADLINE_STEP * k as u32;
            if self.deadline_of.get(&p).is_some_and(|&old| old <= at) {
                continue;
            }
            if let Some(piece) = self.geometry.piece(p) {
                // In range by construction of `end`.
                let _ = self.set_deadline(piece, at);
            }
        }
    }

    fn check_piece(&self, piece: PieceIndex) -> Result<u32, PickerError> {
        let count = self.geometry.piece_count();
        if piece.get() >= count {
            return Err(PickerError::PieceOutOfRange {
                index: piece.get(),
                count,
            });
        }
        Ok(piece.get())
    }

    fn set_priority_of(&mut self, p: u32, priority: Priority) {
        let old = std::mem::replace(&mut self.priority[p as usize], priority);
        if !self.have.get(p) {
            match (old.is_skip(), priority.is_skip()) {
                (true, false) => {
                    self.wanted_missing += 1;
                    self.count_wanted_by_peers(p, 1);
                }
                (false, true) => {
                    self.wanted_missing -= 1;
                    self.count_wanted_by_peers(p, -1);
                }
                _ => {}
            }
        }
        self.rebucket(p);
    }

    /// Piece `p` became wanted (+1) or unwanted (-1): adjust the count of every peer having it.
    /// O(peers), once per verified piece or priority change.
    fn count_wanted_by_peers(&mut self, p: u32, delta: i32) {
        for ph in self.peers.values_mut() {
            if let PeerHave::Some { bits, wanted } = ph {
                if bits.get(p) {
                    *wanted = wanted.saturating_add_signed(delta);
                }
            }
        }
    }

    fn is_wanted(&self, p: u32) -> bool {
        !self.have.get(p) && !self.priority[p as usize].is_skip()
    }

    /// Puts an idle piece in the right bucket (or none, if it is not wanted).
    fn rebucket(&mut self, p: u32) {
        if self.status[p as usize] != Status::Idle {
            return;
        }
        if self.is_wanted(p) {
            let key = Key::new(self.priority[p as usize], self.avail[p as usize]);
            if self.buckets.contains(p) {
                self.buckets.rekey(p, key);
            } else {
                self.buckets.insert(p, key);
            }
        } else {
            self.buckets.remove(p);
        }
    }

    fn add_avail(&mut self, p: u32, delta: i32) {
        let a = &mut self.avail[p as usize];
        *a = a.saturating_add_signed(delta);
        if self.buckets.contains(p) {
            let key = Key::new(self.priority[p as usize], *a);
            self.buckets.rekey(p, key);
        }
    }

    fn forget_peer_pieces(&mut self, peer: PeerKey) {
        match self.peers.remove(&peer) {
            Some(PeerHave::Seed) => self.seeds -= 1,
            Some(PeerHave::Some { bits, .. }) => {
                for p in bits.ones() {
                    self.add_avail(p, -1);
                }
            }
            None => {}
        }
    }

    fn finish(&mut self, p: u32) {
        if let Status::Active(_) = self.status[p as usize] {
            self.remove_active(p);
        }
        self.buckets.remove(p);
        if !self.have.set(p, true) && !self.priority[p as usize].is_skip() {
            self.wanted_missing -= 1;
            self.count_wanted_by_peers(p, -1);
        }
        self.status[p as usize] = Status::Have;
        if let Some(at) = self.deadline_of.remove(&p) {
            self.deadlines.remove(&(at, p));
        }
    }
}

/// Internal accessors for the crate's tests.
#[cfg(test)]
impl Picker {
    /// Panics if the redundant indexes disagree with each other.
    pub(crate) fn check_invariants(&self) {
        let mut missing = 0;
        for p in 0..self.geometry.piece_count() {
            let st = self.status[p as usize];
            assert_eq!(self.have.get(p), st == Status::Have, "piece {p}: {st:?}");
            assert_eq!(
                self.buckets.contains(p),
                st == Status::Idle && self.is_wanted(p),
                "piece {p} bucket membership"
            );
            if let Status::Active(i) = st {
                let dl = &self.active[i as usize];
                assert_eq!(dl.piece, p);
                assert_eq!(
                    self.partial_pos[p as usize] != NOT_PARTIAL,
                    dl.free() > 0,
                    "piece {p} partial"
                );
            } else {
                assert_eq!(self.partial_pos[p as usize], NOT_PARTIAL);
            }
            if !self.have.get(p) && !self.priority[p as usize].is_skip() {
                missing += 1;
            }
        }
        assert_eq!(missing, self.wanted_missing);
        for (pos, &p) in self.partial.iter().enumerate() {
            assert_eq!(self.partial_pos[p as usize], pos as u32);
        }
        let peer_avail = |p: u32| {
            self.peers
                .values()
                .filter(|h| matches!(h, PeerHave::Some { bits, .. } if bits.get(p)))
                .count() as u32
        };
        for p in 0..self.geometry.piece_count() {
            assert_eq!(self.avail[p as usize], peer_avail(p), "availability of {p}");
        }
        let seeds = self
            .peers
            .values()
            .filter(|h| matches!(h, PeerHave::Seed))
            .count() as u32;
        assert_eq!(seeds, self.seeds);
        for h in self.peers.values() {
            if let PeerHave::Some { bits, wanted } = h {
                let expected = bits.ones().filter(|&p| self.is_wanted(p)).count() as u32;
                assert_eq!(*wanted, expected, "wanted count of a peer");
            }
        }
    }

    pub(crate) fn block_state_is_free(&self, block: Block) -> bool {
        use self::piece::BlockState;
        match self.status[block.piece.get() as usize] {
            Status::Active(i) => {
                self.active[i as usize].state(block.index()) == Some(BlockState::Free)
            }
            Status::Idle => true,
            _ => false,
        }
    }
}
