//! Pieces nobody has started yet, grouped by (priority, availability) so that picking the best
//! new piece never scans pieces of a worse group.

use std::collections::BTreeMap;

use crate::priority::Priority;
use crate::rng::Rng;

/// Sort key of a bucket: higher priority first, then fewer (non-seed) peers having the piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    inv_priority: u8,
    avail: u32,
}

impl Key {
    pub(crate) fn new(priority: Priority, avail: u32) -> Self {
        Self {
            inv_priority: Priority::HIGH.get() - priority.get(),
            avail,
        }
    }
}

/// Wanted, unstarted pieces. Insert, remove and re-key are O(log buckets); the number of buckets
/// is at most 8 x (peers + 1), so in practice a handful.
#[derive(Debug)]
pub(crate) struct Buckets {
    map: BTreeMap<Key, Vec<u32>>,
    /// For each piece: its bucket and its position in the bucket's vector.
    slot: Vec<Option<(Key, u32)>>,
    len: usize,
}

impl Buckets {
    pub(crate) fn new(piece_count: u32) -> Self {
        Self {
            map: BTreeMap::new(),
            slot: vec![None; piece_count as usize],
            len: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn contains(&self, piece: u32) -> bool {
        self.slot[piece as usize].is_some()
    }

    pub(crate) fn insert(&mut self, piece: u32, key: Key) {
        if self.contains(piece) {
            self.remove(piece);
        }
        let bucket = self.map.entry(key).or_default();
        self.slot[piece as usize] = Some((key, bucket.len() as u32));
        bucket.push(piece);
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, piece: u32) -> bool {
        let Some((key, pos)) = self.slot[piece as usize].take() else {
            return false;
        };
        if let Some(bucket) = self.map.get_mut(&key) {
            bucket.swap_remove(pos as usize);
            if let Some(&moved) = bucket.get(pos as usize) {
                self.slot[moved as usize] = Some((key, pos));
            }
        }
        self.len -= 1;
        true
    }

    /// Moves `piece` to the bucket `key` if it is in some bucket.
    pub(crate) fn rekey(&mut self, piece: u32, key: Key) {
        match self.slot[piece as usize] {
            Some((old, _)) if old != key => self.insert(piece, key),
            _ => {}
        }
    }

    /// The first piece accepted by `wanted`, visiting buckets best first and each bucket from a
    /// random position (so equally rare pieces are chosen at random).
    pub(crate) fn find(&self, rng: &mut Rng, mut wanted: impl FnMut(u32) -> bool) -> Option<u32> {
        for bucket in self.map.values() {
            let n = bucket.len();
            if n == 0 {
                continue;
            }
            let start = rng.below(n as u64) as usize;
            let (tail, head) = bucket.split_at(start);
            if let Some(&p) = head.iter().chain(tail).find(|&&p| wanted(p)) {
                return Some(p);
            }
        }
        None
    }

    /// Whether any bucketed piece is available from at least one connected peer.
    pub(crate) fn any_available(&self, seeds: u32) -> bool {
        self.map
            .iter()
            .any(|(k, v)| !v.is_empty() && (k.avail > 0 || seeds > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_bucket_first_and_removal_keeps_slots() {
        let mut b = Buckets::new(10);
        let mut rng = Rng::new(1);
        for p in 0..10 {
            b.insert(p, Key::new(Priority::NORMAL, 5 + p % 3));
        }
        b.rekey(7, Key::new(Priority::NORMAL, 1));
        assert_eq!(b.find(&mut rng, |_| true), Some(7));
        b.remove(7);
        assert_eq!(b.len(), 9);
        // Remaining rarest: avail 5 = pieces 0, 3, 6, 9.
        let p = b.find(&mut rng, |_| true).unwrap();
        assert!([0, 3, 6, 9].contains(&p));
        b.insert(2, Key::new(Priority::HIGH, 9));
        assert_eq!(b.find(&mut rng, |_| true), Some(2), "priority beats rarity");
        for p in [0, 3, 6, 9, 2] {
            assert!(b.remove(p));
        }
        assert!(!b.remove(2));
        let rest: Vec<u32> = (0..10).filter(|&p| b.contains(p)).collect();
        assert_eq!(rest, vec![1, 4, 5, 8]);
        assert!(b.any_available(0));
    }
}
