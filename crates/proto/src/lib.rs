//! Sans-IO swarm logic for swarmfs: which blocks to request from whom, how many at once, whom to
//! unchoke, and how to assemble magnet metadata.
//!
//! This crate contains no networking code, no timers and no tokio. Every state machine here is
//! driven by `handle_*(now, ..)` calls that feed it what happened and `poll_*()` / `pick` calls that
//! say what to do next; time is passed in as [`std::time::Instant`], so tests run on a fake clock.
//! The engine maps the small input and output types defined here to and from wire messages.
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
