//! Small shared vocabulary: who a peer is to the state machines, and what a block is.

use swarmfs_metainfo::{BLOCK_SIZE, Geometry, PieceIndex};

/// An opaque handle the engine assigns to each connection; the state machines only compare it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub u64);

/// One request-sized range of a piece (at most [`BLOCK_SIZE`] bytes, aligned to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Block {
    /// The piece the block belongs to.
    pub piece: PieceIndex,
    /// Byte offset inside the piece, a multiple of [`BLOCK_SIZE`].
    pub offset: u32,
    /// Length in bytes: [`BLOCK_SIZE`] except for the last block of the last piece.
    pub len: u32,
}

impl Block {
    /// The `index`-th block of `piece`, or `None` past the end of the piece.
    pub fn nth(geometry: &Geometry, piece: PieceIndex, index: u32) -> Option<Self> {
        let len = geometry.block_len(piece, index)?;
        Some(Self {
            piece,
            offset: index * BLOCK_SIZE,
            len,
        })
    }

    /// The index of this block inside its piece.
    pub fn index(&self) -> u32 {
        self.offset / BLOCK_SIZE
    }

    /// Whether this is exactly one of the blocks `geometry` cuts `piece` into.
    pub fn is_valid(&self, geometry: &Geometry) -> bool {
        self.piece.get() < geometry.piece_count()
            && self.offset.is_multiple_of(BLOCK_SIZE)
            && geometry.block_len(self.piece, self.index()) == Some(self.len)
    }
}
