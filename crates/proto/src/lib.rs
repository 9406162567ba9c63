//! Sans-IO swarm logic for swarmfs: which blocks to request from whom, how many at once, whom to
//! unchoke, and how to assemble magnet metadata.
//!
//! This crate contains no networking code, no timers and no tokio. Every state machine here is
//! driven by `handle_*(now, ..)` calls that feed it what happened and `poll_*()` / `pick` calls that
//! say what to do next; time is passed in as [`std::time::Instant`], so tests run on a fake clock.
//! The engine maps the small input and output types defined here to and from wire messages.
//!
//! * [`Picker`]: piece availability, priorities (per file and per piece, including skip),
//!   reader deadlines, rarest-first selection with whole-piece preference, endgame, and the
//!   per-block request record.
//! * [`Pipeline`]: how many requests one connection keeps in flight (bandwidth-delay product,
//!   clamped, honouring `reqq`) and when a silent peer is snubbed.
//! * [`Choker`]: tit-for-tat unchoking with an optimistic slot.
//! * [`MetadataAssembler`]: BEP 9 info-dictionary download, verified against the info-hash, with
//!   liars identified and reported.
//!
//! A peer connection's download side, as the engine drives it:
//!
//! ```
//! use std::time::Instant;
//! use swarmfs_metainfo::Geometry;
//! use swarmfs_proto::{BlockOutcome, PeerEvent, PeerKey, Picker, PickerAction, Pipeline, PipelineConfig};
//!
//! let geometry = Geometry::new(32 * 1024, &[100_000]).unwrap();
//! let mut picker = Picker::new(&geometry, 42);
//! let peer = PeerKey(1);
//! let now = Instant::now();
//! let mut pipeline = Pipeline::new(now, PipelineConfig::default());
//! picker.handle_peer(peer, PeerEvent::HaveAll).unwrap(); // from the wire: have all
//!
//! // The peer unchoked us: fill its queue.
//! let mut requests = Vec::new();
//! picker.pick(peer, pipeline.wants(now), &mut requests);
//! for &block in &requests {
//!     pipeline.handle_sent(now, block); // and send a `request` message
//! }
//! // A `piece` message arrives.
//! let block = requests[0];
//! pipeline.handle_block(now, block);
//! match picker.handle_block(peer, block).unwrap() {
//!     BlockOutcome::Accepted { piece_complete } => {
//!         // write the data; when `piece_complete`, hash the piece and report:
//!         if piece_complete {
//!             picker.handle_hash_passed(block.piece);
//!         }
//!     }
//!     _ => { /* discard */ }
//! }
//! while let Some(PickerAction::Cancel { peer, block }) = picker.poll_action() {
//!     // send `cancel` to `peer` and tell its pipeline
//!     let _ = (peer, block);
//! }
//! // Timers: call `pipeline.handle_timeout(now)` at `pipeline.poll_timeout()` and hand the
//! // blocks it returns to `picker.handle_request_failed(peer, block)`.
//! assert!(!picker.is_done());
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod choker;
mod metadata;
mod peer;
mod picker;
mod pipeline;
mod priority;
mod rate;
mod rng;

pub use choker::{ChokeAction, ChokeCandidate, ChokeMode, Choker, ChokerConfig};
pub use metadata::{
    METADATA_PIECE_SIZE, MetadataAssembler, MetadataConfig, MetadataError, MetadataEvent,
};
pub use peer::{Block, PeerKey};
pub use picker::{BlockOutcome, PeerEvent, Picker, PickerAction, PickerError};
pub use pipeline::{Pipeline, PipelineConfig};
pub use priority::Priority;
pub use rate::RateMeter;
pub use rng::Rng;

#[cfg(test)]
mod tests;
