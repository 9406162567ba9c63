//! The candidate queue of one torrent: every address any source offered, de-duplicated, with
//! exponential backoff for addresses that failed, and bounded in size.
//!
//! Sans-IO: the torrent task calls [`PeerQueue::add`] when a source offers an address,
//! [`PeerQueue::pop`] when it has a free connection slot, and reports what happened to each dial
//! ([`PeerQueue::connected`], [`PeerQueue::failed`], [`PeerQueue::disconnected`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::PeerSource;

/// Limits of a [`PeerQueue`].
#[derive(Clone, Debug)]
pub(crate) struct QueueConfig {
    /// Most addresses remembered (queued, connected, or backing off).
    pub(crate) max_known: usize,
    /// Wait after the first failure; doubled after each further one.
    pub(crate) backoff_base: Duration,
    /// Longest wait between two attempts.
    pub(crate) backoff_max: Duration,
    /// Failures in a row after which an address is dead: kept (so that sources offering it
    /// again are ignored) but never dialled again, and the first to be evicted.
    pub(crate) max_failures: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_known: 2000,
            backoff_base: Duration::from_secs(15),
            backoff_max: Duration::from_secs(30 * 60),
            max_failures: 6,
        }
    }
}

/// What [`PeerQueue::add`] did with an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// New: queued for dialing.
    Queued,
    /// Already known (queued, connected, backing off or dead): nothing changed.
    Duplicate,
    /// The queue is full of live addresses: dropped.
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In `ready`, waiting for a slot.
    Queued,
    /// Handed out by `pop`; waiting for the dial's outcome.
    Dialing,
    Connected,
    /// In `retry` until the instant; then queued again.
    Waiting(Instant),
    Dead,
}

#[derive(Debug)]
struct Entry {
    source: PeerSource,
    state: State,
    failures: u32,
}

/// Candidate peers of one torrent.
#[derive(Debug)]
pub(crate) struct PeerQueue {
    config: QueueConfig,
    entries: HashMap<SocketAddr, Entry>,
    ready: VecDeque<SocketAddr>,
    retry: BinaryHeap<Reverse<(Instant, SocketAddr)>>,
}

impl PeerQueue {
    pub(crate) fn new(config: QueueConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
            ready: VecDeque::new(),
            retry: BinaryHeap::new(),
        }
    }

    /// Offers `addr`, found by `source`.
    pub(crate) fn add(&mut self, addr: SocketAddr, source: PeerSource) -> Added {
        if addr.port() == 0 || addr.ip().is_unspecified() || addr.ip().is_multicast() {
            return Added::Duplicate;
        }
        if self.entries.contains_key(&addr) {
            return Added::Duplicate;
        }
        if self.entries.len() >= self.config.max_known.max(1) && !self.evict_one() {
            return Added::Full;
        }
        self.entries.insert(
            addr,
            Entry {
                source,
                state: State::Queued,
                failures: 0,
            },
        );
        self.ready.push_back(addr);
        Added::Queued
    }

    /// The next address to dial, if one is due; it counts as dialing until reported on.
    pub(crate) fn pop(&mut self, now: Instant) -> Option<(SocketAddr, PeerSource)> {
        while let Some(Reverse((at, addr))) = self.retry.peek().copied() {
            if at > now {
                break;
            }
            self.retry.pop();
            if let Some(e) = self.entries.get_mut(&addr) {
                if e.state == State::Waiting(at) {
                    e.state = State::Queued;
                    self.ready.push_back(addr);
                }
            }
        }
        while let Some(addr) = self.ready.pop_front() {
            if let Some(e) = self.entries.get_mut(&addr) {
                if e.state == State::Queued {
                    e.state = State::Dialing;
                    return Some((addr, e.source));
                }
            }
        }
        None
    }

    /// The dial (or an incoming connection) from `addr` succeeded.
    pub(crate) fn connected(&mut self, addr: SocketAddr) {
        if let Some(e) = self.entries.get_mut(&addr) {
            e.state = State::Connected;
            e.failures = 0;
        }
    }

    /// The dial to `addr` failed: back off, or give up after too many failures.
    pub(crate) fn failed(&mut self, addr: SocketAddr, now: Instant) {
        let Some(e) = self.entries.get_mut(&addr) else {
            return;
        };
        e.failures += 1;
        if e.failures >= self.config.max_failures {
            e.state = State::Dead;
            return;
        }
        let wait = backoff(&self.config, e.failures);
        let at = now + wait;
        e.state = State::Waiting(at);
        self.retry.push(Reverse((at, addr)));
    }

    /// A connection to `addr` ended (or a dial was not made): it may be tried again after the
    /// base backoff.
    pub(crate) fn disconnected(&mut self, addr: SocketAddr, now: Instant) {
        let Some(e) = self.entries.get_mut(&addr) else {
            return;
        };
        if matches!(e.state, State::Connected | State::Dialing) {
            let at = now + self.config.backoff_base;
            e.state = State::Waiting(at);
            self.retry.push(Reverse((at, addr)));
        }
    }

    /// Forgets `addr` for good (banned, or ourselves): it is never dialled again.
    pub(crate) fn kill(&mut self, addr: SocketAddr) {
        if let Some(e) = self.entries.get_mut(&addr) {
            e.state = State::Dead;
        }
    }

    /// Addresses considered connected or being dialled.
    pub(crate) fn in_use(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.entries
            .iter()
            .filter(|(_, e)| matches!(e.state, State::Connected | State::Dialing))
            .map(|(a, _)| *a)
    }

    /// Addresses remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Makes room: drops a dead address, else the one backing off with the most failures.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .entries
            .iter()
            .filter_map(|(a, e)| match e.state {
                State::Dead => Some((u32::MAX, *a)),
                State::Waiting(_) => Some((e.failures, *a)),
                _ => None,
            })
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, a)| a);
        match victim {
            Some(a) => {
                self.entries.remove(&a);
                true
            }
            None => false,
        }
    }
}

/// `base * 2^(failures-1)`, at most `max`.
fn backoff(config: &QueueConfig, failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(20);
    config
        .backoff_base
        .saturating_mul(1 << shift)
        .min(config.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn queue(max_known: usize) -> PeerQueue {
        PeerQueue::new(QueueConfig {
            max_known,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            max_failures: 4,
        })
    }

    #[test]
    fn duplicates_from_any_source_are_queued_once() {
        let mut q = queue(10);
        assert_eq!(q.add(addr(1), PeerSource::Dht), Added::Queued);
        assert_eq!(q.add(addr(1), PeerSource::Lsd), Added::Duplicate);
        assert_eq!(q.add(addr(1), PeerSource::Pex), Added::Duplicate);
        assert_eq!(q.add(addr(2), PeerSource::Pex), Added::Queued);
        let now = Instant::now();
        assert_eq!(q.pop(now), Some((addr(1), PeerSource::Dht)));
        assert_eq!(q.pop(now), Some((addr(2), PeerSource::Pex)));
        assert_eq!(q.pop(now), None);
        // Offered again while being dialled: still one entry, not handed out twice.
        assert_eq!(q.add(addr(1), PeerSource::Dht), Added::Duplicate);
        assert_eq!(q.pop(now), None);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn useless_addresses_are_refused() {
        let mut q = queue(10);
        assert_eq!(q.add(addr(0), PeerSource::Dht), Added::Duplicate);
        let any = SocketAddr::from(([0, 0, 0, 0], 5));
        assert_eq!(q.add(any, PeerSource::Dht), Added::Duplicate);
        let group = SocketAddr::from(([239, 192, 152, 143], 6771));
        assert_eq!(q.add(group, PeerSource::Lsd), Added::Duplicate);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn failures_back_off_exponentially_then_die() {
        let mut q = queue(10);
        let mut now = Instant::now();
        q.add(addr(1), PeerSource::Dht);
        assert_eq!(q.pop(now).map(|p| p.0), Some(addr(1)));
        q.failed(addr(1), now);
        for wait in [10, 20, 40].map(Duration::from_secs) {
            assert_eq!(q.pop(now + wait - Duration::from_secs(1)), None, "early");
            // Offers while backing off change nothing.
            assert_eq!(q.add(addr(1), PeerSource::Lsd), Added::Duplicate);
            now += wait;
            assert_eq!(q.pop(now).map(|p| p.0), Some(addr(1)), "due after {wait:?}");
            q.failed(addr(1), now);
        }
        // That was the fourth failure: dead, never handed out again, offers ignored.
        assert_eq!(q.pop(now + Duration::from_secs(3600)), None);
        assert_eq!(q.add(addr(1), PeerSource::Dht), Added::Duplicate);
        assert_eq!(q.pop(now + Duration::from_secs(7200)), None);
    }

    #[test]
    fn backoff_is_capped() {
        let c = QueueConfig {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            ..QueueConfig::default()
        };
        assert_eq!(backoff(&c, 1), Duration::from_secs(10));
        assert_eq!(backoff(&c, 3), Duration::from_secs(40));
        assert_eq!(backoff(&c, 4), Duration::from_secs(60));
        assert_eq!(backoff(&c, 1000), Duration::from_secs(60));
    }

    #[test]
    fn queue_is_bounded_and_evicts_dead_before_live() {
        let mut q = queue(3);
        let now = Instant::now();
        for p in 1..=3 {
            assert_eq!(q.add(addr(p), PeerSource::Dht), Added::Queued);
        }
        // Full of live addresses: a flood of new ones is dropped.
        for p in 100..1100 {
            assert_eq!(q.add(addr(p), PeerSource::Pex), Added::Full);
        }
        assert_eq!(q.len(), 3);
        // One dies; a new address replaces it.
        let (a, _) = q.pop(now).expect("queued");
        q.kill(a);
        assert_eq!(q.add(addr(9), PeerSource::Lsd), Added::Queued);
        assert_eq!(q.len(), 3);
        // The dead one was evicted (offered again, it is new).
        q.pop(now);
        q.pop(now);
        q.pop(now);
        let popped: Vec<SocketAddr> = std::iter::from_fn(|| q.pop(now).map(|p| p.0)).collect();
        assert!(popped.is_empty());
        assert_eq!(q.in_use().count(), 3);
    }

    #[test]
    fn disconnected_peers_come_back_after_the_base_backoff() {
        let mut q = queue(10);
        let now = Instant::now();
        q.add(addr(1), PeerSource::Dht);
        q.pop(now);
        q.connected(addr(1));
        assert_eq!(q.in_use().collect::<Vec<_>>(), vec![addr(1)]);
        assert_eq!(q.add(addr(1), PeerSource::Pex), Added::Duplicate);
        q.disconnected(addr(1), now);
        assert_eq!(q.pop(now + Duration::from_secs(9)), None);
        assert_eq!(
            q.pop(now + Duration::from_secs(10)),
            Some((addr(1), PeerSource::Dht))
        );
    }
}
