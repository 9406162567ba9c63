//! The storage-node role: answering `ping`, `find_node`, `get_peers`, `announce_peer`, `get` and
//! `put` queries from other nodes.

use std::net::SocketAddr;
use std::time::Instant;

use crate::compact::NodeInfo;
use crate::error::ErrorCode;
use crate::id::Id;
use crate::item::{ImmutableItem, ItemError, MAX_SALT_LEN, MutableItem};
use crate::item_store::Item;
use crate::message::{Body, Message, PutRequest, Query, QueryKind, Response};
use crate::node::Node;
use crate::routing::{Contact, K};
use crate::value::{MAX_VALUE_LEN, Value};

/// Most peers returned in one `get_peers` reply (keeps the datagram well under 1500 bytes).
const MAX_VALUES: usize = 50;

type Reply = Result<Response, (ErrorCode, &'static str)>;

impl Node {
    pub(crate) fn handle_query(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transaction_id: Vec<u8>,
        read_only: bool,
        query: Query,
    ) {
        // BEP 43: "nodes that receive queries with ro=1 should not add the querying node to
        // their routing table".
        if !read_only && self.admissible(&query.id, &from) {
            let info = NodeInfo {
                id: query.id,
                addr: from,
            };
            self.table.heard_from(info, Contact::Queried, now);
        }
        let reply = match query.kind {
            QueryKind::Ping => Ok(self.response()),
            QueryKind::FindNode { target } => {
                Ok(self.with_nodes(self.response(), &target, from, now))
            }
            QueryKind::GetPeers { info_hash } => Ok(self.with_nodes(
                Response {
                    values: self
                        .peers
                        .peers(&info_hash, from.is_ipv6(), MAX_VALUES, now),
                    token: Some(self.tokens.issue(from.ip())),
                    ..self.response()
                },
                &info_hash,
                from,
                now,
            )),
            QueryKind::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => self.announce(now, from, info_hash, port, implied_port, &token),
            QueryKind::Get { target, seq } => Ok(self.get(now, from, &target, seq)),
            QueryKind::Put(put) => self.put(now, from, put),
            QueryKind::Unknown { .. } => Err((ErrorCode::MethodUnknown, "method unknown")),
        };
        match reply {
            Ok(response) => {
                self.stats.queries_answered += 1;
                let message = Message {
                    transaction_id,
                    version: self.config.version.map(|v| v.to_vec()),
                    read_only: false,
                    requester_ip: Some(from),
                    body: Body::Response(response),
                };
                self.push_transmit(from, &message);
            }
            Err((code, text)) => self.send_error(from, transaction_id, code, text),
        }
    }

    fn response(&self) -> Response {
        Response {
            id: self.id,
            ..Response::default()
        }
    }

    /// Adds the `K` closest nodes of the requester's address family (`nodes` or `nodes6`).
    fn with_nodes(
        &self,
        mut response: Response,
        target: &Id,
        from: SocketAddr,
        now: Instant,
    ) -> Response {
        let mut nodes: Vec<NodeInfo> = self.table.closest(target, K + 1, now);
        nodes.retain(|n| n.addr != from && n.addr.is_ipv6() == from.is_ipv6());
        nodes.truncate(K);
        if from.is_ipv6() {
            response.nodes6 = nodes;
        } else {
            response.nodes = nodes;
        }
        response
    }

    fn announce(
        &mut self,
        now: Instant,
        from: SocketAddr,
        info_hash: Id,
        port: u16,
        implied_port: bool,
        token: &[u8],
    ) -> Reply {
        if !self.tokens.check(from.ip(), token) {
            return Err((ErrorCode::Protocol, "bad token"));
        }
        // BEP 5: "if implied_port is present and non-zero, the port argument should be ignored
        // and the source port of the UDP packet should be used as the peer's port instead".
        let port = if implied_port { from.port() } else { port };
        if port == 0 {
            return Err((ErrorCode::Protocol, "port 0"));
        }
        self.peers
            .announce(info_hash, SocketAddr::new(from.ip(), port), now);
        Ok(self.response())
    }

    fn get(&self, now: Instant, from: SocketAddr, target: &Id, seq: Option<i64>) -> Response {
        let mut response = self.with_nodes(
            Response {
                token: Some(self.tokens.issue(from.ip())),
                ..self.response()
            },
            target,
            from,
            now,
        );
        match self.items.get(target, now) {
            Some(Item::Immutable(item)) => {
                response.value = Some(item.value().as_bencode().to_vec());
            }
            Some(Item::Mutable(item)) => {
                response.key = Some(*item.key());
                response.signature = Some(*item.signature());
                response.seq = Some(item.seq());
                // BEP 44: "if the sequence number in the request is ... greater than or equal to
                // the stored one, the value is omitted".
                if seq.is_none_or(|seq| item.seq() > seq) {
                    response.value = Some(item.value().as_bencode().to_vec());
                }
            }
            None => {}
        }
        response
    }

    fn put(&mut self, now: Instant, from: SocketAddr, put: PutRequest) -> Reply {
        if !self.tokens.check(from.ip(), &put.token) {
            return Err((ErrorCode::Protocol, "bad token"));
        }
        if put.value.len() > MAX_VALUE_LEN {
            return Err((ErrorCode::ValueTooBig, "message (v field) too big"));
        }
        if put.salt.len() > MAX_SALT_LEN {
            return Err((ErrorCode::SaltTooBig, "salt (salt field) too big"));
        }
        let Ok(value) = Value::from_bencode(put.value) else {
            return Err((ErrorCode::Protocol, "v is not bencode"));
        };
        let item = match put.mutable {
            None => Item::Immutable(ImmutableItem::new(value)),
            Some(m) => match MutableItem::from_parts(m.key, put.salt, m.seq, value, m.signature) {
                Ok(item) => Item::Mutable(item),
                Err(ItemError::SaltTooBig { .. }) => {
                    return Err((ErrorCode::SaltTooBig, "salt (salt field) too big"));
                }
                Err(_) => return Err((ErrorCode::InvalidSignature, "invalid signature")),
            },
        };
        match self.items.put(item, put.cas, now) {
            Ok(()) => Ok(self.response()),
            Err(ErrorCode::CasMismatch) => Err((ErrorCode::CasMismatch, "cas mismatch")),
            Err(ErrorCode::SequenceTooLow) => Err((
                ErrorCode::SequenceTooLow,
                "sequence number less than current",
            )),
            Err(_) => Err((ErrorCode::Server, "item store full")),
        }
    }
}
