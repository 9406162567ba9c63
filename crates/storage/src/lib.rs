//! The storage layer of swarmfs: random access to a torrent's files, and the piece store above it.
//!
//! - [`RandomAccess`] and [`StorageFactory`] are the async traits a backend implements (one
//!   storage per torrent file, plus small metadata blobs such as resume data kept beside them).
//!   Backends live in `storage-backends/` and all run the shared [`conformance`] suite.
//! - [`PieceStore`] maps pieces and blocks onto file spans with `swarmfs-metainfo`'s
//!   [`Geometry`](swarmfs_metainfo::Geometry), verifies pieces (SHA-1) from storage, re-checks
//!   existing data on all cores, and keeps a completion bitfield that is persisted only after the
//!   data it vouches for is durable.
//!
//! This crate knows torrent geometry and nothing of the engine; it does no networking and does not
//! depend on tokio (multi-piece hashing runs on plain threads).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod access;
mod check;
pub mod conformance;
mod error;
mod hashes;
mod path;
mod piece_store;
pub mod resume;

pub use access::{FileStamp, RandomAccess, StorageFactory, checked_end};
pub use check::RecheckProgress;
pub use error::StorageError;
pub use hashes::{HashesError, PieceHashes};
pub use path::{MAX_COMPONENT_LEN, MAX_COMPONENTS, MetaName, PathError, StoragePath};
pub use piece_store::{
    OpenReport, PieceStore, PieceStoreError, PieceStoreOptions, RecheckReport, ResumeState,
};
