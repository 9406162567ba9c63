//! Shared test support.

pub mod nginx;
