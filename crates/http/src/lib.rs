//! swarmfs HTTP streaming server: serves one [`swarmfs::Archive`] over HTTP/1.1.
//!
//! `GET /` (and any directory path) is an index of the files, in HTML, or JSON when the client
//! sends `Accept: application/json`. `GET /<path>` streams a file through
//! [`swarmfs::Archive::open`], so pieces are fetched on demand in the order they are read: a
//! video plays while it downloads. Single `Range` requests get `206 Partial Content`,
//! unsatisfiable ones `416`; `HEAD`, `Accept-Ranges`, `ETag` and a `Content-Type` from the file
//! extension are supported. Paths that try to leave the archive get `400`.
//!
//! The server binds what it is given; the CLI defaults to `127.0.0.1`. It implements no
//! BitTorrent itself: every byte comes from the archive.
//!
//! ```no_run
//! # async fn demo(archive: swarmfs::Archive) -> Result<(), swarmfs_http::ServeError> {
//! let server = swarmfs_http::StreamServer::bind("127.0.0.1:0".parse().unwrap(), archive).await?;
//! println!("{}", server.url());
//! let handle = server.spawn();
//! // ...
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod body;
mod index;
mod mime;
mod path;
mod range;
mod respond;
mod server;

pub use mime::content_type;
pub use range::{ByteRange, RangeError, parse_range};
pub use server::{MAX_CONNECTIONS, ServeError, ServerHandle, StreamServer};
