//! Picker throughput bench (placeholder).
fn main() {}
