//! What a torrent is: info-hashes, info dictionaries, magnet URIs and piece geometry.
//!
//! This is the bottom layer of swarmfs beside `swarmfs-wire`. It parses and builds the data that
//! names and describes a torrent; it does no I/O on sockets and never depends on tokio.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod bitfield;
mod geometry;
mod infohash;

pub use bitfield::Bitfield;
pub use geometry::{BLOCK_SIZE, FileSpan, Geometry, GeometryError, MAX_PIECE_LENGTH, PieceIndex};
pub use infohash::{InfoHash, InfoHashParseError};
