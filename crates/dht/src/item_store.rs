//! BEP 44 items stored for others, bounded and expiring.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::ErrorCode;
use crate::id::Id;
use crate::item::{ImmutableItem, MutableItem};

/// An item held by the store (or found by a lookup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An immutable item.
    Immutable(ImmutableItem),
    /// A mutable item (signature already verified).
    Mutable(MutableItem),
}

impl Item {
    /// Where the item is stored.
    pub fn target(&self) -> Id {
        match self {
            Item::Immutable(item) => item.target(),
            Item::Mutable(item) => item.target(),
        }
    }
}

pub(crate) struct ItemStore {
    items: HashMap<Id, (Item, Instant)>,
    max_items: usize,
    ttl: Duration,
}

impl ItemStore {
    pub(crate) fn new(max_items: usize, ttl: Duration) -> Self {
        ItemStore {
            items: HashMap::new(),
            max_items,
            ttl,
        }
    }

    pub(crate) fn get(&self, target: &Id, now: Instant) -> Option<&Item> {
        self.items
            .get(target)
            .filter(|(_, expires)| *expires > now)
            .map(|(item, _)| item)
    }

    /// Stores an item whose target and signature were verified.
    ///
    /// BEP 44: a put with `cas` that differs from the stored seq fails with 301; a seq lower than
    /// the stored one fails with 302. An equal seq is accepted only for the identical value (a
    /// re-publication), as a different value under the same seq would let anyone roll back.
    pub(crate) fn put(
        &mut self,
        item: Item,
        cas: Option<i64>,
        now: Instant,
    ) -> Result<(), ErrorCode> {
        let target = item.target();
        if let (Item::Mutable(new), Some((Item::Mutable(old), expires))) =
            (&item, self.items.get(&target))
            && *expires > now
        {
            if cas.is_some_and(|cas| cas != old.seq()) {
                return Err(ErrorCode::CasMismatch);
            }
            if new.seq() < old.seq() || (new.seq() == old.seq() && new.value() != old.value()) {
                return Err(ErrorCode::SequenceTooLow);
            }
        }
        if !self.items.contains_key(&target) && self.items.len() >= self.max_items {
            self.expire(now);
            if self.items.len() >= self.max_items {
                return Err(ErrorCode::Server);
            }
        }
        self.items.insert(target, (item, now + self.ttl));
        Ok(())
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        self.items.retain(|_, (_, expires)| *expires > now);
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;
    use ed25519_dalek::SigningKey;

    #[test]
    fn seq_and_cas_rules() {
        let now = Instant::now();
        let mut store = ItemStore::new(2, Duration::from_secs(7200));
        let key = SigningKey::from_bytes(&[5; 32]);
        let item = |seq, v: &[u8]| {
            Item::Mutable(
                MutableItem::sign(&key, b"", seq, Value::from_byte_string(v).unwrap()).unwrap(),
            )
        };
        store.put(item(2, b"a"), None, now).unwrap();
        assert_eq!(
            store.put(item(1, b"b"), None, now),
            Err(ErrorCode::SequenceTooLow)
        );
        assert_eq!(
            store.put(item(2, b"b"), None, now),
            Err(ErrorCode::SequenceTooLow)
        );
        store.put(item(2, b"a"), None, now).unwrap();
        assert_eq!(
            store.put(item(3, b"c"), Some(1), now),
            Err(ErrorCode::CasMismatch)
        );
        store.put(item(3, b"c"), Some(2), now).unwrap();
        let Some(Item::Mutable(stored)) = store.get(&item(3, b"c").target(), now) else {
            panic!("item missing")
        };
        assert_eq!(stored.seq(), 3);
        let imm =
            |v: &[u8]| Item::Immutable(ImmutableItem::new(Value::from_byte_string(v).unwrap()));
        store.put(imm(b"x"), None, now).unwrap();
        assert_eq!(
            store.put(imm(b"y"), None, now),
            Err(ErrorCode::Server),
            "bounded"
        );
        let later = now + Duration::from_secs(7201);
        assert!(store.get(&imm(b"x").target(), later).is_none());
        store.put(imm(b"y"), None, later).unwrap();
        assert_eq!(store.len(), 1);
    }
}
