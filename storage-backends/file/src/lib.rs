//! swarmfs file storage backend (in progress).
