//! The library face of swarmfs: what a user of swarmfs imports.
//!
//! - [`Client`] (built with [`ClientBuilder`]) runs a torrent engine and a DHT node.
//!   [`Client::lookup`] opens a magnet link, or the newest version of a BEP 46 mutable magnet,
//!   as an [`Archive`]; [`Client::seed`] hashes and seeds a draft archive (or
//!   [`Client::seed_path`] a directory on disk; both have a `_with_progress` twin reporting
//!   [`SeedProgress`]); [`Client::publish`] stores a BEP 46 item under
//!   a [`Keypair`] and keeps it alive; [`Client::stop`] ends all network activity.
//! - [`Archive`] is an async, read-only directory tree over a torrent (`read_dir`, `read_file`,
//!   `metadata`, `open` returning an [`ArchiveFile`] that is `AsyncRead + AsyncSeek` and
//!   fetches pieces as they are read), or a writable draft (`write_file`, `create_dir`,
//!   `remove`) backed by any storage factory.
//!
//! ```no_run
//! use std::time::Duration;
//! use swarmfs::{Archive, Client, Keypair, LookupOptions};
//! use swarmfs_memory::MemoryStorage;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder()
//!     .dht_bootstrap(["127.0.0.1:6881"])
//!     .storage(MemoryStorage::factory())
//!     .build()
//!     .await?;
//! let draft = Archive::new(MemoryStorage::factory());
//! draft.write_file("/index.html", b"<h1>Hello</h1>").await?;
//! let url = client.seed(&draft).await?;
//! let keypair = Keypair::generate();
//! let murl = client.publish(&url, &keypair, b"").await?;
//! let latest = client
//!     .lookup(&murl, LookupOptions::default().timeout(Duration::from_secs(4)))
//!     .await?;
//! assert_eq!(latest.read_file("/index.html").await?, b"<h1>Hello</h1>");
//! client.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! Peers are found by the engine (its DHT node, and LSD and PEX when switched on); the client
//! uses the same DHT node for BEP 44/46 items. This crate implements no protocol itself: those
//! live in `swarmfs-engine`, `swarmfs-dht` and below.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod archive;
mod builder;
mod client;
mod draft;
mod error;
mod file;
mod hashing;
mod keypair;
mod prefix;
mod publish;
mod tasks;
mod tree;
mod updates;

pub use archive::{Archive, DEFAULT_NAME};
pub use builder::{ClientBuilder, LookupOptions, PUBLIC_BOOTSTRAP};
pub use client::Client;
pub use error::{ArchiveError, ClientError, KeypairError, LookupError, PublishError, SeedError};
pub use file::{ArchiveFile, MAX_CHUNK, MAX_READAHEAD, READAHEAD};
pub use hashing::{SeedPhase, SeedProgress};
pub use keypair::Keypair;
pub use tree::{DirEntry, Metadata};
pub use updates::{Updates, Version};
