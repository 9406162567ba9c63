//! The swarmfs HTTP bridge: seeds data that lives on a plain web server, and downloads from web
//! seeds (BEP 19).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
