//! Piece geometry: how a torrent's byte stream splits into pieces, blocks and file spans.
//!
//! A torrent's files are concatenated in order into one byte stream; that stream is cut into
//! pieces of `piece_length` bytes (the last may be shorter). A piece may cross file boundaries;
//! [`Geometry::spans`] maps any byte range of a piece onto the files it covers.

/// The size of a block, the unit peers request (16 KiB, BEP 3).
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// A piece index known to be in range for the [`Geometry`] that produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PieceIndex(u32);

impl PieceIndex {
    /// The index as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A contiguous byte range inside one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpan {
    /// Index of the file in the torrent's file list.
    pub file_index: usize,
    /// Offset of the range inside that file.
    pub file_offset: u64,
    /// Offset of the range inside the piece it was asked for.
    pub piece_offset: u32,
    /// Length of the range in bytes.
    pub len: u32,
}

/// Why a geometry cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GeometryError {
    /// `piece length` is zero or not a multiple of 16 KiB past that size.
    #[error("invalid piece length {0}")]
    BadPieceLength(u64),
    /// The total length overflows or yields more pieces than a u32 can count.
    #[error("torrent too large: {total} bytes in pieces of {piece_length}")]
    TooLarge {
        /// Total length in bytes.
        total: u128,
        /// Piece length.
        piece_length: u32,
    },
}

/// The shape of a torrent's data: file lengths and piece length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    piece_length: u32,
    total_length: u64,
    piece_count: u32,
    /// Start offset of each file in the concatenated stream; `file_starts.len() == files + 1`.
    file_starts: Vec<u64>,
}

/// Largest piece length accepted (64 MiB); larger values are hostile or broken.
pub const MAX_PIECE_LENGTH: u64 = 64 * 1024 * 1024;

impl Geometry {
    /// Builds the geometry of files with these lengths, in torrent order.
    ///
    /// The piece length must be a multiple of 16 KiB between 16 KiB and 64 MiB. Mainstream
    /// clients make powers of two (BEP 3: "almost always a power of two"), but torrents with
    /// other multiples exist and libtorrent reads them; whole blocks per piece keep every piece
    /// but the last made of full 16 KiB blocks.
    pub fn new(piece_length: u64, file_lengths: &[u64]) -> Result<Self, GeometryError> {
        if !(u64::from(BLOCK_SIZE)..=MAX_PIECE_LENGTH).contains(&piece_length)
            || !piece_length.is_multiple_of(u64::from(BLOCK_SIZE))
        {
            return Err(GeometryError::BadPieceLength(piece_length));
        }
        let piece_length = piece_length as u32;
        let mut file_starts = Vec::with_capacity(file_lengths.len() + 1);
        let mut total: u128 = 0;
        for &len in file_lengths {
            file_starts.push(total as u64);
            total += u128::from(len);
        }
        let piece_count = total.div_ceil(u128::from(piece_length));
        if total > u128::from(u64::MAX) || piece_count > u128::from(u32::MAX) {
            return Err(GeometryError::TooLarge {
                total,
                piece_length,
            });
        }
        file_starts.push(total as u64);
        Ok(Self {
            piece_length,
            total_length: total as u64,
            piece_count: piece_count as u32,
            file_starts,
        })
    }

    /// The nominal piece length.
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Total length of all files.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// Number of files.
    pub fn file_count(&self) -> usize {
        self.file_starts.len() - 1
    }

    /// Length of file `index`, or `None` when out of range.
    pub fn file_length(&self, index: usize) -> Option<u64> {
        Some(self.file_starts.get(index + 1)? - self.file_starts.get(index)?)
    }

    /// Offset of file `index` in the concatenated stream.
    pub fn file_start(&self, index: usize) -> Option<u64> {
        self.file_starts
            .get(index)
            .copied()
            .filter(|_| index < self.file_count())
    }

    /// `index` as a [`PieceIndex`], if it is in range.
    pub fn piece(&self, index: u32) -> Option<PieceIndex> {
        (index < self.piece_count).then_some(PieceIndex(index))
    }

    /// Every piece index in order.
    pub fn pieces(&self) -> impl Iterator<Item = PieceIndex> + use<> {
        (0..self.piece_count).map(PieceIndex)
    }

    /// Offset of a piece in the concatenated stream.
    pub fn piece_start(&self, piece: PieceIndex) -> u64 {
        u64::from(piece.0) * u64::from(self.piece_length)
    }

    /// Length of a piece (the last one may be shorter).
    pub fn piece_len(&self, piece: PieceIndex) -> u32 {
        let start = self.piece_start(piece);
        (self.total_length - start).min(u64::from(self.piece_length)) as u32
    }

    /// Number of 16 KiB blocks in a piece.
    pub fn block_count(&self, piece: PieceIndex) -> u32 {
        self.piece_len(piece).div_ceil(BLOCK_SIZE)
    }

    /// Length of block `block` of `piece`, or `None` when the block is out of range.
    pub fn block_len(&self, piece: PieceIndex, block: u32) -> Option<u32> {
        let len = self.piece_len(piece);
        let start = block.checked_mul(BLOCK_SIZE)?;
        (start < len).then(|| (len - start).min(BLOCK_SIZE))
    }

    /// Whether `(offset, len)` is a valid, non-empty byte range inside `piece`.
    pub fn contains(&self, piece: PieceIndex, offset: u32, len: u32) -> bool {
        len > 0
            && offset
                .checked_add(len)
                .is_some_and(|end| end <= self.piece_len(piece))
    }

    /// The piece that holds stream offset `offset`, if any.
    pub fn piece_at(&self, offset: u64) -> Option<PieceIndex> {
        (offset < self.total_length)
            .then(|| PieceIndex((offset / u64::from(self.piece_length)) as u32))
    }

    /// The pieces that cover file `index` (inclusive range), or `None` for an empty or missing file.
    pub fn file_pieces(&self, index: usize) -> Option<std::ops::RangeInclusive<PieceIndex>> {
        let start = self.file_start(index)?;
        let len = self.file_length(index)?;
        if len == 0 {
            return None;
        }
        Some(self.piece_at(start)?..=self.piece_at(start + len - 1)?)
    }

    /// The file spans covered by `len` bytes at `offset` inside `piece`, in stream order.
    ///
    /// Empty files are skipped. The range is clamped to the piece.
    pub fn spans(&self, piece: PieceIndex, offset: u32, len: u32) -> Spans<'_> {
        let piece_len = self.piece_len(piece);
        let offset = offset.min(piece_len);
        let len = len.min(piece_len - offset);
        let start = self.piece_start(piece) + u64::from(offset);
        // The last file whose start is <= `start`, skipping empty files at the same offset.
        let file = self.file_starts[..self.file_count()]
            .partition_point(|&s| s <= start)
            .saturating_sub(1);
        Spans {
            geometry: self,
            file,
            pos: start,
            end: start + u64::from(len),
            piece_base: start - u64::from(offset),
        }
    }
}

/// Iterator returned by [`Geometry::spans`].
#[derive(Debug)]
pub struct Spans<'a> {
    geometry: &'a Geometry,
    file: usize,
    pos: u64,
    end: u64,
    piece_base: u64,
}

impl Iterator for Spans<'_> {
    type Item = FileSpan;

    fn next(&mut self) -> Option<FileSpan> {
        while self.pos < self.end && self.file < self.geometry.file_count() {
            let file_end = self.geometry.file_starts[self.file + 1];
            if file_end <= self.pos {
                self.file += 1;
                continue;
            }
            let take = file_end.min(self.end) - self.pos;
            let span = FileSpan {
                file_index: self.file,
                file_offset: self.pos - self.geometry.file_starts[self.file],
                piece_offset: (self.pos - self.piece_base) as u32,
                len: take as u32,
            };
            self.pos += take;
            self.file += 1;
            return Some(span);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K16: u64 = 16 * 1024;

    #[test]
    fn single_file_last_piece_is_short() {
        let g = Geometry::new(K16 * 2, &[K16 * 5 + 10]).unwrap();
        assert_eq!(g.piece_count(), 3);
        let last = g.piece(2).unwrap();
        assert_eq!(g.piece_len(last), K16 as u32 + 10);
        assert_eq!(g.block_count(last), 2);
        assert_eq!(g.block_len(last, 1), Some(10));
        assert_eq!(g.block_len(last, 2), None);
        assert!(g.piece(3).is_none());
    }

    #[test]
    fn spans_cross_files_and_skip_empty_ones() {
        // files: 10 bytes, empty, 40000 bytes, 6 bytes; piece 32 KiB.
        let g = Geometry::new(K16 * 2, &[10, 0, 40_000, 6]).unwrap();
        let p0 = g.piece(0).unwrap();
        let spans: Vec<_> = g.spans(p0, 0, g.piece_len(p0)).collect();
        assert_eq!(
            spans,
            vec![
                FileSpan {
                    file_index: 0,
                    file_offset: 0,
                    piece_offset: 0,
                    len: 10
                },
                FileSpan {
                    file_index: 2,
                    file_offset: 0,
                    piece_offset: 10,
                    len: 32_758
                },
            ]
        );
        let p1 = g.piece(1).unwrap();
        let spans: Vec<_> = g.spans(p1, 0, u32::MAX).collect();
        assert_eq!(
            spans,
            vec![
                FileSpan {
                    file_index: 2,
                    file_offset: 32_758,
                    piece_offset: 0,
                    len: 7_242
                },
                FileSpan {
                    file_index: 3,
                    file_offset: 0,
                    piece_offset: 7_242,
                    len: 6
                },
            ]
        );
        assert_eq!(g.file_pieces(2), Some(p0..=p1));
        assert_eq!(g.file_pieces(1), None);
    }

    #[test]
    fn piece_length_may_be_any_multiple_of_a_block() {
        let g = Geometry::new(K16 * 3, &[K16 * 7 + 5]).unwrap();
        assert_eq!(g.piece_count(), 3);
        let last = g.piece(2).unwrap();
        assert_eq!(g.piece_len(last), K16 as u32 + 5);
        let covered: u32 = g
            .spans(g.piece(1).unwrap(), 0, u32::MAX)
            .map(|s| s.len)
            .sum();
        assert_eq!(covered, 3 * K16 as u32);
    }

    #[test]
    fn rejects_bad_piece_lengths_and_overflow() {
        assert!(Geometry::new(0, &[1]).is_err());
        assert!(Geometry::new(K16 * 3 + 1, &[1]).is_err());
        assert!(Geometry::new(K16 / 2, &[1]).is_err());
        assert!(Geometry::new(MAX_PIECE_LENGTH + K16, &[1]).is_err());
        assert!(Geometry::new(K16, &[u64::MAX, 1]).is_err());
        assert!(
            Geometry::new(K16, &[u64::MAX / 2]).is_err(),
            "more pieces than u32"
        );
    }
}
