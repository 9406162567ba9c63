//! Iterative lookups (BEP 5 / Kademlia): a shortlist ordered by XOR distance to the target, at most
//! `alpha` queries in flight, ending when the `K` closest live candidates have all answered.

use std::net::SocketAddr;

use crate::compact::NodeInfo;
use crate::error::ErrorCode;
use crate::id::Id;
use crate::item_store::Item;
use crate::routing::K;

/// Most candidates remembered by one lookup (beyond it the farthest one not in flight is dropped).
const MAX_CANDIDATES: usize = 128;
/// Most queries one lookup sends: hostile nodes could otherwise keep inventing ever-closer ids.
pub(crate) const MAX_QUERIES: usize = 256;

/// What a finished operation found or achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LookupOutcome {
    /// The closest nodes that answered, closest first (for a ping: the node, if it answered).
    pub closest: Vec<NodeInfo>,
    /// For `get`: the item found (the highest-seq verified mutable item).
    pub item: Option<Item>,
    /// Nodes that accepted our `announce_peer` or `put`.
    pub stored: usize,
    /// Error replies to our `announce_peer` or `put` (e.g. 301, 302).
    pub errors: Vec<StoreError>,
    /// Queries sent during the search phase.
    pub queried: usize,
    /// Our own store refused the item we put (301 or 302).
    pub local_error: Option<ErrorCode>,
}

/// A node refused a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// The node.
    pub node: SocketAddr,
    /// Its error code.
    pub code: ErrorCode,
    /// Its error text.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Fresh,
    InFlight,
    Responded,
    Failed,
}

#[derive(Debug, Clone)]
struct Candidate {
    /// Sort key: known ids by distance to the target, unknown ids (bootstrap addresses) last.
    key: (u8, Id),
    id: Option<Id>,
    addr: SocketAddr,
    state: State,
    token: Option<Vec<u8>>,
}

/// The search phase of a lookup.
#[derive(Debug)]
pub(crate) struct Search {
    own: Id,
    target: Id,
    candidates: Vec<Candidate>,
    pub(crate) queried: usize,
}

impl Search {
    pub(crate) fn new(own: Id, target: Id, seeds: &[NodeInfo], bootstrap: &[SocketAddr]) -> Self {
        let mut search = Search {
            own,
            target,
            candidates: Vec::new(),
            queried: 0,
        };
        for node in seeds {
            search.add(*node);
        }
        for addr in bootstrap {
            if !search.candidates.iter().any(|c| c.addr == *addr) {
                search.candidates.push(Candidate {
                    key: (1, Id::default()),
                    id: None,
                    addr: *addr,
                    state: State::Fresh,
                    token: None,
                });
            }
        }
        search.sort();
        search
    }

    pub(crate) fn target(&self) -> Id {
        self.target
    }

    fn sort(&mut self) {
        self.candidates.sort_by_key(|c| c.key);
    }

    /// Adds a node learnt from a response.
    pub(crate) fn add(&mut self, node: NodeInfo) {
        if node.id == self.own
            || node.addr.port() == 0
            || self
                .candidates
                .iter()
                .any(|c| c.addr == node.addr || c.id == Some(node.id))
        {
            return;
        }
        let key = (0, node.id.distance(&self.target));
        let at = self.candidates.partition_point(|c| c.key <= key);
        self.candidates.insert(
            at,
            Candidate {
                key,
                id: Some(node.id),
                addr: node.addr,
                state: State::Fresh,
                token: None,
            },
        );
        if self.candidates.len() > MAX_CANDIDATES
            && let Some(pos) = self
                .candidates
                .iter()
                .rposition(|c| c.state != State::InFlight)
        {
            self.candidates.remove(pos);
        }
    }

    /// Picks candidates to query so that at most `alpha` are in flight, marking them in flight.
    pub(crate) fn next(&mut self, alpha: usize) -> Vec<(Option<Id>, SocketAddr)> {
        let mut in_flight = self
            .candidates
            .iter()
            .filter(|c| c.state == State::InFlight)
            .count();
        let mut out = Vec::new();
        let mut window = 0;
        for candidate in self.candidates.iter_mut() {
            if in_flight >= alpha || window >= K || self.queried >= MAX_QUERIES {
                break;
            }
            if candidate.state == State::Failed {
                continue;
            }
            window += 1;
            if candidate.state == State::Fresh {
                candidate.state = State::InFlight;
                in_flight += 1;
                self.queried += 1;
                out.push((candidate.id, candidate.addr));
            }
        }
        out
    }

    /// Records an answer from `addr`. An answer carrying our own id came from ourselves (another
    /// node listed our address under some other id): it counts as a failure, so we never store
    /// items on, or take tokens from, ourselves.
    pub(crate) fn responded(&mut self, addr: SocketAddr, id: Id, token: Option<Vec<u8>>) {
        if id == self.own {
            self.failed(addr);
            return;
        }
        if let Some(candidate) = self.candidates.iter_mut().find(|c| c.addr == addr) {
            candidate.state = State::Responded;
            candidate.token = token;
            if candidate.id != Some(id) {
                candidate.id = Some(id);
                candidate.key = (0, id.distance(&self.target));
                self.sort();
            }
        }
    }

    /// Records a timeout or error reply from `addr`.
    pub(crate) fn failed(&mut self, addr: SocketAddr) {
        if let Some(candidate) = self.candidates.iter_mut().find(|c| c.addr == addr) {
            candidate.state = State::Failed;
        }
    }

    /// True when the `K` closest live candidates have all answered, or nothing is left to ask
    /// (including when the query budget is spent and nothing is in flight).
    pub(crate) fn is_done(&self) -> bool {
        if self.queried >= MAX_QUERIES {
            return !self.candidates.iter().any(|c| c.state == State::InFlight);
        }
        let mut window = self
            .candidates
            .iter()
            .filter(|c| c.state != State::Failed)
            .take(K)
            .peekable();
        if window.peek().is_none() {
            return true;
        }
        window.all(|c| c.state == State::Responded)
    }

    /// Up to `count` closest candidates that answered, with their tokens.
    pub(crate) fn closest_responded(&self, count: usize) -> Vec<(NodeInfo, Option<Vec<u8>>)> {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Responded)
            .filter_map(|c| {
                Some((
                    NodeInfo {
                        id: c.id?,
                        addr: c.addr,
                    },
                    c.token.clone(),
                ))
            })
            .take(count)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn info(id: Id, n: u16) -> NodeInfo {
        NodeInfo {
            id,
            addr: SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 6881)),
        }
    }

    #[test]
    fn alpha_bounded_and_terminates_on_k_closest() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let own = Id::random(&mut rng);
        let target = Id::random(&mut rng);
        let nodes: Vec<NodeInfo> = (0..20).map(|n| info(Id::random(&mut rng), n)).collect();
        let mut search = Search::new(own, target, &nodes, &[]);
        let first = search.next(3);
        assert_eq!(first.len(), 3);
        assert!(search.next(3).is_empty(), "alpha respected");
        let mut sorted = nodes.clone();
        sorted.sort_by_key(|n| n.id.distance(&target));
        assert_eq!(first[0].1, sorted[0].addr, "closest first");
        let mut rounds = 0;
        let mut batch = first;
        while !search.is_done() {
            for (id, addr) in batch {
                search.responded(addr, id.unwrap(), Some(vec![1]));
            }
            batch = search.next(3);
            rounds += 1;
            assert!(rounds < 20);
        }
        let closest = search.closest_responded(K);
        let expect: Vec<_> = sorted[..K].iter().map(|n| n.addr).collect();
        assert_eq!(
            closest.iter().map(|(n, _)| n.addr).collect::<Vec<_>>(),
            expect
        );
    }

    #[test]
    fn endless_closer_nodes_hit_the_query_budget() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let own = Id::random(&mut rng);
        let target = Id::random(&mut rng);
        let mut search = Search::new(own, target, &[info(Id::random(&mut rng), 0)], &[]);
        let mut n = 1u16;
        let mut rounds = 0;
        while !search.is_done() {
            for (_, addr) in search.next(3) {
                // Every answer names a brand-new node closer than anything seen so far.
                let mut closer = target;
                let distance = (u16::MAX - n).to_be_bytes();
                closer.0[18] ^= distance[0];
                closer.0[19] ^= distance[1];
                search.add(info(closer, n));
                n += 1;
                search.responded(addr, Id::random(&mut rng), None);
            }
            rounds += 1;
            assert!(rounds < 1000, "lookup never ended");
        }
        assert_eq!(search.queried, MAX_QUERIES);
    }

    #[test]
    fn an_answer_from_ourselves_under_a_foreign_id_is_not_used() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let own = Id::random(&mut rng);
        let target = Id::random(&mut rng);
        let disguised = info(Id::random(&mut rng), 1);
        let other = info(Id::random(&mut rng), 2);
        let mut search = Search::new(own, target, &[disguised, other], &[]);
        assert_eq!(search.next(3).len(), 2);
        search.responded(disguised.addr, own, Some(b"tok".to_vec()));
        search.responded(other.addr, other.id, Some(b"tok".to_vec()));
        assert!(search.is_done());
        let closest = search.closest_responded(8);
        assert_eq!(closest.len(), 1);
        assert_eq!(closest[0].0.addr, other.addr);
    }

    #[test]
    fn failures_open_the_window() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let own = Id::random(&mut rng);
        let target = Id::random(&mut rng);
        let nodes: Vec<NodeInfo> = (0..10).map(|n| info(Id::random(&mut rng), n)).collect();
        let mut search = Search::new(own, target, &nodes, &[]);
        loop {
            let batch = search.next(3);
            if batch.is_empty() {
                break;
            }
            for (_, addr) in batch {
                search.failed(addr);
            }
        }
        assert!(search.is_done());
        assert_eq!(search.queried, 10);
        assert!(search.closest_responded(K).is_empty());
    }
}
