//! A fixed-length bitfield of pieces, in the BEP 3 wire layout (high bit of byte 0 = piece 0).

/// One bit per piece; bits past `len` are always zero.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
    ones: u32,
}

impl Bitfield {
    /// All-zero bitfield of `len` bits.
    pub fn new(len: u32) -> Self {
        Self {
            bytes: vec![0; len.div_ceil(8) as usize],
            len,
            ones: 0,
        }
    }

    /// All-one bitfield of `len` bits.
    pub fn full(len: u32) -> Self {
        let mut b = Self::new(len);
        b.bytes.fill(0xff);
        b.clear_spare_bits();
        b.ones = len;
        b
    }

    /// Reads the wire layout. Returns `None` when the byte count is wrong or a spare bit is set
    /// (BEP 3: "Spare bits at the end are set to zero. Clients should drop the connection if they
    /// receive bitfields that are not of the correct size, or if the bitfield has any of the spare
    /// bits set.").
    pub fn from_bytes(bytes: &[u8], len: u32) -> Option<Self> {
        if bytes.len() != len.div_ceil(8) as usize {
            return None;
        }
        let mut b = Self {
            bytes: bytes.to_vec(),
            len,
            ones: 0,
        };
        let before: Vec<u8> = b.bytes.clone();
        b.clear_spare_bits();
        if before != b.bytes {
            return None;
        }
        b.ones = b.bytes.iter().map(|x| x.count_ones()).sum();
        Some(b)
    }

    /// The wire layout.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of bits.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the bitfield has zero bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of set bits.
    pub fn count_ones(&self) -> u32 {
        self.ones
    }

    /// Whether every bit is set.
    pub fn all(&self) -> bool {
        self.ones == self.len
    }

    /// Bit `i`; false when out of range.
    pub fn get(&self, i: u32) -> bool {
        i < self.len && self.bytes[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
    }

    /// Sets bit `i` to `value`; returns the previous value. Out of range is a no-op returning false.
    pub fn set(&mut self, i: u32, value: bool) -> bool {
        if i >= self.len {
            return false;
        }
        let byte = &mut self.bytes[(i / 8) as usize];
        let mask = 0x80 >> (i % 8);
        let old = *byte & mask != 0;
        if value && !old {
            *byte |= mask;
            self.ones += 1;
        } else if !value && old {
            *byte &= !mask;
            self.ones -= 1;
        }
        old
    }

    /// Indices of the set bits, ascending.
    pub fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }

    fn clear_spare_bits(&mut self) {
        let spare = self.bytes.len() as u32 * 8 - self.len;
        if let Some(last) = self.bytes.last_mut() {
            *last &= 0xffu8.checked_shl(spare).unwrap_or(0);
        }
    }
}

impl std::fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitfield({}/{})", self.ones, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count() {
        let mut b = Bitfield::new(10);
        assert!(!b.set(0, true));
        assert!(!b.set(9, true));
        assert!(b.set(9, true));
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert_eq!(b.count_ones(), 2);
        assert_eq!(b.ones().collect::<Vec<_>>(), vec![0, 9]);
        assert!(!b.set(10, true));
        assert!(!b.get(10));
    }

    #[test]
    fn full_clears_spare_bits_and_from_bytes_checks_them() {
        let f = Bitfield::full(10);
        assert_eq!(f.as_bytes(), &[0xff, 0xc0]);
        assert!(f.all());
        assert_eq!(Bitfield::from_bytes(&[0xff, 0xc0], 10), Some(f));
        assert_eq!(Bitfield::from_bytes(&[0xff, 0xe0], 10), None);
        assert_eq!(Bitfield::from_bytes(&[0xff], 10), None);
    }
}
