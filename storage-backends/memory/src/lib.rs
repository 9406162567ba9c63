//! swarmfs memory storage backend (in progress).
