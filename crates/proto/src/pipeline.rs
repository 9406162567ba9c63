//! How many requests to keep outstanding with one peer, and when a peer is snubbing us.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use swarmfs_metainfo::BLOCK_SIZE;

use crate::peer::Block;
use crate::rate::RateMeter;

/// Tuning of a [`Pipeline`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// Fewest requests kept outstanding (unless the peer's `reqq` is lower).
    pub min_depth: u32,
    /// Most requests kept outstanding.
    pub max_depth: u32,
    /// Multiple of the bandwidth-delay product kept in flight, so the queue can grow while the
    /// rate is still limited by the queue itself.
    pub headroom: f64,
    /// No block for this long while requests are outstanding means the peer is snubbing us
    /// (the effective timeout is at least four round trips).
    pub request_timeout: Duration,
    /// Keep at least this much transfer time queued (rate x time), whatever the round trip: on
    /// a fast link with a tiny round trip the bandwidth-delay product underestimates how long
    /// the application on either side takes to turn requests around.
    pub min_queue_time: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            min_depth: 4,
            max_depth: 500,
            headroom: 2.0,
            request_timeout: Duration::from_secs(20),
            min_queue_time: Duration::from_millis(100),
        }
    }
}

/// The request queue of one peer connection.
///
/// Call order: after the peer unchokes us, ask [`wants`](Self::wants) how many blocks to pick,
/// report each request sent with [`handle_sent`](Self::handle_sent) and each block with
/// [`handle_block`](Self::handle_block); arm a timer for [`poll_timeout`](Self::poll_timeout) and
/// call [`handle_timeout`](Self::handle_timeout) when it fires: the blocks it returns must be
/// released in the picker so other peers can fetch them.
#[derive(Debug)]
pub struct Pipeline {
    config: PipelineConfig,
    peer_reqq: Option<u32>,
    outstanding: VecDeque<(Block, Instant)>,
    rate: RateMeter,
    min_rtt: Option<Duration>,
    last_progress: Option<Instant>,
    snubbed: bool,
}

impl Pipeline {
    /// A pipeline for a connection established at `now`.
    pub fn new(now: Instant, config: PipelineConfig) -> Self {
        Self {
            config,
            peer_reqq: None,
            outstanding: VecDeque::new(),
            rate: RateMeter::new(now),
            min_rtt: None,
            last_progress: None,
            snubbed: false,
        }
    }

    /// The peer's BEP 10 `reqq`: the most requests it will queue. Zero is ignored.
    pub fn set_peer_reqq(&mut self, reqq: u32) {
        self.peer_reqq = (reqq > 0).then_some(reqq);
    }

    /// How many requests to keep outstanding now: the bandwidth-delay product in blocks (times
    /// the headroom, and at least `min_queue_time` worth of the rate), clamped to
    /// `min_depth..=max_depth` and to the peer's `reqq`; one while the peer is snubbing us.
    pub fn depth(&mut self, now: Instant) -> u32 {
        let cap = self
            .config
            .max_depth
            .min(self.peer_reqq.unwrap_or(u32::MAX))
            .max(1);
        if self.snubbed {
            return 1;
        }
        let bdp = match self.min_rtt {
            Some(rtt) => {
                let time = (rtt.as_secs_f64() * self.config.headroom)
                    .max(self.config.min_queue_time.as_secs_f64());
                let blocks = self.rate.rate(now) * time / f64::from(BLOCK_SIZE);
                blocks.ceil().min(f64::from(u32::MAX)) as u32
            }
            None => 0,
        };
        bdp.max(self.config.min_depth).min(cap)
    }

    /// How many more blocks to request now.
    pub fn wants(&mut self, now: Instant) -> usize {
        (self.depth(now) as usize).saturating_sub(self.outstanding.len())
    }

    /// Requests outstanding.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Whether `block` is outstanding on this connection.
    pub fn is_outstanding(&self, block: Block) -> bool {
        self.outstanding.iter().any(|(b, _)| *b == block)
    }

    /// Whether the peer stopped sending while we had requests out (until its next block).
    pub fn is_snubbed(&self) -> bool {
        self.snubbed
    }

    /// Download rate from this peer, bytes per second.
    pub fn rate(&mut self, now: Instant) -> f64 {
        self.rate.rate(now)
    }

    /// The smallest request-to-block time seen (the round trip without queueing).
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// A request for `block` was sent at `now`.
    pub fn handle_sent(&mut self, now: Instant, block: Block) {
        if self.outstanding.is_empty() {
            self.last_progress = Some(now);
        }
        self.outstanding.push_back((block, now));
    }

    /// `block` arrived at `now`. Returns whether it was outstanding here.
    pub fn handle_block(&mut self, now: Instant, block: Block) -> bool {
        self.rate.add(now, u64::from(block.len));
        self.last_progress = Some(now);
        self.snubbed = false;
        let Some(pos) = self.outstanding.iter().position(|(b, _)| *b == block) else {
            return false;
        };
        // Blocks usually arrive in request order, so `pos` is almost always 0.
        if let Some((_, sent)) = self.outstanding.remove(pos) {
            let sample = now.saturating_duration_since(sent);
            self.min_rtt = Some(self.min_rtt.map_or(sample, |m| m.min(sample)));
        }
        true
    }

    /// Forgets `block` (we cancelled it, or the peer rejected it). Returns whether it was here.
    pub fn handle_cancelled(&mut self, block: Block) -> bool {
        let Some(pos) = self.outstanding.iter().position(|(b, _)| *b == block) else {
            return false;
        };
        self.outstanding.remove(pos);
        true
    }

    /// The peer choked us (without the fast extension): every request is void. Returns them.
    pub fn handle_choked(&mut self) -> Vec<Block> {
        self.outstanding.drain(..).map(|(b, _)| b).collect()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outstanding.is_empty() {
            return None;
        }
        Some(self.last_progress? + self.timeout())
    }

    /// If the peer sent nothing for the timeout while requests were outstanding, marks it
    /// snubbed and returns every outstanding request so the picker can give them to others.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Block> {
        match self.poll_timeout() {
            Some(at) if now >= at => {
                self.snubbed = true;
                self.outstanding.drain(..).map(|(b, _)| b).collect()
            }
            _ => Vec::new(),
        }
    }

    fn timeout(&self) -> Duration {
        let rtt4 = self.min_rtt.map_or(Duration::ZERO, |r| r * 4);
        self.config.request_timeout.max(rtt4)
    }
}
