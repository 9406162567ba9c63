//! swarmfs storage layer (in progress).
