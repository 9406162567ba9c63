//! swarmfs wire layer (in progress).
