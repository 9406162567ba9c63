//! The routing table: k-buckets of the nodes we know, by XOR distance from our own id.
//!
//! Bucket `i` holds nodes whose id shares exactly `i` leading bits with ours. This is the fully
//! split form of BEP 5's splitting table (only the bucket holding our own id is ever split, so
//! bucket `i` of the tree is the same set); it needs no split bookkeeping.
//!
//! Liveness (BEP 5): a node is *good* if it answered one of our queries within the last 15 minutes
//! (or answered once and queried us since); it is *bad* after repeated failed queries; otherwise
//! *questionable*. A full bucket replaces bad nodes first; newcomers wait in a replacement cache
//! and take the place of nodes that go bad.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::compact::NodeInfo;
use crate::id::Id;

/// Bucket size (BEP 5: K = 8).
pub const K: usize = 8;
/// A node not heard from for this long becomes questionable.
pub(crate) const GOOD_FOR: Duration = Duration::from_secs(15 * 60);
/// Failed queries after which a node is bad.
const MAX_FAILURES: u8 = 2;
const BUCKETS: usize = 160;

/// A node's liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Answered recently.
    Good,
    /// Not heard from lately, or never answered a query of ours.
    Questionable,
    /// Failed to answer several queries in a row.
    Bad,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) info: NodeInfo,
    last_seen: Instant,
    last_response: Option<Instant>,
    failures: u8,
}

impl Entry {
    fn liveness(&self, now: Instant) -> Liveness {
        if self.failures >= MAX_FAILURES {
            Liveness::Bad
        } else if self
            .last_response
            .is_some_and(|at| now.saturating_duration_since(self.last_seen.max(at)) < GOOD_FOR)
        {
            Liveness::Good
        } else {
            Liveness::Questionable
        }
    }
}

#[derive(Debug)]
struct Bucket {
    nodes: Vec<Entry>,
    replacements: VecDeque<Entry>,
    last_changed: Instant,
}

/// How we heard from a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contact {
    /// It answered a query of ours.
    Responded,
    /// It sent us a query.
    Queried,
}

pub(crate) struct RoutingTable {
    own: Id,
    buckets: Vec<Bucket>,
}

impl RoutingTable {
    pub(crate) fn new(own: Id, now: Instant) -> Self {
        let buckets = (0..BUCKETS)
            .map(|_| Bucket {
                nodes: Vec::new(),
                replacements: VecDeque::new(),
                last_changed: now,
            })
            .collect();
        RoutingTable { own, buckets }
    }

    fn bucket_index(&self, id: &Id) -> Option<usize> {
        let zeros = self.own.distance(id).leading_zeros() as usize;
        (zeros < BUCKETS).then_some(zeros)
    }

    /// Records contact with a node, adding it if there is room.
    pub(crate) fn heard_from(&mut self, info: NodeInfo, contact: Contact, now: Instant) {
        let Some(index) = self.bucket_index(&info.id) else {
            return;
        };
        let bucket = &mut self.buckets[index];
        if let Some(entry) = bucket.nodes.iter_mut().find(|e| e.info.id == info.id) {
            if entry.info.addr != info.addr && entry.liveness(now) != Liveness::Bad {
                // An id moving to another address is a spoofing sign; keep the known one.
                return;
            }
            entry.info.addr = info.addr;
            entry.last_seen = now;
            if contact == Contact::Responded {
                entry.last_response = Some(now);
                entry.failures = 0;
            }
            bucket.last_changed = now;
            return;
        }
        let entry = Entry {
            info,
            last_seen: now,
            last_response: (contact == Contact::Responded).then_some(now),
            failures: 0,
        };
        if bucket.nodes.len() < K {
            bucket.nodes.push(entry);
            bucket.last_changed = now;
            return;
        }
        if let Some(bad) = bucket
            .nodes
            .iter_mut()
            .find(|e| e.liveness(now) == Liveness::Bad)
        {
            *bad = entry;
            bucket.last_changed = now;
            return;
        }
        bucket.replacements.retain(|e| e.info.id != info.id);
        bucket.replacements.push_back(entry);
        if bucket.replacements.len() > K {
            bucket.replacements.pop_front();
        }
    }

    /// Records a query to `id` that went unanswered.
    pub(crate) fn failed(&mut self, id: &Id, now: Instant) {
        let Some(index) = self.bucket_index(id) else {
            return;
        };
        let bucket = &mut self.buckets[index];
        let Some(pos) = bucket.nodes.iter().position(|e| e.info.id == *id) else {
            bucket.replacements.retain(|e| e.info.id != *id);
            return;
        };
        bucket.nodes[pos].failures = bucket.nodes[pos].failures.saturating_add(1);
        if bucket.nodes[pos].liveness(now) == Liveness::Bad
            && let Some(replacement) = bucket.replacements.pop_back()
        {
            bucket.nodes[pos] = replacement;
            bucket.last_changed = now;
        }
    }

    /// The `count` known non-bad nodes closest to `target`, closest first.
    pub(crate) fn closest(&self, target: &Id, count: usize, now: Instant) -> Vec<NodeInfo> {
        let mut all: Vec<NodeInfo> = self
            .buckets
            .iter()
            .flat_map(|b| b.nodes.iter())
            .filter(|e| e.liveness(now) != Liveness::Bad)
            .map(|e| e.info)
            .collect();
        all.sort_by_cached_key(|n| n.id.distance(target));
        all.truncate(count);
        all
    }

    /// Number of nodes in buckets.
    pub(crate) fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// Every node in the table with its liveness.
    pub(crate) fn entries(&self, now: Instant) -> Vec<(NodeInfo, Liveness)> {
        self.buckets
            .iter()
            .flat_map(|b| b.nodes.iter())
            .map(|e| (e.info, e.liveness(now)))
            .collect()
    }

    /// Buckets (by index) that have not changed for `interval`, up to one past the deepest
    /// non-empty bucket (deeper buckets are empty by construction).
    pub(crate) fn stale_buckets(&self, now: Instant, interval: Duration) -> Vec<usize> {
        let deepest = self
            .buckets
            .iter()
            .rposition(|b| !b.nodes.is_empty())
            .map_or(0, |i| (i + 1).min(BUCKETS - 1));
        (0..=deepest)
            .filter(|&i| now.saturating_duration_since(self.buckets[i].last_changed) >= interval)
            .collect()
    }

    /// Marks a bucket as just refreshed.
    pub(crate) fn touch_bucket(&mut self, index: usize, now: Instant) {
        if let Some(bucket) = self.buckets.get_mut(index) {
            bucket.last_changed = now;
        }
    }

    /// Questionable nodes, least recently seen first (to be pinged).
    pub(crate) fn questionable(&self, now: Instant, max: usize) -> Vec<NodeInfo> {
        let mut list: Vec<&Entry> = self
            .buckets
            .iter()
            .flat_map(|b| b.nodes.iter())
            .filter(|e| e.liveness(now) == Liveness::Questionable)
            .collect();
        list.sort_by_key(|e| e.last_seen);
        list.into_iter().take(max).map(|e| e.info).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn node(id: Id, n: u16) -> NodeInfo {
        NodeInfo {
            id,
            addr: ([10, 0, (n >> 8) as u8, n as u8], 6881).into(),
        }
    }

    #[test]
    fn buckets_hold_k_and_keep_replacements() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let now = Instant::now();
        let own = Id::random(&mut rng);
        let mut table = RoutingTable::new(own, now);
        let ids: Vec<Id> = (0..12).map(|_| own.random_in_bucket(0, &mut rng)).collect();
        for (n, id) in ids.iter().enumerate() {
            table.heard_from(node(*id, n as u16), Contact::Responded, now);
        }
        assert_eq!(table.len(), K);
        // Two failures make ids[0] bad; the newest replacement takes its place.
        table.failed(&ids[0], now);
        assert_eq!(table.len(), K);
        assert!(table.entries(now).iter().any(|(n, _)| n.id == ids[0]));
        table.failed(&ids[0], now);
        let entries = table.entries(now);
        assert!(!entries.iter().any(|(n, _)| n.id == ids[0]));
        assert!(entries.iter().any(|(n, _)| n.id == ids[11]));
    }

    #[test]
    fn liveness_ages() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(10);
        let now = Instant::now();
        let own = Id::random(&mut rng);
        let mut table = RoutingTable::new(own, now);
        let a = own.random_in_bucket(3, &mut rng);
        let b = own.random_in_bucket(4, &mut rng);
        table.heard_from(node(a, 1), Contact::Responded, now);
        table.heard_from(node(b, 2), Contact::Queried, now);
        let status = |t: &RoutingTable, at| {
            let mut e = t.entries(at);
            e.sort_by_key(|(n, _)| n.addr);
            e.into_iter().map(|(_, l)| l).collect::<Vec<_>>()
        };
        assert_eq!(
            status(&table, now),
            [Liveness::Good, Liveness::Questionable]
        );
        let later = now + GOOD_FOR;
        assert_eq!(
            status(&table, later),
            [Liveness::Questionable, Liveness::Questionable]
        );
        assert_eq!(table.questionable(later, 1).len(), 1);
        assert_eq!(table.stale_buckets(later, GOOD_FOR), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn closest_sorted_by_distance() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let now = Instant::now();
        let own = Id::random(&mut rng);
        let mut table = RoutingTable::new(own, now);
        for n in 0..100u16 {
            table.heard_from(node(Id::random(&mut rng), n), Contact::Responded, now);
        }
        let target = Id::random(&mut rng);
        let closest = table.closest(&target, K, now);
        assert_eq!(closest.len(), K);
        assert!(
            closest
                .windows(2)
                .all(|w| w[0].id.distance(&target) <= w[1].id.distance(&target))
        );
        let all = table.closest(&target, 1000, now);
        assert_eq!(&all[..K], &closest[..]);
    }
}
