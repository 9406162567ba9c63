//! swarmfs dht layer (in progress).
