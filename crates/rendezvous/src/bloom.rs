//! The bloom filter of already-seen peer ids a query carries.
//!
//! # Wire format
//!
//! ```json
//! { "bits": "<base64 (RFC 4648, padded) of the bit array>", "k": 7, "seed": 12345 }
//! ```
//!
//! - `bits` is `m / 8` bytes; bit `i` is `bits[i / 8] >> (i % 8) & 1` (least significant first).
//!   `m` is the byte length times 8; at most [`MAX_BLOOM_BYTES`] bytes (so `m <= 65 536`).
//! - `k` hash functions, `1..=`[`MAX_BLOOM_K`], derived by double hashing:
//!   `h1 = fnv1a64(seed_le || id)`, `h2 = fnv1a64(id || seed_le) | 1`, and the `i`-th index is
//!   `(h1 + i * h2) mod m` (wrapping 64-bit arithmetic), where `id` is the UTF-8 peer id string and
//!   `seed_le` the 4 little-endian bytes of `seed`.
//!
//! # Sizing and rotation
//!
//! [`BloomFilter::for_ids`] sizes the filter for a 1 % false-positive rate:
//! `m = ceil(-n ln 0.01 / ln² 2)` bits (about 9.6 bits, 1.2 bytes per id, rounded up to whole
//! bytes, at least 64 bits) and `k = round(m / n * ln 2)` (7 at that rate). Past about 54 000 ids
//! the filter is capped at [`MAX_BLOOM_BYTES`] and its false-positive rate rises.
//!
//! A false positive hides an unseen peer from a query. The client rebuilds the filter from its
//! exact set of seen ids for every query with a fresh random `seed`, so whether a given unseen
//! id collides is independent from one round to the next: a peer hidden in one round is returned
//! in the next one with probability `1 - p` (hidden `r` rounds in a row with probability `p^r`),
//! never hidden forever as it would be with a filter that only grows.

use data_encoding::BASE64;
use serde::{Deserialize, Serialize};

/// The largest bit array a server accepts, in bytes (65 536 bits).
pub const MAX_BLOOM_BYTES: usize = 8 * 1024;
/// The most hash functions a server accepts.
pub const MAX_BLOOM_K: u32 = 16;

/// The target false-positive rate [`BloomFilter::for_ids`] sizes for.
pub const TARGET_FALSE_POSITIVE_RATE: f64 = 0.01;

/// A bloom filter over peer id strings (see the module doc for the format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BloomFilter {
    bits: Vec<u8>,
    k: u32,
    seed: u32,
}

/// Why a filter from the wire was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BloomError {
    /// `bits` is not valid padded base64.
    #[error("bloom bits are not base64")]
    Base64,
    /// The bit array is empty or larger than [`MAX_BLOOM_BYTES`].
    #[error("bloom filter of {len} bytes (allowed 1..={max})")]
    Size {
        /// The decoded length.
        len: usize,
        /// [`MAX_BLOOM_BYTES`].
        max: usize,
    },
    /// `k` is 0 or larger than [`MAX_BLOOM_K`].
    #[error("bloom k {k} (allowed 1..={max})")]
    K {
        /// The given k.
        k: u32,
        /// [`MAX_BLOOM_K`].
        max: u32,
    },
}

/// The JSON form of a [`BloomFilter`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BloomWire {
    /// Base64 of the bit array.
    pub bits: String,
    /// Number of hash functions.
    pub k: u32,
    /// Hash seed (rotated per query by the client).
    #[serde(default)]
    pub seed: u32,
}

impl BloomFilter {
    /// An empty filter of `bytes` bytes (clamped to `1..=MAX_BLOOM_BYTES`), `k` hashes (clamped
    /// to `1..=MAX_BLOOM_K`) and `seed`.
    pub fn new(bytes: usize, k: u32, seed: u32) -> Self {
        BloomFilter {
            bits: vec![0; bytes.clamp(1, MAX_BLOOM_BYTES)],
            k: k.clamp(1, MAX_BLOOM_K),
            seed,
        }
    }

    /// A filter holding `ids`, sized for [`TARGET_FALSE_POSITIVE_RATE`] (module doc).
    pub fn for_ids<'a>(ids: impl ExactSizeIterator<Item = &'a str>, seed: u32) -> Self {
        let n = ids.len().max(1) as f64;
        let ln2 = std::f64::consts::LN_2;
        let m_bits = (-n * TARGET_FALSE_POSITIVE_RATE.ln() / (ln2 * ln2))
            .ceil()
            .max(64.0);
        let bytes = (m_bits / 8.0).ceil() as usize;
        let m = (bytes.clamp(1, MAX_BLOOM_BYTES) * 8) as f64;
        let k = ((m / n) * ln2).round().max(1.0) as u32;
        let mut f = BloomFilter::new(bytes, k, seed);
        for id in ids {
            f.insert(id);
        }
        f
    }

    /// Adds `id`.
    pub fn insert(&mut self, id: &str) {
        for i in self.indexes(id) {
            self.bits[i / 8] |= 1 << (i % 8);
        }
    }

    /// Whether `id` may have been added (false positives possible, false negatives not).
    pub fn contains(&self, id: &str) -> bool {
        self.indexes(id)
            .all(|i| self.bits[i / 8] & (1 << (i % 8)) != 0)
    }

    /// The bit array's size in bits.
    pub fn bit_len(&self) -> usize {
        self.bits.len() * 8
    }

    /// The number of hash functions.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// The JSON form.
    pub fn to_wire(&self) -> BloomWire {
        BloomWire {
            bits: BASE64.encode(&self.bits),
            k: self.k,
            seed: self.seed,
        }
    }

    /// Parses the JSON form, refusing sizes outside the bounds. The base64 length is checked
    /// before decoding, so a huge string allocates nothing more.
    pub fn from_wire(w: &BloomWire) -> Result<Self, BloomError> {
        let max_b64 = MAX_BLOOM_BYTES.div_ceil(3) * 4;
        if w.bits.len() > max_b64 {
            return Err(BloomError::Size {
                len: w.bits.len() / 4 * 3,
                max: MAX_BLOOM_BYTES,
            });
        }
        let bits = BASE64
            .decode(w.bits.as_bytes())
            .map_err(|_| BloomError::Base64)?;
        if bits.is_empty() || bits.len() > MAX_BLOOM_BYTES {
            return Err(BloomError::Size {
                len: bits.len(),
                max: MAX_BLOOM_BYTES,
            });
        }
        if w.k == 0 || w.k > MAX_BLOOM_K {
            return Err(BloomError::K {
                k: w.k,
                max: MAX_BLOOM_K,
            });
        }
        Ok(BloomFilter {
            bits,
            k: w.k,
            seed: w.seed,
        })
    }

    fn indexes(&self, id: &str) -> impl Iterator<Item = usize> + use<> {
        let seed = self.seed.to_le_bytes();
        let h1 = fnv1a64(&[&seed, id.as_bytes()]);
        let h2 = fnv1a64(&[id.as_bytes(), &seed]) | 1;
        let m = self.bit_len() as u64;
        (0..u64::from(self.k)).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }
}

/// FNV-1a, 64 bit, over the concatenation of `parts`.
fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize, tag: &str) -> Vec<String> {
        (0..n).map(|i| format!("{tag}-{i:08x}")).collect()
    }

    #[test]
    fn inserted_ids_are_always_contained() {
        let seen = ids(500, "seen");
        let f = BloomFilter::for_ids(seen.iter().map(String::as_str), 7);
        assert!(seen.iter().all(|id| f.contains(id)));
    }

    #[test]
    fn false_positive_rate_is_near_the_target() {
        let seen = ids(1000, "seen");
        let f = BloomFilter::for_ids(seen.iter().map(String::as_str), 99);
        let others = ids(20_000, "other");
        let fp = others.iter().filter(|id| f.contains(id)).count();
        let rate = fp as f64 / others.len() as f64;
        assert!(rate < 0.03, "false-positive rate {rate}");
        assert_eq!(f.k(), 7);
    }

    #[test]
    fn a_new_seed_moves_the_false_positives() {
        let seen = ids(200, "seen");
        let others = ids(20_000, "other");
        let hidden = |seed| -> Vec<&String> {
            let f = BloomFilter::for_ids(seen.iter().map(String::as_str), seed);
            others.iter().filter(|id| f.contains(id)).collect()
        };
        let a = hidden(1);
        let b = hidden(2);
        assert!(!a.is_empty());
        let both = a.iter().filter(|id| b.contains(id)).count();
        // Independent 1 % events: expect about 1 % of a's hidden ids to be hidden again.
        assert!(both * 10 < a.len(), "{both} of {} hidden twice", a.len());
    }

    #[test]
    fn wire_round_trip_and_bounds() {
        let f = BloomFilter::for_ids(["a", "b"].into_iter(), 3);
        let w = f.to_wire();
        assert_eq!(BloomFilter::from_wire(&w), Ok(f));
        let big = BloomWire {
            bits: BASE64.encode(&vec![0u8; MAX_BLOOM_BYTES + 1]),
            k: 3,
            seed: 0,
        };
        assert!(matches!(
            BloomFilter::from_wire(&big),
            Err(BloomError::Size { .. })
        ));
        let bad_k = BloomWire { k: 0, ..w.clone() };
        assert!(matches!(
            BloomFilter::from_wire(&bad_k),
            Err(BloomError::K { .. })
        ));
        let junk = BloomWire {
            bits: "!!".into(),
            ..w
        };
        assert_eq!(BloomFilter::from_wire(&junk), Err(BloomError::Base64));
    }
}
