//! Deterministic tests of the state machines together: simulated peers, a fake clock.

mod choker;
mod metadata;
mod picker;
mod pipeline;
mod props;
mod swarm;
mod util;
