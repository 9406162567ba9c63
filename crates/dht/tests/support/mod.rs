//! Shared test harnesses.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod external;
pub mod sim;
