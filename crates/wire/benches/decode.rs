//! Decode throughput benchmark (placeholder).
fn main() {}
