//! Whom to unchoke: tit-for-tat with one optimistic unchoke (BEP 3 "Choking and optimistic
//! unchoking").
//!
//! Every round (10 s) the `regular_slots` interested peers that serve us best are unchoked: while
//! leeching, by their download rate to us; while seeding, by our upload rate to them, so the
//! fastest downloaders get the data and the set rotates as rates change. One more interested peer
//! is unchoked optimistically and rotated every 30 s, newly connected peers three times as likely
//! as others, so new peers get a chance to prove themselves. As BEP 3 says, peers that are not
//! interested but serve better than the worst regular peer are unchoked too, so that they can
//! start downloading as soon as they become interested.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::peer::PeerKey;
use crate::rng::Rng;

/// Tuning of the [`Choker`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChokerConfig {
    /// Peers unchoked for their rate (not counting the optimistic one).
    pub regular_slots: usize,
    /// Time between rounds.
    pub round_interval: Duration,
    /// Time between optimistic rotations.
    pub optimistic_interval: Duration,
    /// Peers connected for less than this count as new.
    pub new_peer_age: Duration,
    /// How much more likely a new peer is to be the optimistic unchoke.
    pub new_peer_weight: u32,
}

impl Default for ChokerConfig {
    fn default() -> Self {
        Self {
            regular_slots: 3,
            round_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            new_peer_age: Duration::from_secs(60),
            new_peer_weight: 3,
        }
    }
}

/// What the choker needs to know about one connected peer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChokeCandidate {
    /// The connection.
    pub peer: PeerKey,
    /// Whether the peer is interested in our pieces.
    pub interested: bool,
    /// Bytes per second the peer sends us.
    pub download_rate: f64,
    /// Bytes per second we send the peer.
    pub upload_rate: f64,
    /// When the connection was established.
    pub connected_at: Instant,
}

/// Whether we still download (rank by what peers give us) or only seed (rank by what they take).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChokeMode {
    /// Downloading: reciprocate.
    Leeching,
    /// Complete: serve the fastest downloaders.
    Seeding,
}

/// A change to send to a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChokeAction {
    /// Send `choke`.
    Choke(PeerKey),
    /// Send `unchoke`.
    Unchoke(PeerKey),
}

/// The unchoke set of one torrent.
///
/// Call [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout) is
/// reached (or at once, before the first round) with the current peer stats, then send the
/// actions from [`poll_action`](Self::poll_action).
#[derive(Debug)]
pub struct Choker {
    config: ChokerConfig,
    unchoked: BTreeSet<PeerKey>,
    optimistic: Option<PeerKey>,
    next_round: Option<Instant>,
    next_optimistic: Option<Instant>,
    actions: VecDeque<ChokeAction>,
}

impl Choker {
    /// A choker with every peer choked and the first round due at once.
    pub fn new(config: ChokerConfig) -> Self {
        Self {
            config,
            unchoked: BTreeSet::new(),
            optimistic: None,
            next_round: None,
            next_optimistic: None,
            actions: VecDeque::new(),
        }
    }

    /// When the next round is due (`None`: right away).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_round
    }

    /// Runs a round if one is due at `now`.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        peers: &[ChokeCandidate],
        mode: ChokeMode,
        rng: &mut Rng,
    ) {
        if self.next_round.is_none_or(|at| now >= at) {
            self.round(now, peers, mode, rng);
        }
    }

    /// Runs a round now (also when a peer joins or leaves). The optimistic unchoke is only rotated
    /// when its interval has passed or its peer is gone or no longer interested.
    pub fn round(
        &mut self,
        now: Instant,
        peers: &[ChokeCandidate],
        mode: ChokeMode,
        rng: &mut Rng,
    ) {
        self.next_round = Some(now + self.config.round_interval);
        let rate = |c: &ChokeCandidate| match mode {
            ChokeMode::Leeching => c.download_rate,
            ChokeMode::Seeding => c.upload_rate,
        };
        let mut ranked: Vec<&ChokeCandidate> = peers.iter().filter(|c| c.interested).collect();
        ranked.sort_by(|a, b| rate(b).total_cmp(&rate(a)).then(a.peer.cmp(&b.peer)));
        let regular: Vec<PeerKey> = ranked
            .iter()
            .take(self.config.regular_slots)
            .map(|c| c.peer)
            .collect();
        let mut desired: BTreeSet<PeerKey> = regular.iter().copied().collect();

        // Not interested but better than the worst regular peer: keep them unchoked (BEP 3).
        if self.config.regular_slots > 0 && regular.len() == self.config.regular_slots {
            if let Some(worst) = ranked.get(regular.len().saturating_sub(1)).map(|c| rate(c)) {
                desired.extend(
                    peers
                        .iter()
                        .filter(|c| !c.interested && rate(c) > worst)
                        .map(|c| c.peer),
                );
            }
        }

        let current_ok = self.optimistic.is_some_and(|o| {
            !desired.contains(&o) && peers.iter().any(|c| c.peer == o && c.interested)
        });
        let due = self.next_optimistic.is_none_or(|at| now >= at);
        if due || !current_ok {
            let previous = self.optimistic;
            self.optimistic = self.pick_optimistic(now, peers, &desired, previous, rng);
            self.next_optimistic = Some(now + self.config.optimistic_interval);
        }
        if let Some(o) = self.optimistic {
            desired.insert(o);
        }

        for &p in self.unchoked.difference(&desired) {
            self.actions.push_back(ChokeAction::Choke(p));
        }
        for &p in desired.difference(&self.unchoked) {
            self.actions.push_back(ChokeAction::Unchoke(p));
        }
        self.unchoked = desired;
    }

    /// The peer disconnected: forget it (no action is emitted for it).
    pub fn handle_peer_gone(&mut self, peer: PeerKey) {
        self.unchoked.remove(&peer);
        if self.optimistic == Some(peer) {
            self.optimistic = None;
        }
    }

    /// The next choke or unchoke to send.
    pub fn poll_action(&mut self) -> Option<ChokeAction> {
        self.actions.pop_front()
    }

    /// Whether `peer` is unchoked.
    pub fn is_unchoked(&self, peer: PeerKey) -> bool {
        self.unchoked.contains(&peer)
    }

    /// Every unchoked peer, in key order.
    pub fn unchoked(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.unchoked.iter().copied()
    }

    /// The current optimistic unchoke.
    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic
    }

    fn pick_optimistic(
        &self,
        now: Instant,
        peers: &[ChokeCandidate],
        regular: &BTreeSet<PeerKey>,
        previous: Option<PeerKey>,
        rng: &mut Rng,
    ) -> Option<PeerKey> {
        let pool: Vec<&ChokeCandidate> = peers
            .iter()
            .filter(|c| c.interested && !regular.contains(&c.peer))
            .collect();
        // Rotate: the previous optimistic peer only keeps the slot if nobody else can have it.
        let others: Vec<&ChokeCandidate> = pool
            .iter()
            .copied()
            .filter(|c| Some(c.peer) != previous)
            .collect();
        let pool = if others.is_empty() { pool } else { others };
        let weight = |c: &ChokeCandidate| {
            if now.saturating_duration_since(c.connected_at) < self.config.new_peer_age {
                u64::from(self.config.new_peer_weight.max(1))
            } else {
                1
            }
        };
        let total: u64 = pool.iter().map(|c| weight(c)).sum();
        let mut ticket = rng.below(total);
        for c in pool {
            let w = weight(c);
            if ticket < w {
                return Some(c.peer);
            }
            ticket -= w;
        }
        None
    }
}
