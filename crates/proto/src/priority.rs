//! Download priorities for files and pieces.

/// How much a piece or file is wanted: `0` is "skip" (never download), `1..=7` rank wanted data.
///
/// Higher priorities are always picked before lower ones; rarity only orders pieces of equal
/// priority. Values above 7 are clamped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Priority(u8);

impl Priority {
    /// Do not download.
    pub const SKIP: Self = Self(0);
    /// Lowest wanted priority.
    pub const LOW: Self = Self(1);
    /// The default.
    pub const NORMAL: Self = Self(4);
    /// Highest priority.
    pub const HIGH: Self = Self(7);

    /// A priority from a number, clamped to `0..=7`.
    pub fn new(value: u8) -> Self {
        Self(value.min(7))
    }

    /// The numeric value, `0..=7`.
    pub fn get(self) -> u8 {
        self.0
    }

    /// Whether this is [`Priority::SKIP`].
    pub fn is_skip(self) -> bool {
        self.0 == 0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Self::NORMAL
    }
}
