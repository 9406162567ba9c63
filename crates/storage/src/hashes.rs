//! The expected SHA-1 of every piece.

use swarmfs_metainfo::Geometry;

/// Why piece hashes do not fit a geometry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashesError {
    /// The number of hashes differs from the number of pieces.
    #[error("{hashes} piece hashes for {pieces} pieces")]
    CountMismatch {
        /// Hashes given.
        hashes: usize,
        /// Pieces in the geometry.
        pieces: u32,
    },
    /// The concatenated form is not a multiple of 20 bytes.
    #[error("piece hash string of {len} bytes is not a multiple of 20")]
    BadLength {
        /// Its length.
        len: usize,
    },
}

/// One 20-byte SHA-1 per piece, in piece order, known to match a geometry's piece count.
#[derive(Clone, PartialEq, Eq)]
pub struct PieceHashes(Vec<[u8; 20]>);

impl PieceHashes {
    /// Takes one hash per piece of `geometry`.
    pub fn new(hashes: Vec<[u8; 20]>, geometry: &Geometry) -> Result<Self, HashesError> {
        if hashes.len() != geometry.piece_count() as usize {
            return Err(HashesError::CountMismatch {
                hashes: hashes.len(),
                pieces: geometry.piece_count(),
            });
        }
        Ok(Self(hashes))
    }

    /// Splits an info dict's `pieces` string (concatenated 20-byte hashes).
    pub fn from_concatenated(pieces: &[u8], geometry: &Geometry) -> Result<Self, HashesError> {
        if !pieces.len().is_multiple_of(20) {
            return Err(HashesError::BadLength { len: pieces.len() });
        }
        let hashes = pieces
            .chunks_exact(20)
            .map(|c| {
                let mut h = [0; 20];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Self::new(hashes, geometry)
    }

    /// All hashes.
    pub fn as_slice(&self) -> &[[u8; 20]] {
        &self.0
    }

    /// Hash of piece `index` (in range by construction when the index comes from the geometry).
    pub fn get(&self, index: u32) -> Option<&[u8; 20]> {
        self.0.get(index as usize)
    }
}

impl std::fmt::Debug for PieceHashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PieceHashes({} pieces)", self.0.len())
    }
}
