//! The swarmfs HTTP bridge: seeds data that lives on a plain web server, and downloads from web
//! seeds (BEP 19).
//!
//! - [`build_from_urls`] streams each URL once through the HTTP backend
//!   (`swarmfs-http-storage`), hashing pieces as the bytes arrive, and builds a torrent (one file
//!   per URL).
//! - [`VerifyingStorage`] sits between the engine and the origins: every piece it fetches is
//!   hashed before any byte of it is served; a piece that fails is refused (the read fails, so
//!   no peer receives it) and reported as a [`BridgeEvent`], as is an origin that changed or
//!   vanished. A piece the engine could not serve stops being advertised
//!   ([`BridgeEvent::PieceLost`]); the bridge retries it with backoff and advertises it again
//!   once it verifies ([`BridgeEvent::PieceRestored`]).
//! - [`Bridge`] seeds such a torrent (built from URLs, or an existing `.torrent` plus the URLs
//!   of its files) with a `swarmfs-engine` [`Engine`](swarmfs_engine::Engine); the engine's
//!   discovery announces it (DHT, LSD) like any other torrent.
//! - [`download_from_web_seeds`] / [`fill_from_web_seeds`] download a torrent's pieces from
//!   its `url-list` web seeds into a piece store, verifying each, so the engine can then seed it.
//! - [`WebSeeder`] drives web seeds beside a running engine download: it fetches pieces the
//!   torrent still wants (from the end, bounded concurrency, backoff per server) and hands them
//!   to the engine, which verifies, writes and announces them. [`add_magnet_with_web_seeds`] /
//!   [`add_torrent_with_web_seeds`] add a torrent with its `ws=` / `url-list` sources driven.
//! - [`resolve_magnet`] gets the metadata of a magnet that has no peers: a web server cannot
//!   answer BEP 9 metadata requests, so a `ws=`-only magnet needs an `xs=http://...torrent`
//!   (webtorrent's convention); the fetched info dictionary must hash to the magnet's info-hash.
//!
//! This crate speaks no peer protocol itself and only `http://` (the backend has no TLS).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod build;
mod error;
mod lost;
mod seed;
mod source;
mod verify;
mod web_seeder;
mod webseed;

pub use build::{BuildOptions, BuiltTorrent, build_from_urls, file_name};
pub use error::BridgeError;
pub use seed::{Bridge, BridgeOptions};
pub use source::{fetch_torrent, merged_web_seeds, resolve_magnet, torrent_sources};
pub use verify::{BridgeEvent, Evict, PieceRefused, VerifyStats, VerifyingStorage};
pub use web_seeder::{
    STOP_GRACE, WebSeedOptions, WebSeedStats, WebSeeder, add_magnet_with_web_seeds,
    add_torrent_with_web_seeds,
};
pub use webseed::{
    WebSeedReport, download_from_web_seeds, fill_from_web_seeds, resume_name, storage_paths,
    web_seed_file_urls,
};
