//! Known-answer decoding of every KRPC datagram captured from libtorrent 2.1.1, bittorrent-dht 11
//! and mainline 8.0.1 (`tests/fixtures/`, copied from `shared/fixtures/dht`).

use std::path::{Path, PathBuf};

use swarmfs_dht::{Body, ErrorCode, Id, Message, MutableItem, QueryKind, Value};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn all_bins() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for impl_dir in std::fs::read_dir(fixture_dir()).unwrap() {
        let impl_dir = impl_dir.unwrap().path();
        if !impl_dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&impl_dir).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "bin") {
                out.push(file);
            }
        }
    }
    out.sort();
    out
}

fn load(rel: &str) -> Message {
    let bytes = std::fs::read(fixture_dir().join(rel)).unwrap();
    Message::decode(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn every_captured_datagram_decodes_and_reencodes_stably() {
    let files = all_bins();
    assert!(files.len() > 100, "fixtures missing: {}", files.len());
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let msg = Message::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let again = Message::decode(&msg.to_bytes()).unwrap();
        assert_eq!(msg, again, "{}", file.display());
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        match &msg.body {
            Body::Query(_) => assert!(name.contains("query"), "{name}"),
            Body::Response(_) | Body::Error(_) => assert!(name.contains("response"), "{name}"),
        }
    }
}

#[test]
fn our_encoding_of_plain_queries_is_byte_identical() {
    // Queries that carry only keys we model re-encode to exactly the bytes captured.
    for rel in [
        "server-libtorrent/01_ping.query.bin",
        "server-libtorrent/02_find_node.query.bin",
        "server-libtorrent/03_get_peers_empty.query.bin",
        "server-libtorrent/07_put_mutable.query.bin",
        "server-libtorrent/14_put_immutable.query.bin",
        "server-libtorrent/17_put_bep46.query.bin",
        "server-bittorrent-dht/12_put_cas_mismatch.query.bin",
    ] {
        let bytes = std::fs::read(fixture_dir().join(rel)).unwrap();
        assert_eq!(Message::decode(&bytes).unwrap().to_bytes(), bytes, "{rel}");
    }
}

#[test]
fn transaction_ids_of_any_length() {
    assert_eq!(
        load("server-libtorrent/01_ping.query.bin")
            .transaction_id
            .len(),
        2
    );
    assert_eq!(
        load("server-mainline/01_ping.query.bin")
            .transaction_id
            .len(),
        4
    );
    let two = load("server-mainline/99_ping_2byte_tid.query.bin");
    assert_eq!(two.transaction_id.len(), 2);
    assert!(matches!(two.body, Body::Query(ref q) if q.kind == QueryKind::Ping));
}

#[test]
fn libtorrent_replies_carry_ip_and_version() {
    let msg = load("server-libtorrent/01_ping.response.bin");
    assert_eq!(msg.version.as_deref(), Some(&b"LT\x02\x11"[..]));
    assert_eq!(msg.requester_ip.unwrap().ip().to_string(), "127.0.0.1");
}

#[test]
fn get_peers_values_are_the_announced_peer() {
    for server in ["libtorrent", "bittorrent-dht", "mainline"] {
        let msg = load(&format!("server-{server}/05_get_peers_values.response.bin"));
        let Body::Response(r) = msg.body else {
            panic!("{server}: not a response")
        };
        assert_eq!(
            r.values,
            vec!["127.0.0.1:6881".parse().unwrap()],
            "{server}"
        );
        assert!(r.token.is_some(), "{server}");
    }
}

#[test]
fn error_codes_match_the_bep() {
    let cases = [
        (
            "server-libtorrent/10_put_stale_seq.response.bin",
            ErrorCode::SequenceTooLow,
        ),
        (
            "server-libtorrent/11_put_bad_sig.response.bin",
            ErrorCode::InvalidSignature,
        ),
        (
            "server-libtorrent/12_put_cas_mismatch.response.bin",
            ErrorCode::CasMismatch,
        ),
        (
            "server-bittorrent-dht/10_put_stale_seq.response.bin",
            ErrorCode::SequenceTooLow,
        ),
        (
            "server-bittorrent-dht/12_put_cas_mismatch.response.bin",
            ErrorCode::CasMismatch,
        ),
        (
            "server-mainline/11_put_stale_seq.response.bin",
            ErrorCode::SequenceTooLow,
        ),
        (
            "server-mainline/12_put_bad_sig.response.bin",
            ErrorCode::InvalidSignature,
        ),
        (
            "server-mainline/13_put_cas_mismatch.response.bin",
            ErrorCode::CasMismatch,
        ),
    ];
    for (rel, code) in cases {
        match load(rel).body {
            Body::Error(e) => assert_eq!(e.code, code, "{rel}"),
            other => panic!("{rel}: {other:?}"),
        }
    }
}

/// Every mutable item a server returned verifies, and its target is SHA-1(k || salt).
#[test]
fn mutable_get_replies_verify() {
    for (rel, salt, query) in [
        (
            "server-libtorrent/08_get_mutable.response.bin",
            &b"foobar"[..],
            "server-libtorrent/08_get_mutable.query.bin",
        ),
        (
            "server-bittorrent-dht/08_get_mutable.response.bin",
            b"foobar",
            "server-bittorrent-dht/08_get_mutable.query.bin",
        ),
        (
            "server-mainline/09_get_mutable.response.bin",
            b"foobar",
            "server-mainline/09_get_mutable.query.bin",
        ),
        (
            "server-libtorrent/18_get_bep46.response.bin",
            b"bep46",
            "server-libtorrent/18_get_bep46.query.bin",
        ),
        (
            "server-bittorrent-dht/18_get_bep46.response.bin",
            b"bep46",
            "server-bittorrent-dht/18_get_bep46.query.bin",
        ),
    ] {
        let Body::Response(r) = load(rel).body else {
            panic!("{rel}")
        };
        let Body::Query(q) = load(query).body else {
            panic!("{query}")
        };
        let QueryKind::Get { target, .. } = q.kind else {
            panic!("{query}")
        };
        let value = Value::from_bencode(r.value.clone().unwrap()).unwrap();
        let item = MutableItem::from_parts(
            r.key.unwrap(),
            salt.to_vec(),
            r.seq.unwrap(),
            value,
            r.signature.unwrap(),
        )
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(item.target(), target, "{rel}");
        if rel.contains("bep46") {
            let ih = item.value().bep46_info_hash().unwrap();
            assert_eq!(Id(ih), Id::sha1(b"interop-lab fixture infohash"));
        }
    }
}

#[test]
fn get_with_seq_omits_v_on_libtorrent_and_mainline() {
    for rel in [
        "server-libtorrent/09_get_mutable_seq.response.bin",
        "server-mainline/10_get_mutable_seq.response.bin",
    ] {
        let Body::Response(r) = load(rel).body else {
            panic!("{rel}")
        };
        assert_eq!(r.seq, Some(1), "{rel}");
        assert_eq!(r.value, None, "{rel}");
    }
}

#[test]
fn bep46_dict_put_from_bittorrent_dht_decodes() {
    let Body::Query(q) = load("client-bittorrent-dht/put_mutable_dict.query.bin").body else {
        panic!()
    };
    let QueryKind::Put(put) = q.kind else {
        panic!()
    };
    let value = Value::from_bencode(put.value).unwrap();
    assert!(value.bep46_info_hash().is_some());
    let m = put.mutable.unwrap();
    MutableItem::from_parts(m.key, put.salt, m.seq, value, m.signature).unwrap();
}

#[test]
fn immutable_item_target_is_sha1_of_v() {
    let Body::Response(r) = load("server-libtorrent/15_get_immutable.response.bin").body else {
        panic!()
    };
    let Body::Query(q) = load("server-libtorrent/15_get_immutable.query.bin").body else {
        panic!()
    };
    let QueryKind::Get { target, .. } = q.kind else {
        panic!()
    };
    assert_eq!(Id::sha1(&r.value.unwrap()), target);
}
