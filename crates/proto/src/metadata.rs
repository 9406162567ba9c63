//! BEP 9 metadata assembly: fetch the info dictionary, 16 KiB at a time, from the peers that
//! announced its size, and accept it only if its SHA-1 is the info-hash.
//!
//! Lying peers: the first attempt spreads pieces over several peers. If the hash fails, every peer
//! that contributed is reported as a suspect, and each further attempt fetches everything from a
//! single peer not yet tried alone: a failed single-peer attempt proves that peer lied and it is
//! banned. Once an attempt succeeds, each piece of the failed attempts is compared with the good
//! metadata, and the peers whose pieces differ are banned too. A single-peer attempt that
//! completes either succeeds or bans its peer, so with one honest peer connected assembly ends.
//! The size assembled is the one most peers announced; a peer lying about it only ever gets
//! itself banned.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use swarmfs_metainfo::InfoHash;

use crate::peer::PeerKey;

/// Size of a BEP 9 metadata piece: "Each piece is 16 KiB in size, except the last".
pub const METADATA_PIECE_SIZE: u32 = 16 * 1024;

/// Tuning of the [`MetadataAssembler`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetadataConfig {
    /// Largest `metadata_size` accepted (default 16 MiB).
    pub max_size: u32,
    /// Requests outstanding per peer.
    pub requests_per_peer: usize,
    /// A request unanswered this long is given to another peer.
    pub request_timeout: Duration,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            max_size: 16 * 1024 * 1024,
            requests_per_peer: 2,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// A peer sent metadata that does not fit: drop the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// `metadata_size` of zero or above the limit.
    #[error("metadata size {size} outside 1..={max}")]
    BadSize {
        /// The announced size.
        size: u64,
        /// The limit.
        max: u32,
    },
    /// A data message whose `total_size` is not the `metadata_size` the peer announced.
    #[error("metadata total size {got} differs from the announced {expected}")]
    SizeMismatch {
        /// `total_size` in the message.
        got: u64,
        /// The size the peer announced.
        expected: u32,
    },
    /// A piece index past the end of the metadata.
    #[error("metadata piece {piece} out of range, metadata has {count} pieces")]
    PieceOutOfRange {
        /// The piece index received.
        piece: u32,
        /// Pieces in the metadata.
        count: u32,
    },
    /// A piece of the wrong length.
    #[error("metadata piece {piece} has {len} bytes, expected {expected}")]
    BadPieceLength {
        /// The piece index.
        piece: u32,
        /// Bytes received.
        len: usize,
        /// Bytes expected.
        expected: u32,
    },
}

/// Something the engine must act on, from [`MetadataAssembler::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataEvent {
    /// The info dictionary, verified against the info-hash.
    Complete(Vec<u8>),
    /// An assembly failed its hash; these peers sent pieces of it (one or more lied).
    HashFailed {
        /// Every peer that contributed a piece.
        suspects: Vec<PeerKey>,
    },
    /// This peer provably sent bad metadata: ban it.
    Ban(PeerKey),
}

#[derive(Debug)]
struct PeerMeta {
    size: u32,
    in_flight: usize,
    rejected: BTreeSet<u32>,
    banned: bool,
    tried_alone: bool,
}

#[derive(Debug)]
struct Attempt {
    size: u32,
    buf: Vec<u8>,
    received: Vec<Option<PeerKey>>,
    requested: Vec<Option<(PeerKey, Instant)>>,
    /// Single-peer attempt: only this peer is asked.
    only: Option<PeerKey>,
}

/// A piece of a failed attempt: who sent it and its SHA-1.
#[derive(Debug)]
struct FailedPiece {
    size: u32,
    piece: u32,
    peer: PeerKey,
    digest: InfoHash,
}

/// Most failed-piece records kept (bounds memory against many lying peers).
const MAX_FAILED_RECORDS: usize = 8192;

/// Fetches and verifies the info dictionary for one info-hash.
///
/// Call order: report each peer's announced `metadata_size` with
/// [`handle_peer_size`](Self::handle_peer_size); send the requests
/// [`poll_request`](Self::poll_request) returns; feed data, rejects, departures and timeouts
/// back; drain [`poll_event`](Self::poll_event) until [`MetadataEvent::Complete`].
#[derive(Debug)]
pub struct MetadataAssembler {
    info_hash: InfoHash,
    config: MetadataConfig,
    peers: BTreeMap<PeerKey, PeerMeta>,
    attempt: Option<Attempt>,
    failed: Vec<FailedPiece>,
    failures: u32,
    complete: bool,
    events: VecDeque<MetadataEvent>,
    cursor: Option<PeerKey>,
}

impl MetadataAssembler {
    /// An assembler for the info dictionary whose SHA-1 is `info_hash`.
    pub fn new(info_hash: InfoHash, config: MetadataConfig) -> Self {
        Self {
            info_hash,
            config,
            peers: BTreeMap::new(),
            attempt: None,
            failed: Vec::new(),
            failures: 0,
            complete: false,
            events: VecDeque::new(),
            cursor: None,
        }
    }

    /// Whether the metadata was assembled and verified.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The size being assembled, if an attempt is running.
    pub fn size(&self) -> Option<u32> {
        self.attempt.as_ref().map(|a| a.size)
    }

    /// How many assemblies failed their hash so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// `peer` announced `metadata_size` in its extension handshake (BEP 10/9).
    pub fn handle_peer_size(&mut self, peer: PeerKey, size: u64) -> Result<(), MetadataError> {
        let max = self.config.max_size;
        if size == 0 || size > u64::from(max) {
            return Err(MetadataError::BadSize { size, max });
        }
        let size = size as u32;
        let pm = self.peers.entry(peer).or_insert_with(|| PeerMeta {
            size,
            in_flight: 0,
            rejected: BTreeSet::new(),
            banned: false,
            tried_alone: false,
        });
        // A repeated announcement may change the size, never the peer's record (a ban stays).
        if pm.size != size {
            pm.size = size;
            pm.rejected.clear();
        }
        Ok(())
    }

    /// The next request to send: `(peer, piece)`. Spreads requests over peers in turn.
    pub fn poll_request(&mut self, now: Instant) -> Option<(PeerKey, u32)> {
        if self.complete {
            return None;
        }
        self.ensure_attempt();
        let attempt = self.attempt.as_mut()?;
        let start = self.cursor;
        // Peers after the cursor first, then the rest: round robin.
        let order: Vec<PeerKey> = match start {
            Some(c) => self
                .peers
                .range(c..)
                .skip(1)
                .chain(self.peers.range(..=c))
                .map(|(k, _)| *k)
                .collect(),
            None => self.peers.keys().copied().collect(),
        };
        for key in order {
            let Some(pm) = self.peers.get_mut(&key) else {
                continue;
            };
            if pm.banned || pm.size != attempt.size || pm.in_flight >= self.config.requests_per_peer
            {
                continue;
            }
            if attempt.only.is_some_and(|o| o != key) {
                continue;
            }
            let piece = (0..attempt.piece_count()).find(|&i| {
                attempt.received[i as usize].is_none()
                    && attempt.requested[i as usize].is_none()
                    && !pm.rejected.contains(&i)
            });
            if let Some(i) = piece {
                attempt.requested[i as usize] = Some((key, now));
                pm.in_flight += 1;
                self.cursor = Some(key);
                return Some((key, i));
            }
        }
        None
    }

    /// A `data` message from `peer` for `piece`, with the message's `total_size`.
    pub fn handle_data(
        &mut self,
        peer: PeerKey,
        piece: u32,
        total_size: u64,
        data: &[u8],
    ) -> Result<(), MetadataError> {
        if self.complete {
            return Ok(());
        }
        let Some(announced) = self.peers.get(&peer).map(|pm| pm.size) else {
            return Ok(()); // a peer that announced no size was never asked
        };
        // BEP 9: `total_size` must be the `metadata_size` the peer announced.
        if total_size != u64::from(announced) {
            return Err(MetadataError::SizeMismatch {
                got: total_size,
                expected: announced,
            });
        }
        self.ensure_attempt();
        let Some(attempt) = self.attempt.as_mut() else {
            return Ok(());
        };
        if attempt.size != announced {
            return Ok(()); // a late answer for an earlier attempt of another size
        }
        let count = attempt.piece_count();
        if piece >= count {
            return Err(MetadataError::PieceOutOfRange { piece, count });
        }
        let expected = attempt.piece_len(piece);
        if data.len() != expected as usize {
            return Err(MetadataError::BadPieceLength {
                piece,
                len: data.len(),
                expected,
            });
        }
        // Only data we asked this peer for counts; anything else is ignored.
        if !matches!(attempt.requested[piece as usize], Some((p, _)) if p == peer) {
            return Ok(());
        }
        attempt.requested[piece as usize] = None;
        if let Some(pm) = self.peers.get_mut(&peer) {
            pm.in_flight = pm.in_flight.saturating_sub(1);
        }
        let start = (piece * METADATA_PIECE_SIZE) as usize;
        attempt.buf[start..start + data.len()].copy_from_slice(data);
        attempt.received[piece as usize] = Some(peer);
        if attempt.received.iter().all(Option::is_some) {
            self.finish_attempt();
        }
        Ok(())
    }

    /// `peer` rejected our request for `piece`: ask someone else (and never this peer again
    /// for this piece).
    pub fn handle_reject(&mut self, peer: PeerKey, piece: u32) {
        // Only a reject of a request we sent this peer counts (a flood of made-up rejects must not
        // grow memory).
        if !self.clear_request(peer, piece) {
            return;
        }
        if let Some(pm) = self.peers.get_mut(&peer) {
            pm.rejected.insert(piece);
        }
        let single = self.attempt.as_ref().and_then(|a| a.only) == Some(peer);
        if single {
            // It cannot give us everything alone: try the next peer.
            self.attempt = None;
        }
    }

    /// `peer` disconnected: its requests go to others.
    pub fn handle_peer_gone(&mut self, peer: PeerKey) {
        if let Some(a) = self.attempt.as_mut() {
            for r in &mut a.requested {
                if matches!(r, Some((p, _)) if *p == peer) {
                    *r = None;
                }
            }
            if a.only == Some(peer) {
                self.attempt = None;
            }
        }
        self.peers.remove(&peer);
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let a = self.attempt.as_ref()?;
        a.requested
            .iter()
            .flatten()
            .map(|&(_, at)| at + self.config.request_timeout)
            .min()
    }

    /// Requests older than the timeout are given up and count as a reject: the piece goes to
    /// another peer, and a silent peer is not asked for it again.
    pub fn handle_timeout(&mut self, now: Instant) {
        let timeout = self.config.request_timeout;
        let expired: Vec<(PeerKey, u32)> = match self.attempt.as_ref() {
            Some(a) => a
                .requested
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match r {
                    Some((p, at)) if now >= *at + timeout => Some((*p, i as u32)),
                    _ => None,
                })
                .collect(),
            None => return,
        };
        for (peer, piece) in expired {
            self.handle_reject(peer, piece);
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MetadataEvent> {
        self.events.pop_front()
    }

    /// Forgets our request of `piece` to `peer`; returns whether there was one.
    fn clear_request(&mut self, peer: PeerKey, piece: u32) -> bool {
        let Some(a) = self.attempt.as_mut() else {
            return false;
        };
        let Some(r) = a.requested.get_mut(piece as usize) else {
            return false;
        };
        if !matches!(r, Some((p, _)) if *p == peer) {
            return false;
        }
        *r = None;
        if let Some(pm) = self.peers.get_mut(&peer) {
            pm.in_flight = pm.in_flight.saturating_sub(1);
        }
        true
    }

    /// Starts an attempt if none is running: the first spreads requests over every peer that
    /// announced the most common size; after a failure, each attempt asks one peer not yet tried
    /// alone (falling back to spreading again when every peer was tried).
    fn ensure_attempt(&mut self) {
        if self.attempt.is_some() {
            return;
        }
        if self.failures > 0 {
            let candidate = self
                .peers
                .iter()
                .find(|(_, pm)| !pm.banned && !pm.tried_alone && pm.rejected.is_empty())
                .map(|(k, pm)| (*k, pm.size));
            if let Some((peer, size)) = candidate {
                if let Some(pm) = self.peers.get_mut(&peer) {
                    pm.tried_alone = true;
                    pm.in_flight = 0;
                }
                self.attempt = Some(Attempt::new(size, Some(peer)));
                return;
            }
        }
        let mut votes: BTreeMap<u32, usize> = BTreeMap::new();
        for pm in self.peers.values().filter(|pm| !pm.banned) {
            *votes.entry(pm.size).or_default() += 1;
        }
        // Most votes wins; among equals the smallest size (BTreeMap order, `max_by_key` keeps the
        // last maximum, so iterate in reverse).
        if let Some((&size, _)) = votes.iter().rev().max_by_key(|(_, n)| **n) {
            self.attempt = Some(Attempt::new(size, None));
        }
    }

    fn finish_attempt(&mut self) {
        let Some(attempt) = self.attempt.take() else {
            return;
        };
        for pm in self.peers.values_mut() {
            pm.in_flight = 0;
        }
        if InfoHash::of_info_bytes(&attempt.buf) == self.info_hash {
            self.complete = true;
            self.ban_proven_liars(&attempt);
            self.events.push_back(MetadataEvent::Complete(attempt.buf));
            return;
        }
        self.failures += 1;
        let mut suspects: Vec<PeerKey> = attempt.received.iter().flatten().copied().collect();
        suspects.sort_unstable();
        suspects.dedup();
        for i in 0..attempt.piece_count() {
            if self.failed.len() >= MAX_FAILED_RECORDS {
                break;
            }
            if let Some(peer) = attempt.received[i as usize] {
                self.failed.push(FailedPiece {
                    size: attempt.size,
                    piece: i,
                    peer,
                    digest: InfoHash::of_info_bytes(attempt.piece_bytes(i)),
                });
            }
        }
        self.events.push_back(MetadataEvent::HashFailed {
            suspects: suspects.clone(),
        });
        if let [only] = suspects[..] {
            // All of it came from one peer: that peer lied.
            self.ban(only);
        }
    }

    fn ban_proven_liars(&mut self, good: &Attempt) {
        let mut liars = BTreeSet::new();
        for f in &self.failed {
            let lied = f.size != good.size
                || f.piece >= good.piece_count()
                || InfoHash::of_info_bytes(good.piece_bytes(f.piece)) != f.digest;
            if lied {
                liars.insert(f.peer);
            }
        }
        for peer in liars {
            let already = self.peers.get(&peer).is_some_and(|pm| pm.banned);
            if !already {
                self.ban(peer);
            }
        }
    }

    fn ban(&mut self, peer: PeerKey) {
        if let Some(pm) = self.peers.get_mut(&peer) {
            pm.banned = true;
            pm.tried_alone = true;
        }
        self.events.push_back(MetadataEvent::Ban(peer));
    }
}

impl Attempt {
    fn new(size: u32, only: Option<PeerKey>) -> Self {
        let count = size.div_ceil(METADATA_PIECE_SIZE) as usize;
        Self {
            size,
            buf: vec![0; size as usize],
            received: vec![None; count],
            requested: vec![None; count],
            only,
        }
    }

    fn piece_count(&self) -> u32 {
        self.received.len() as u32
    }

    fn piece_len(&self, piece: u32) -> u32 {
        (self.size - piece * METADATA_PIECE_SIZE).min(METADATA_PIECE_SIZE)
    }

    fn piece_bytes(&self, piece: u32) -> &[u8] {
        let start = (piece * METADATA_PIECE_SIZE) as usize;
        &self.buf[start..start + self.piece_len(piece) as usize]
    }
}
