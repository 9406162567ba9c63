//! The HTTP+JSON protocol: routes, request and response bodies, and the server's bounds.
//!
//! Every request and response body is JSON (`content-type: application/json`). Requests other
//! than `register` and `stats` carry `authorization: Bearer <peer_id>:<secret>`. Errors are a
//! 4xx/5xx status with an [`ErrorBody`].
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | `POST` | `/v1/register` | none or `{}` | [`Credentials`] (201) |
//! | `POST` | `/v1/topics/{info_hash_hex}/offer` | [`PublishRequest`] | [`PublishResponse`] |
//! | `DELETE` | `/v1/topics/{info_hash_hex}/offer` | none | [`WithdrawResponse`] |
//! | `POST` | `/v1/topics/{info_hash_hex}/query` | [`QueryRequest`] | [`QueryResponse`] |
//! | `POST` | `/v1/topics/{info_hash_hex}/answer` | [`AnswerRequest`] | [`AnswerResponse`] |
//! | `GET` | `/v1/answers` | none | [`AnswersResponse`] (drains the inbox) |
//! | `GET` | `/v1/stats` | none | [`Stats`] |
//!
//! A topic is a v1 info-hash as 40 hex digits. Publishing again on a topic replaces (and
//! refreshes) the caller's offer there: one offer per peer and topic.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bloom::BloomWire;

/// A peer's credentials: its public id and the secret that authenticates it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Public id (32 hex digits), shown to other peers.
    pub peer_id: String,
    /// Secret (64 hex digits); never shown to other peers.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("peer_id", &self.peer_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Publish (or refresh) the caller's offer on a topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// Addresses the peer accepts BitTorrent connections on (at most [`Limits::max_addrs`]).
    pub addrs: Vec<SocketAddr>,
    /// An opaque signaling blob (a WebRTC offer with its candidates, for a later transport), at
    /// most [`Limits::max_signal_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Lifetime in seconds; clamped to `1..=`[`Limits::max_ttl`], default [`Limits::default_ttl`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
}

/// The server's answer to a publish.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    /// The lifetime the server granted.
    pub ttl_secs: u64,
}

/// Ask for the offers on a topic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// Peer ids the caller has already seen; offers whose id it contains are not returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bloom: Option<BloomWire>,
    /// Most offers to return; clamped to `1..=`[`Limits::max_query_limit`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One peer's offer on a topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The publisher's id.
    pub peer_id: String,
    /// Its addresses.
    pub addrs: Vec<SocketAddr>,
    /// Its signaling blob, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Seconds until the offer expires.
    pub expires_in_secs: u64,
}

/// The offers a query found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResponse {
    /// Offers not in the caller's bloom filter (never the caller's own).
    pub offers: Vec<Offer>,
    /// Offers left out because the bloom filter contained their id.
    pub filtered: u64,
}

/// Answer another peer's offer (a WebRTC answer or candidates, for a later transport).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// Whose offer is answered.
    pub peer_id: String,
    /// The opaque answer, at most [`Limits::max_signal_bytes`].
    pub signal: String,
}

/// The server queued an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerResponse {
    /// Whether it was queued (false: the inbox was full and the oldest answer was dropped).
    pub queued: bool,
}

/// An answer waiting in a peer's inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The topic (40 hex digits).
    pub topic: String,
    /// Who answered.
    pub from: String,
    /// The opaque answer.
    pub signal: String,
}

/// The answers to the caller's offers, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswersResponse {
    /// The answers (the inbox is emptied).
    pub answers: Vec<Answer>,
}

/// Whether a withdraw removed an offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawResponse {
    /// False when the caller had no offer on the topic.
    pub withdrawn: bool,
}

/// Server counters (`GET /v1/stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Registered peers now.
    pub peers: u64,
    /// Topics with at least one live offer now.
    pub topics: u64,
    /// Live offers now.
    pub offers: u64,
    /// Registrations since start.
    pub registrations: u64,
    /// Publishes since start.
    pub publishes: u64,
    /// Queries since start.
    pub queries: u64,
    /// Offers returned by queries since start.
    pub offers_returned: u64,
    /// Offers left out of query answers by bloom filters since start.
    pub offers_filtered: u64,
    /// Offers that expired since start.
    pub offers_expired: u64,
    /// Offers withdrawn since start.
    pub offers_withdrawn: u64,
    /// Answers queued since start.
    pub answers: u64,
    /// Requests refused for missing or wrong credentials.
    pub rejected_auth: u64,
    /// Requests refused by a rate limit.
    pub rejected_rate: u64,
    /// Requests refused because a bound (peers, topics, offers) was reached.
    pub rejected_full: u64,
    /// Malformed requests (bad JSON, bad topic, oversized body or fields).
    pub rejected_bad: u64,
}

/// The JSON body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code (`bad_json`, `unauthorized`, ...).
    pub code: String,
    /// A human-readable message.
    pub error: String,
}

/// The server's bounds. Memory is bounded by `max_peers`, `max_topics`, `max_offers` (at most
/// `max_offers_per_topic` per topic, `max_topics_per_peer` per peer, `max_addrs` addresses
/// each), `max_inbox` answers per peer and `max_signal_total_bytes` of signaling blobs overall.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Largest signaling blob (offer or answer).
    pub max_signal_bytes: usize,
    /// Most addresses in an offer.
    pub max_addrs: usize,
    /// Longest offer lifetime.
    pub max_ttl: Duration,
    /// Lifetime of an offer that names none.
    pub default_ttl: Duration,
    /// Most registered peers (idle ones without offers are evicted first).
    pub max_peers: usize,
    /// A peer with no offers and no requests for this long may be evicted.
    pub peer_idle: Duration,
    /// Most topics with offers.
    pub max_topics: usize,
    /// Most offers on one topic.
    pub max_offers_per_topic: usize,
    /// Most topics one peer publishes on.
    pub max_topics_per_peer: usize,
    /// Most live offers, all topics together.
    pub max_offers: usize,
    /// Most bytes of signaling blobs held, offers and inboxes together.
    pub max_signal_total_bytes: usize,
    /// Most offers one query returns.
    pub max_query_limit: u32,
    /// Offers a query returns when it names no limit.
    pub default_query_limit: u32,
    /// Most answers waiting per peer (the oldest is dropped beyond).
    pub max_inbox: usize,
    /// Per-credential token bucket: burst.
    pub rate_burst: f64,
    /// Per-credential token bucket: requests per second.
    pub rate_per_sec: f64,
    /// Server-wide registration bucket: burst.
    pub register_burst: f64,
    /// Server-wide registration bucket: registrations per second.
    pub register_per_sec: f64,
    /// Most concurrent connections.
    pub max_connections: usize,
    /// Time allowed to send a request's headers.
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024,
            max_signal_bytes: 8 * 1024,
            max_addrs: 8,
            max_ttl: Duration::from_secs(3600),
            default_ttl: Duration::from_secs(120),
            max_peers: 100_000,
            peer_idle: Duration::from_secs(3600),
            max_topics: 100_000,
            max_offers_per_topic: 1000,
            max_topics_per_peer: 512,
            max_offers: 200_000,
            max_signal_total_bytes: 64 << 20,
            max_query_limit: 200,
            default_query_limit: 50,
            max_inbox: 64,
            rate_burst: 200.0,
            rate_per_sec: 50.0,
            register_burst: 200.0,
            register_per_sec: 50.0,
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
        }
    }
}
