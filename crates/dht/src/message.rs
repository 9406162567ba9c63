//! KRPC messages (BEP 5) with the BEP 44 `get`/`put` extension, and their encoding.
//!
//! A message is one UDP datagram: a bencoded dictionary with `t` (transaction id, any length),
//! `y` (`q`, `r` or `e`) and the body. Keys are written in sorted order, as bencode requires.

use std::net::SocketAddr;

use crate::bencode::{put_bytes, put_int, put_key_bytes, put_key_int};
use crate::compact::{self, NodeInfo};
use crate::error::ErrorCode;
use crate::id::Id;

/// One KRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `t`: echoed back in the response. BEP 5 sets no length; libtorrent uses 2 bytes, we send 4.
    pub transaction_id: Vec<u8>,
    /// `v`: the sender's client version, if given.
    pub version: Option<Vec<u8>>,
    /// `ro`: BEP 43 read-only flag on queries.
    pub read_only: bool,
    /// `ip`: BEP 42, the requester's address as the responder sees it.
    pub requester_ip: Option<SocketAddr>,
    /// The query, response or error.
    pub body: Body,
}

/// The three kinds of KRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `y = q`.
    Query(Query),
    /// `y = r`.
    Response(Response),
    /// `y = e`.
    Error(ErrorReply),
}

/// A query: the sender's id and the method with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The querying node's id.
    pub id: Id,
    /// Method and arguments.
    pub kind: QueryKind,
}

/// Query methods.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryKind {
    /// `ping`.
    Ping,
    /// `find_node`.
    FindNode {
        /// The id sought.
        target: Id,
    },
    /// `get_peers`.
    GetPeers {
        /// The torrent.
        info_hash: Id,
    },
    /// `announce_peer`.
    AnnouncePeer {
        /// The torrent.
        info_hash: Id,
        /// The announced port (ignored when `implied_port`).
        port: u16,
        /// Use the datagram's source port instead of `port`.
        implied_port: bool,
        /// The token from an earlier `get_peers`.
        token: Vec<u8>,
    },
    /// BEP 44 `get`.
    Get {
        /// The item's target.
        target: Id,
        /// Only send `v` if the stored item's seq is greater than this.
        seq: Option<i64>,
    },
    /// BEP 44 `put`.
    Put(PutRequest),
    /// Any other method (answered with error 204).
    Unknown {
        /// The method name (truncated to 64 bytes).
        method: Vec<u8>,
    },
}

/// Arguments of a BEP 44 `put`, as received (validated by the storing node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRequest {
    /// The write token from an earlier `get`.
    pub token: Vec<u8>,
    /// The raw bencoded value (one complete bencode value; its size is checked by the store).
    pub value: Vec<u8>,
    /// Mutable items: key, signature and sequence number.
    pub mutable: Option<MutablePut>,
    /// `salt` (mutable items only; empty when absent).
    pub salt: Vec<u8>,
    /// `cas`: expected current seq.
    pub cas: Option<i64>,
}

/// The fields of a mutable `put`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MutablePut {
    /// `k`: ed25519 public key.
    pub key: [u8; 32],
    /// `sig`: ed25519 signature.
    pub signature: [u8; 64],
    /// `seq`.
    pub seq: i64,
}

/// A response. Responses do not name their method; fields present depend on the query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The responder's id.
    pub id: Id,
    /// `nodes`: IPv4 nodes close to the target.
    pub nodes: Vec<NodeInfo>,
    /// `nodes6`: IPv6 nodes close to the target (BEP 32).
    pub nodes6: Vec<NodeInfo>,
    /// `values`: peers for a `get_peers`.
    pub values: Vec<SocketAddr>,
    /// `token` for a later `announce_peer` or `put`.
    pub token: Option<Vec<u8>>,
    /// BEP 44 `v` (raw bencode).
    pub value: Option<Vec<u8>>,
    /// BEP 44 `k`.
    pub key: Option<[u8; 32]>,
    /// BEP 44 `sig`.
    pub signature: Option<[u8; 64]>,
    /// BEP 44 `seq`.
    pub seq: Option<i64>,
}

/// An error reply: `e = [code, message]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The code.
    pub code: ErrorCode,
    /// The human-readable text.
    pub message: String,
}

impl Message {
    /// Encodes the message as a bencoded dictionary, appended to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(b'd');
        match &self.body {
            Body::Query(query) => {
                put_bytes(buf, b"a");
                encode_query_args(buf, query);
            }
            Body::Error(error) => {
                put_bytes(buf, b"e");
                buf.push(b'l');
                put_int(buf, error.code.code());
                put_bytes(buf, error.message.as_bytes());
                buf.push(b'e');
            }
            Body::Response(_) => {}
        }
        if let Some(ip) = &self.requester_ip {
            let mut compact_ip = Vec::with_capacity(18);
            compact::put_addr(&mut compact_ip, ip);
            put_key_bytes(buf, "ip", &compact_ip);
        }
        if let Body::Query(query) = &self.body {
            put_key_bytes(buf, "q", query.kind.method());
        }
        if let Body::Response(response) = &self.body {
            put_bytes(buf, b"r");
            encode_response(buf, response);
        }
        if self.read_only && matches!(self.body, Body::Query(_)) {
            put_key_int(buf, "ro", 1);
        }
        put_key_bytes(buf, "t", &self.transaction_id);
        if let Some(version) = &self.version {
            put_key_bytes(buf, "v", version);
        }
        let y: &[u8] = match self.body {
            Body::Query(_) => b"q",
            Body::Response(_) => b"r",
            Body::Error(_) => b"e",
        };
        put_key_bytes(buf, "y", y);
        buf.push(b'e');
    }

    /// Encodes into a fresh vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(256);
        self.encode(&mut buf);
        buf
    }
}

impl QueryKind {
    /// The KRPC method name.
    pub fn method(&self) -> &[u8] {
        match self {
            QueryKind::Ping => b"ping",
            QueryKind::FindNode { .. } => b"find_node",
            QueryKind::GetPeers { .. } => b"get_peers",
            QueryKind::AnnouncePeer { .. } => b"announce_peer",
            QueryKind::Get { .. } => b"get",
            QueryKind::Put(_) => b"put",
            QueryKind::Unknown { method } => method,
        }
    }
}

fn encode_query_args(buf: &mut Vec<u8>, query: &Query) {
    buf.push(b'd');
    match &query.kind {
        QueryKind::Ping | QueryKind::Unknown { .. } => {
            put_key_bytes(buf, "id", query.id.as_bytes());
        }
        QueryKind::FindNode { target } => {
            put_key_bytes(buf, "id", query.id.as_bytes());
            put_key_bytes(buf, "target", target.as_bytes());
        }
        QueryKind::GetPeers { info_hash } => {
            put_key_bytes(buf, "id", query.id.as_bytes());
            put_key_bytes(buf, "info_hash", info_hash.as_bytes());
        }
        QueryKind::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
        } => {
            put_key_bytes(buf, "id", query.id.as_bytes());
            put_key_int(buf, "implied_port", i64::from(*implied_port));
            put_key_bytes(buf, "info_hash", info_hash.as_bytes());
            put_key_int(buf, "port", i64::from(*port));
            put_key_bytes(buf, "token", token);
        }
        QueryKind::Get { target, seq } => {
            put_key_bytes(buf, "id", query.id.as_bytes());
            if let Some(seq) = seq {
                put_key_int(buf, "seq", *seq);
            }
            put_key_bytes(buf, "target", target.as_bytes());
        }
        QueryKind::Put(put) => {
            if let Some(cas) = put.cas {
                put_key_int(buf, "cas", cas);
            }
            put_key_bytes(buf, "id", query.id.as_bytes());
            if let Some(mutable) = &put.mutable {
                put_key_bytes(buf, "k", &mutable.key);
            }
            if !put.salt.is_empty() {
                put_key_bytes(buf, "salt", &put.salt);
            }
            if let Some(mutable) = &put.mutable {
                put_key_int(buf, "seq", mutable.seq);
                put_key_bytes(buf, "sig", &mutable.signature);
            }
            put_key_bytes(buf, "token", &put.token);
            put_bytes(buf, b"v");
            buf.extend_from_slice(&put.value);
        }
    }
    buf.push(b'e');
}

fn encode_response(buf: &mut Vec<u8>, response: &Response) {
    buf.push(b'd');
    put_key_bytes(buf, "id", response.id.as_bytes());
    if let Some(key) = &response.key {
        put_key_bytes(buf, "k", key);
    }
    if !response.nodes.is_empty() {
        put_key_bytes(buf, "nodes", &compact::encode_nodes(&response.nodes, false));
    }
    if !response.nodes6.is_empty() {
        put_key_bytes(
            buf,
            "nodes6",
            &compact::encode_nodes(&response.nodes6, true),
        );
    }
    if let Some(seq) = response.seq {
        put_key_int(buf, "seq", seq);
    }
    if let Some(signature) = &response.signature {
        put_key_bytes(buf, "sig", signature);
    }
    if let Some(token) = &response.token {
        put_key_bytes(buf, "token", token);
    }
    if let Some(value) = &response.value {
        put_bytes(buf, b"v");
        buf.extend_from_slice(value);
    }
    if !response.values.is_empty() {
        put_bytes(buf, b"values");
        buf.push(b'l');
        for peer in &response.values {
            let mut compact_peer = Vec::with_capacity(18);
            compact::put_addr(&mut compact_peer, peer);
            put_bytes(buf, &compact_peer);
        }
        buf.push(b'e');
    }
    buf.push(b'e');
}
