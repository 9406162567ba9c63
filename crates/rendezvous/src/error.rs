//! Errors: what a request did wrong (server side), and what a client call met.

use std::io;

/// Why the server refused a request. Each maps to a 4xx/5xx status and an
/// [`ErrorBody`](crate::api::ErrorBody) code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The body is not the expected JSON.
    #[error("malformed json: {reason}")]
    BadJson {
        /// serde's message.
        reason: String,
    },
    /// A field or path segment is out of bounds or malformed.
    #[error("bad request: {reason}")]
    BadRequest {
        /// What was wrong.
        reason: String,
    },
    /// Missing or wrong credentials.
    #[error("missing or wrong credentials")]
    Unauthorized,
    /// No such route.
    #[error("no such route")]
    NotFound,
    /// The route exists with another method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is larger than the server accepts.
    #[error("body larger than {max} bytes")]
    PayloadTooLarge {
        /// The bound.
        max: usize,
    },
    /// The caller's token bucket is empty.
    #[error("rate limited")]
    RateLimited,
    /// A server-wide or per-peer bound is reached.
    #[error("full: {what}")]
    Full {
        /// Which bound.
        what: &'static str,
    },
}

impl RequestError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::BadJson { .. } | RequestError::BadRequest { .. } => 400,
            RequestError::Unauthorized => 401,
            RequestError::NotFound => 404,
            RequestError::MethodNotAllowed => 405,
            RequestError::PayloadTooLarge { .. } => 413,
            RequestError::RateLimited => 429,
            RequestError::Full { .. } => 503,
        }
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::BadJson { .. } => "bad_json",
            RequestError::BadRequest { .. } => "bad_request",
            RequestError::Unauthorized => "unauthorized",
            RequestError::NotFound => "not_found",
            RequestError::MethodNotAllowed => "method_not_allowed",
            RequestError::PayloadTooLarge { .. } => "payload_too_large",
            RequestError::RateLimited => "rate_limited",
            RequestError::Full { .. } => "full",
        }
    }

    pub(crate) fn bad(reason: impl Into<String>) -> Self {
        RequestError::BadRequest {
            reason: reason.into(),
        }
    }
}

/// Starting a server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Binding the listen address failed.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The socket error.
        source: io::Error,
    },
}

/// A client call to a rendezvous server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server URL is not `http://host:port[/prefix]`.
    #[error("bad server url {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Connecting or talking to the server failed.
    #[error("connect to {server}: {source}")]
    Connect {
        /// host:port.
        server: String,
        /// The socket error.
        source: io::Error,
    },
    /// The HTTP exchange failed.
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    /// The server took too long.
    #[error("request timed out")]
    Timeout,
    /// The server answered with an error status.
    #[error("server refused ({status} {code}): {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The error code from the body (empty if the body was not an error body).
        code: String,
        /// The error message.
        message: String,
    },
    /// [`RendezvousDiscovery::discover_peers`](crate::RendezvousDiscovery::discover_peers) for a
    /// torrent the source does not know.
    #[error("torrent {info_hash} is not being discovered")]
    UnknownTorrent {
        /// The info-hash, hex.
        info_hash: String,
    },
    /// The answer was not the expected JSON or was too large.
    #[error("bad answer from server: {reason}")]
    BadAnswer {
        /// What was wrong.
        reason: String,
    },
}
