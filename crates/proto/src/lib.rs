//! Sans-IO swarm logic for swarmfs: which blocks to request from whom, how many at once, whom to
//! unchoke, and how to assemble magnet metadata.
//!
//! This crate contains no networking code, no timers and no tokio. Every state machine here is
//! driven by `handle_*(now, ..)` calls that feed it what happened and `poll_*()` / `pick` calls that
//! say what to do next; time is passed in as [`std::time::Instant`], so tests run on a fake clock.
//! The engine maps the small input and output types defined here to and from wire messages.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
