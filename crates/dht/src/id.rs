//! 160-bit identifiers: node ids, info-hashes and BEP 44 targets share one keyspace.

use std::fmt;

use rand::RngCore;
use sha1::{Digest, Sha1};

/// A 160-bit DHT identifier (node id, info-hash or BEP 44 target).
///
/// Distances are XOR (BEP 5): `a.distance(b)` compared as big-endian unsigned integers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub [u8; 20]);

impl Id {
    /// Length of an id in bytes.
    pub const LEN: usize = 20;

    /// Wraps 20 bytes.
    pub const fn new(bytes: [u8; 20]) -> Self {
        Id(bytes)
    }

    /// Builds an id from a slice that must be exactly 20 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 20]>::try_from(bytes).ok().map(Id)
    }

    /// Parses 40 hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Id(out))
    }

    /// SHA-1 of `data` (immutable BEP 44 targets, test ids).
    pub fn sha1(data: &[u8]) -> Self {
        Id(Sha1::digest(data).into())
    }

    /// A uniformly random id.
    pub fn random(rng: &mut impl RngCore) -> Self {
        let mut out = [0u8; 20];
        rng.fill_bytes(&mut out);
        Id(out)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// XOR distance to `other`.
    pub fn distance(&self, other: &Id) -> Id {
        let mut out = [0u8; 20];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = self.0[i] ^ other.0[i];
        }
        Id(out)
    }

    /// Number of leading zero bits (160 for the zero id).
    pub fn leading_zeros(&self) -> u32 {
        let mut zeros = 0;
        for byte in self.0 {
            if byte == 0 {
                zeros += 8;
            } else {
                return zeros + byte.leading_zeros();
            }
        }
        zeros
    }

    /// A random id that shares exactly `prefix_len` leading bits with `self` (the next bit differs),
    /// i.e. one that falls in bucket `prefix_len` of a routing table centred on `self`.
    pub fn random_in_bucket(&self, prefix_len: u32, rng: &mut impl RngCore) -> Id {
        let mut out = Id::random(rng).0;
        let prefix_len = prefix_len.min(159) as usize;
        for bit in 0..=prefix_len {
            let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
            let own = self.0[byte] & mask;
            let want = if bit == prefix_len { own ^ mask } else { own };
            out[byte] = (out[byte] & !mask) | want;
        }
        Id(out)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl From<[u8; 20]> for Id {
    fn from(bytes: [u8; 20]) -> Self {
        Id(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn distance_and_leading_zeros() {
        let a = Id([0u8; 20]);
        let mut b = [0u8; 20];
        b[2] = 0x10;
        let b = Id(b);
        assert_eq!(a.distance(&b), b);
        assert_eq!(a.distance(&b).leading_zeros(), 19);
        assert_eq!(a.distance(&a).leading_zeros(), 160);
    }

    #[test]
    fn random_in_bucket_lands_in_bucket() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let me = Id::random(&mut rng);
        for prefix in [0, 1, 7, 8, 9, 100, 159] {
            let other = me.random_in_bucket(prefix, &mut rng);
            assert_eq!(me.distance(&other).leading_zeros(), prefix);
        }
    }

    #[test]
    fn hex_round_trip() {
        let id = Id::sha1(b"x");
        assert_eq!(Id::from_hex(&id.to_string()), Some(id));
        assert_eq!(Id::from_hex("zz"), None);
    }
}
