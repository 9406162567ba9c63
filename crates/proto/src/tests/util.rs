//! A simulated swarm around one leecher: N peers with their own latency, rate and honesty, a fake
//! clock, and `step()` / `drive()` in the spirit of quinn-proto's `Pair`.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::time::{Duration, Instant};

use swarmfs_metainfo::{Bitfield, Geometry, PieceIndex};

use crate::{
    Block, BlockOutcome, PeerEvent, PeerKey, Picker, PickerAction, Pipeline, PipelineConfig,
};

pub(crate) const KIB: u64 = 1024;
pub(crate) const MIB: f64 = 1024.0 * 1024.0;

/// A remote peer as the leecher sees it.
pub(crate) struct SimPeer {
    pub(crate) key: PeerKey,
    pub(crate) latency: Duration,
    pub(crate) rate: f64,
    pub(crate) corrupt: bool,
    pub(crate) silent: bool,
    pub(crate) pipeline: Pipeline,
    busy_until: Instant,
    cancelled: BTreeSet<Block>,
    pub(crate) delivered: u64,
    pub(crate) gone: bool,
}

/// Something that happened, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Log {
    Request {
        peer: PeerKey,
        block: Block,
        endgame: bool,
    },
    Cancel {
        peer: PeerKey,
        block: Block,
    },
    Verified(PieceIndex),
    HashFailed {
        piece: PieceIndex,
        suspects: Vec<PeerKey>,
    },
    Snubbed(PeerKey),
    /// A request given up after the peer's timeout.
    TimedOut {
        peer: PeerKey,
        block: Block,
    },
}

pub(crate) struct Swarm {
    pub(crate) start: Instant,
    pub(crate) now: Instant,
    pub(crate) geometry: Geometry,
    pub(crate) picker: Picker,
    pub(crate) peers: Vec<SimPeer>,
    pub(crate) log: Vec<Log>,
    pub(crate) pipeline_config: PipelineConfig,
    queue: BinaryHeap<Reverse<(Instant, u64, usize, Block)>>,
    seq: u64,
    buf: Vec<Block>,
    bad_pieces: BTreeSet<PieceIndex>,
}

impl Swarm {
    pub(crate) fn new(piece_length: u64, total: u64, seed: u64) -> Self {
        let geometry = Geometry::new(piece_length, &[total]).unwrap();
        Self::with_geometry(geometry, seed)
    }

    pub(crate) fn with_geometry(geometry: Geometry, seed: u64) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            picker: Picker::new(&geometry, seed),
            geometry,
            peers: Vec::new(),
            log: Vec::new(),
            pipeline_config: PipelineConfig::default(),
            queue: BinaryHeap::new(),
            seq: 0,
            buf: Vec::new(),
            bad_pieces: BTreeSet::new(),
        }
    }

    /// Adds a peer with `pieces` (`None`: a seed) that answers after `latency` each way at `rate`
    /// bytes per second.
    pub(crate) fn add_peer(
        &mut self,
        pieces: Option<&[u32]>,
        latency: Duration,
        rate: f64,
    ) -> usize {
        let key = PeerKey(self.peers.len() as u64 + 1);
        let event = match pieces {
            None => PeerEvent::HaveAll,
            Some(list) => {
                let mut b = Bitfield::new(self.geometry.piece_count());
                for &p in list {
                    b.set(p, true);
                }
                PeerEvent::Bitfield(b)
            }
        };
        self.picker.handle_peer(key, event).unwrap();
        self.peers.push(SimPeer {
            key,
            latency,
            rate,
            corrupt: false,
            silent: false,
            pipeline: Pipeline::new(self.now, self.pipeline_config.clone()),
            busy_until: self.now,
            cancelled: BTreeSet::new(),
            delivered: 0,
            gone: false,
        });
        self.peers.len() - 1
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Asks every peer's pipeline how many requests it wants and sends what the picker gives.
    pub(crate) fn fill(&mut self) {
        for i in 0..self.peers.len() {
            if self.peers[i].gone {
                continue;
            }
            let want = self.peers[i].pipeline.wants(self.now);
            if want == 0 {
                continue;
            }
            self.buf.clear();
            let key = self.peers[i].key;
            self.picker.pick(key, want, &mut self.buf);
            // Duplicates are only allowed once the pick reached endgame.
            let endgame = self.picker.is_endgame();
            let blocks = std::mem::take(&mut self.buf);
            for &block in &blocks {
                self.send_request(i, block, endgame);
            }
            self.buf = blocks;
        }
    }

    fn send_request(&mut self, i: usize, block: Block, endgame: bool) {
        let now = self.now;
        let p = &mut self.peers[i];
        p.pipeline.handle_sent(now, block);
        self.log.push(Log::Request {
            peer: p.key,
            block,
            endgame,
        });
        if p.silent {
            return;
        }
        let arrive = now + p.latency;
        let begin = arrive.max(p.busy_until);
        let done = begin + Duration::from_secs_f64(f64::from(block.len) / p.rate);
        p.busy_until = done;
        let at = done + p.latency;
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, i, block)));
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.peers
            .iter()
            .filter_map(|p| p.pipeline.poll_timeout())
            .min()
    }

    /// Advances the clock to the next event (delivery or timeout) and handles it.
    /// Returns `false` when nothing is left to happen.
    pub(crate) fn step(&mut self) -> bool {
        let next_delivery = self.queue.peek().map(|Reverse((at, ..))| *at);
        let next_timeout = self.next_timeout();
        let at = match (next_delivery, next_timeout) {
            (None, None) => return false,
            (Some(d), None) => d,
            (None, Some(t)) => t,
            (Some(d), Some(t)) => d.min(t),
        };
        self.now = self.now.max(at);
        if next_timeout.is_some_and(|t| t <= at) {
            for i in 0..self.peers.len() {
                let expired = self.peers[i].pipeline.handle_timeout(self.now);
                if !expired.is_empty() {
                    self.log.push(Log::Snubbed(self.peers[i].key));
                }
                for block in expired {
                    let peer = self.peers[i].key;
                    self.picker.handle_request_failed(peer, block);
                    self.log.push(Log::TimedOut { peer, block });
                }
            }
        } else if let Some(Reverse((_, _, i, block))) = self.queue.pop() {
            self.deliver(i, block);
        }
        self.fill();
        true
    }

    /// The peer is banned or disconnects: its requests go back to the picker.
    pub(crate) fn remove_peer(&mut self, i: usize) {
        let key = self.peers[i].key;
        self.peers[i].gone = true;
        self.peers[i].silent = true;
        self.peers[i].pipeline.handle_choked();
        self.picker.handle_peer(key, PeerEvent::Gone).unwrap();
    }

    fn deliver(&mut self, i: usize, block: Block) {
        let key = self.peers[i].key;
        if self.peers[i].gone || self.peers[i].cancelled.remove(&block) {
            return; // the peer honoured our cancel
        }
        self.peers[i].delivered += 1;
        self.peers[i].pipeline.handle_block(self.now, block);
        let outcome = self.picker.handle_block(key, block).unwrap();
        while let Some(action) = self.picker.poll_action() {
            match action {
                PickerAction::Cancel { peer, block } => {
                    self.log.push(Log::Cancel { peer, block });
                    let j = (peer.0 - 1) as usize;
                    self.peers[j].pipeline.handle_cancelled(block);
                    self.peers[j].cancelled.insert(block);
                }
            }
        }
        if self.peers[i].corrupt && matches!(outcome, BlockOutcome::Accepted { .. }) {
            self.bad_pieces.insert(block.piece);
        }
        if outcome
            == (BlockOutcome::Accepted {
                piece_complete: true,
            })
        {
            self.verify(block.piece);
        }
    }

    /// The piece is bad if a corrupt peer sent any accepted block of it.
    fn verify(&mut self, piece: PieceIndex) {
        if self.bad_pieces.remove(&piece) {
            let suspects = self.picker.handle_hash_failed(piece);
            self.log.push(Log::HashFailed { piece, suspects });
        } else {
            assert!(self.picker.handle_hash_passed(piece));
            self.log.push(Log::Verified(piece));
        }
    }

    /// Runs until the picker is done, nothing is left to happen, or `max_steps` steps.
    pub(crate) fn drive(&mut self, max_steps: usize) -> usize {
        self.fill();
        let mut steps = 0;
        while steps < max_steps && !self.picker.is_done() && self.step() {
            steps += 1;
        }
        steps
    }

    /// Like [`drive`](Self::drive) but also stops once `limit` of simulated time has passed.
    pub(crate) fn drive_for(&mut self, limit: Duration, max_steps: usize) -> usize {
        self.fill();
        let mut steps = 0;
        while steps < max_steps && !self.picker.is_done() && self.elapsed() < limit && self.step() {
            steps += 1;
        }
        steps
    }

    pub(crate) fn requests(&self) -> impl Iterator<Item = (PeerKey, Block, bool)> + '_ {
        self.log.iter().filter_map(|l| match l {
            Log::Request {
                peer,
                block,
                endgame,
            } => Some((*peer, *block, *endgame)),
            _ => None,
        })
    }

    pub(crate) fn verified(&self) -> Vec<u32> {
        self.log
            .iter()
            .filter_map(|l| match l {
                Log::Verified(p) => Some(p.get()),
                _ => None,
            })
            .collect()
    }
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
