//! One sans-IO node answering hand-built queries: tokens, BEP 44 checks and error codes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use swarmfs_dht::{
    Body, Config, ErrorCode, Id, Message, MutableItem, MutablePut, Node, PutRequest, Query,
    QueryKind, Response, Value, node_id_for_ip,
};

struct Harness {
    node: Node,
    now: Instant,
    tid: u16,
}

impl Harness {
    fn new(config: Config) -> Self {
        let now = Instant::now();
        Harness {
            node: Node::new(config, now),
            now,
            tid: 0,
        }
    }

    /// Sends one query from `from`, returns the decoded reply (if any).
    fn ask(&mut self, from: SocketAddr, id: Id, kind: QueryKind) -> Option<Message> {
        self.tid += 1;
        let query = Message {
            transaction_id: self.tid.to_be_bytes().to_vec(),
            version: None,
            read_only: false,
            requester_ip: None,
            body: Body::Query(Query { id, kind }),
        };
        self.raw(from, &query.to_bytes())
    }

    fn raw(&mut self, from: SocketAddr, bytes: &[u8]) -> Option<Message> {
        self.node.handle_datagram(self.now, from, bytes);
        let transmit = self.node.poll_transmit()?;
        assert_eq!(transmit.to, from);
        assert!(self.node.poll_transmit().is_none());
        Some(Message::decode(&transmit.payload).unwrap())
    }

    fn response(&mut self, from: SocketAddr, kind: QueryKind) -> Response {
        match self
            .ask(from, Id::sha1(from.to_string().as_bytes()), kind)
            .map(|m| m.body)
        {
            Some(Body::Response(r)) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    fn error(&mut self, from: SocketAddr, kind: QueryKind) -> ErrorCode {
        match self.ask(from, Id::sha1(b"client"), kind).map(|m| m.body) {
            Some(Body::Error(e)) => e.code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn token(&mut self, from: SocketAddr, target: Id) -> Vec<u8> {
        self.response(from, QueryKind::Get { target, seq: None })
            .token
            .unwrap()
    }
}

fn client() -> SocketAddr {
    "10.1.1.1:4000".parse().unwrap()
}

fn mutable_put(token: Vec<u8>, item: &MutableItem, cas: Option<i64>) -> QueryKind {
    QueryKind::Put(PutRequest {
        token,
        value: item.value().as_bencode().to_vec(),
        mutable: Some(MutablePut {
            key: *item.key(),
            signature: *item.signature(),
            seq: item.seq(),
        }),
        salt: item.salt().to_vec(),
        cas,
    })
}

#[test]
fn replies_echo_any_transaction_id_and_carry_ip() {
    let mut h = Harness::new(Config::default());
    for tid in [&b"a"[..], b"ab", b"abcd", b"abcdefgh"] {
        let ping = Message {
            transaction_id: tid.to_vec(),
            version: None,
            read_only: false,
            requester_ip: None,
            body: Body::Query(Query {
                id: Id([1; 20]),
                kind: QueryKind::Ping,
            }),
        };
        let reply = h.raw(client(), &ping.to_bytes()).unwrap();
        assert_eq!(reply.transaction_id, tid);
        assert_eq!(reply.requester_ip, Some(client()));
        assert!(matches!(reply.body, Body::Response(ref r) if r.id == h.node.id()));
    }
}

#[test]
fn malformed_and_unknown_queries_get_typed_errors() {
    let mut h = Harness::new(Config::default());
    let reply = h
        .raw(client(), b"d1:ad2:id3:abce1:q4:ping1:t2:xy1:y1:qe")
        .unwrap();
    assert_eq!(reply.transaction_id, b"xy");
    assert!(matches!(reply.body, Body::Error(ref e) if e.code == ErrorCode::Protocol));
    let code = h.error(
        client(),
        QueryKind::Unknown {
            method: b"vote".to_vec(),
        },
    );
    assert_eq!(code, ErrorCode::MethodUnknown);
    assert!(h.raw(client(), b"garbage").is_none());
    assert!(
        h.raw(
            client(),
            b"d1:rd2:id20:abcdefghij0123456789e1:t4:zzzz1:y1:re"
        )
        .is_none(),
        "unsolicited reply"
    );
    assert_eq!(h.node.stats().dropped, 2);
}

#[test]
fn announce_requires_a_token_bound_to_the_ip() {
    let mut h = Harness::new(Config::default());
    let ih = Id::sha1(b"torrent");
    let token = h
        .response(client(), QueryKind::GetPeers { info_hash: ih })
        .token
        .unwrap();
    let other: SocketAddr = "10.9.9.9:4000".parse().unwrap();
    let announce = |token: Vec<u8>, implied_port| QueryKind::AnnouncePeer {
        info_hash: ih,
        port: 5555,
        implied_port,
        token,
    };
    assert_eq!(
        h.error(other, announce(token.clone(), false)),
        ErrorCode::Protocol
    );
    h.response(client(), announce(token.clone(), false));
    h.response(client(), announce(token, true));
    let mut values = h
        .response(other, QueryKind::GetPeers { info_hash: ih })
        .values;
    values.sort();
    assert_eq!(
        values,
        vec![
            "10.1.1.1:4000".parse().unwrap(),
            "10.1.1.1:5555".parse().unwrap()
        ]
    );
}

#[test]
fn bep44_put_checks() {
    let mut h = Harness::new(Config::default());
    let key = SigningKey::from_bytes(&[7; 32]);
    let item = |seq, v: &[u8]| {
        MutableItem::sign(&key, b"salt", seq, Value::from_byte_string(v).unwrap()).unwrap()
    };
    let target = item(1, b"x").target();
    let token = h.token(client(), target);

    assert_eq!(
        h.error(client(), mutable_put(b"bad".to_vec(), &item(1, b"x"), None)),
        ErrorCode::Protocol
    );
    h.response(
        client(),
        mutable_put(token.clone(), &item(5, b"five"), None),
    );
    assert_eq!(
        h.error(client(), mutable_put(token.clone(), &item(4, b"old"), None)),
        ErrorCode::SequenceTooLow
    );
    assert_eq!(
        h.error(
            client(),
            mutable_put(token.clone(), &item(6, b"six"), Some(4))
        ),
        ErrorCode::CasMismatch
    );
    h.response(
        client(),
        mutable_put(token.clone(), &item(6, b"six"), Some(5)),
    );

    // A signature over other bytes: 206.
    let good = item(7, b"seven");
    let QueryKind::Put(mut forged) = mutable_put(token.clone(), &good, None) else {
        unreachable!()
    };
    forged.value = Value::from_byte_string(b"evil")
        .unwrap()
        .as_bencode()
        .to_vec();
    assert_eq!(
        h.error(client(), QueryKind::Put(forged)),
        ErrorCode::InvalidSignature
    );

    let QueryKind::Put(mut salty) = mutable_put(token.clone(), &good, None) else {
        unreachable!()
    };
    salty.salt = vec![0; 65];
    assert_eq!(
        h.error(client(), QueryKind::Put(salty)),
        ErrorCode::SaltTooBig
    );
    let big = PutRequest {
        token: token.clone(),
        value: Value::from_byte_string(&[0; 996])
            .unwrap()
            .as_bencode()
            .to_vec(),
        mutable: None,
        salt: Vec::new(),
        cas: None,
    };
    h.response(client(), QueryKind::Put(big.clone()));
    let mut too_big = big;
    too_big.value = format!("997:{}", "a".repeat(997)).into_bytes();
    assert_eq!(
        h.error(client(), QueryKind::Put(too_big)),
        ErrorCode::ValueTooBig
    );

    // get returns the newest item, and omits v when the caller already has that seq.
    let r = h.response(client(), QueryKind::Get { target, seq: None });
    assert_eq!(
        (r.seq, r.key),
        (Some(6), Some(key.verifying_key().to_bytes()))
    );
    assert_eq!(r.value.as_deref(), Some(&b"3:six"[..]));
    let r = h.response(
        client(),
        QueryKind::Get {
            target,
            seq: Some(6),
        },
    );
    assert_eq!((r.seq, r.value), (Some(6), None));
}

#[test]
fn items_and_peers_expire() {
    let mut config = Config::default();
    config.item_ttl = Duration::from_secs(60);
    let mut h = Harness::new(config);
    let value = Value::from_byte_string(b"imm").unwrap();
    let target = Id::sha1(value.as_bencode());
    let token = h.token(client(), target);
    h.response(
        client(),
        QueryKind::Put(PutRequest {
            token,
            value: value.as_bencode().to_vec(),
            mutable: None,
            salt: Vec::new(),
            cas: None,
        }),
    );
    assert!(
        h.response(client(), QueryKind::Get { target, seq: None })
            .value
            .is_some()
    );
    h.now += Duration::from_secs(61);
    h.node.handle_timeout(h.now);
    while h.node.poll_transmit().is_some() {}
    assert!(
        h.response(client(), QueryKind::Get { target, seq: None })
            .value
            .is_none()
    );
}

#[test]
fn bep42_enforced_for_public_ips_only() {
    let mut h = Harness::new(Config::default());
    let public: SocketAddr = "124.31.75.21:6881".parse().unwrap();
    h.ask(public, Id([9; 20]), QueryKind::Ping).unwrap();
    assert_eq!(h.node.stats().routing_nodes, 0, "forged id kept out");
    let mut rng = rand::thread_rng();
    let good = node_id_for_ip(public.ip(), 1, &mut rng);
    h.ask(public, good, QueryKind::Ping).unwrap();
    h.ask(client(), Id([3; 20]), QueryKind::Ping).unwrap();
    assert_eq!(h.node.stats().routing_nodes, 2);
}

#[test]
fn read_only_node_answers_nothing_and_flags_its_queries() {
    let mut config = Config::default();
    config.read_only = true;
    let mut h = Harness::new(config);
    assert!(h.ask(client(), Id([1; 20]), QueryKind::Ping).is_none());
    let now = h.now;
    h.node.ping(now, client());
    let sent = Message::decode(&h.node.poll_transmit().unwrap().payload).unwrap();
    assert!(sent.read_only);
    assert_eq!(sent.transaction_id.len(), 4);
    // A querier with ro=1 is not added to our table (BEP 43).
    let mut h = Harness::new(Config::default());
    let ro_ping = Message {
        transaction_id: b"aa".to_vec(),
        version: None,
        read_only: true,
        requester_ip: None,
        body: Body::Query(Query {
            id: Id([4; 20]),
            kind: QueryKind::Ping,
        }),
    };
    h.raw(client(), &ro_ping.to_bytes()).unwrap();
    assert_eq!(h.node.stats().routing_nodes, 0);
}

#[test]
fn queries_rate_limited_per_public_ip_but_not_loopback() {
    let mut config = Config::default();
    config.max_queries_per_ip = 20;
    let mut h = Harness::new(config);
    let public: SocketAddr = "10.7.7.7:6881".parse().unwrap();
    let answered = (0..30)
        .filter(|_| h.ask(public, Id([5; 20]), QueryKind::Ping).is_some())
        .count();
    assert_eq!(answered, 20);
    h.now += Duration::from_secs(1);
    assert!(
        h.ask(public, Id([5; 20]), QueryKind::Ping).is_some(),
        "window over"
    );
    let lo: SocketAddr = "127.0.0.1:6881".parse().unwrap();
    let answered = (0..30)
        .filter(|_| h.ask(lo, Id([6; 20]), QueryKind::Ping).is_some())
        .count();
    assert_eq!(answered, 30);
}
