//! What a torrent is: info-hashes, info dictionaries, `.torrent` files, magnet URIs, piece
//! geometry, safe file paths, and building a torrent from files.
//!
//! This is the bottom layer of swarmfs beside `swarmfs-wire`. It parses and builds the data that
//! names and describes a torrent; it does no I/O on sockets and never depends on tokio. The only
//! I/O is the [`TorrentBuilder`] reading files to hash them. [`sha1_pair`] hashes two pieces at
//! once, nearly twice as fast as one after the other on CPUs with the SHA extensions.
//!
//! Everything that decodes input from outside ([`Info`], [`Torrent`], [`Magnet`], [`SafePath`])
//! is bounded and returns a typed error on malformed or hostile input; none of it panics.
//!
//! ```
//! use swarmfs_metainfo::{Magnet, SafePath, Torrent, TorrentBuilder};
//!
//! let entries = [(SafePath::parse("index.html")?, b"<h1>Hello</h1>".to_vec())];
//! let torrent = TorrentBuilder::new().build_entries("site", &entries)?;
//! let back = Torrent::from_bytes(&torrent.to_bytes())?;
//! assert_eq!(back.info_hash(), torrent.info_hash());
//! assert_eq!(back.info().storage_path(0).unwrap().as_str(), "site/index.html");
//!
//! let magnet = Magnet::from_info_hash(torrent.info_hash());
//! assert_eq!(Magnet::parse(&magnet.to_string())?, magnet);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod bencode;
mod bitfield;
mod builder;
pub mod fuzzing;
mod geometry;
mod hashing;
mod info;
mod infohash;
mod magnet;
mod path;
mod percent;
mod sha1_pair;
mod torrent;

pub use bitfield::Bitfield;
pub use builder::{
    BuildError, MAX_AUTO_PIECE_LENGTH, MIN_AUTO_PIECE_LENGTH, PathPlan, TARGET_MAX_PIECES,
    TorrentBuilder, auto_piece_length,
};
pub use geometry::{BLOCK_SIZE, FileSpan, Geometry, GeometryError, MAX_PIECE_LENGTH, PieceIndex};
pub use info::{FileEntry, Info, InfoError, Limits};
pub use infohash::{InfoHash, InfoHashParseError};
pub use magnet::{
    MAX_MAGNET_LEN, MAX_SALT_LEN, Magnet, MagnetError, MagnetTarget, MutableTarget, PeerAddr,
};
pub use path::{MAX_COMPONENT_LEN, MAX_PATH_DEPTH, MAX_PATH_LEN, PathError, SafePath};
pub use percent::PercentError;
pub use sha1_pair::sha1_pair;
pub use torrent::{Torrent, TorrentError};
