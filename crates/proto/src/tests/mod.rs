//! Deterministic tests of the state machines together: simulated peers, a fake clock.

mod picker;
mod swarm;
mod util;
