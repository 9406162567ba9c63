//! Property tests: every message we encode decodes back to itself, and no input panics.

use proptest::prelude::*;
use swarmfs_dht::{
    Body, ErrorCode, ErrorReply, Id, Message, MutablePut, NodeInfo, PutRequest, Query, QueryKind,
    Response, Value,
};

fn id() -> impl Strategy<Value = Id> {
    any::<[u8; 20]>().prop_map(Id)
}

fn addr() -> impl Strategy<Value = std::net::SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| (ip, port).into()),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| (ip, port).into()),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..100)
            .prop_map(|b| Value::from_byte_string(&b).unwrap().as_bencode().to_vec()),
        any::<[u8; 20]>().prop_map(|ih| Value::bep46(&ih).as_bencode().to_vec()),
        any::<i64>().prop_map(|i| format!("i{i}e").into_bytes()),
    ]
}

fn query_kind() -> impl Strategy<Value = QueryKind> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..30);
    prop_oneof![
        Just(QueryKind::Ping),
        id().prop_map(|target| QueryKind::FindNode { target }),
        id().prop_map(|info_hash| QueryKind::GetPeers { info_hash }),
        (id(), any::<u16>(), any::<bool>(), bytes()).prop_map(
            |(info_hash, port, implied_port, token)| {
                QueryKind::AnnouncePeer {
                    info_hash,
                    port,
                    implied_port,
                    token,
                }
            }
        ),
        (id(), proptest::option::of(any::<i64>()))
            .prop_map(|(target, seq)| QueryKind::Get { target, seq }),
        (
            bytes(),
            value(),
            proptest::option::of((
                any::<[u8; 32]>(),
                proptest::collection::vec(any::<u8>(), 64),
                any::<i64>()
            )),
            bytes(),
            proptest::option::of(any::<i64>())
        )
            .prop_map(|(token, value, mutable, salt, cas)| {
                let mutable = mutable.map(|(key, sig, seq)| MutablePut {
                    key,
                    signature: sig.try_into().unwrap(),
                    seq,
                });
                let salt = if mutable.is_some() { salt } else { Vec::new() };
                QueryKind::Put(PutRequest {
                    token,
                    value,
                    mutable,
                    salt,
                    cas,
                })
            }),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    let nodes = |v6: bool| {
        proptest::collection::vec((id(), addr()), 0..8).prop_map(move |list| {
            list.into_iter()
                .filter(|(_, a)| a.is_ipv6() == v6)
                .map(|(id, addr)| NodeInfo { id, addr })
                .collect::<Vec<_>>()
        })
    };
    prop_oneof![
        (id(), query_kind()).prop_map(|(id, kind)| Body::Query(Query { id, kind })),
        (
            id(),
            nodes(false),
            nodes(true),
            proptest::collection::vec(addr(), 0..5),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            proptest::option::of(value()),
            proptest::option::of(any::<i64>()),
        )
            .prop_map(|(id, nodes, nodes6, values, token, value, seq)| {
                Body::Response(Response {
                    id,
                    nodes,
                    nodes6,
                    values,
                    token,
                    value,
                    seq,
                    key: None,
                    signature: None,
                })
            }),
        (200i64..400, "[a-z ]{0,20}").prop_map(|(code, message)| Body::Error(ErrorReply {
            code: ErrorCode::from_code(code),
            message
        })),
    ]
}

proptest! {
    #[test]
    fn round_trip(
        tid in proptest::collection::vec(any::<u8>(), 0..9),
        version in proptest::option::of(proptest::collection::vec(any::<u8>(), 4)),
        read_only in any::<bool>(),
        requester_ip in proptest::option::of(addr()),
        body in body(),
    ) {
        let read_only = read_only && matches!(body, Body::Query(_));
        let msg = Message { transaction_id: tid, version, read_only, requester_ip, body };
        let bytes = msg.to_bytes();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), msg);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn mutated_valid_messages_never_panic(body in body(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut bytes = Message { transaction_id: b"ab".to_vec(), version: None, read_only: false, requester_ip: None, body }.to_bytes();
        for (at, byte) in flips {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        let _ = Message::decode(&bytes);
    }
}
