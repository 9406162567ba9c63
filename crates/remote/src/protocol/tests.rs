use super::*;
use serde_json::json;

fn dec(v: Value) -> ClientMessage {
    ClientMessage::decode(v.to_string().as_bytes()).unwrap()
}

#[test]
fn decodes_the_npm_client_shapes() {
    // Exactly what webtorrent-remote 2.1.0 client.js sends.
    let m = dec(
        json!({"type": "subscribe", "clientKey": "a1", "torrentKey": "t1",
        "torrentId": "magnet:?xt=urn:btih:6a9759bffd5c0af65319979fb7832189f4f3c35d"}),
    );
    assert!(
        matches!(&m, ClientMessage::Subscribe { torrent_id, .. } if torrent_id.starts_with("magnet:"))
    );
    let m = dec(
        json!({"type": "add-torrent", "clientKey": "a1", "torrentKey": "t2",
        "torrentId": "abc", "opts": {"server": {}, "announce": ["x"]}}),
    );
    let ClientMessage::AddTorrent { opts: Some(o), .. } = &m else {
        panic!("{m:?}")
    };
    assert_eq!(o.server, Some(json!({})));
    assert_eq!(o.other.get("announce"), Some(&json!(["x"])));
    assert_eq!(m.torrent_key(), Some("t2"));
    // createServer() with no options: `opts` is undefined, so absent from the JSON.
    let m = dec(json!({"type": "create-server", "clientKey": "a1", "torrentKey": "t2"}));
    assert!(matches!(m, ClientMessage::CreateServer { opts: None, .. }));
    let m = dec(json!({"type": "heartbeat", "clientKey": "a1"}));
    assert_eq!(m.client_key(), "a1");
    assert_eq!(m.torrent_key(), None);
    let m = dec(json!({"type": "destroy", "clientKey": "a1"}));
    assert!(matches!(m, ClientMessage::Destroy { opts: None, .. }));
    let m = dec(json!({"type": "destroy", "clientKey": "a1", "opts": {"delay": 250}}));
    assert!(matches!(
        m,
        ClientMessage::Destroy {
            opts: Some(DestroyOptions { delay: Some(250) }),
            ..
        }
    ));
    // opts: null is accepted too.
    let m = dec(
        json!({"type": "add-torrent", "clientKey": "a", "torrentKey": "t",
        "torrentId": "x", "opts": null}),
    );
    assert!(matches!(m, ClientMessage::AddTorrent { opts: None, .. }));
}

#[test]
fn hostile_messages_are_typed_errors() {
    let e = |b: &[u8]| ClientMessage::decode(b).unwrap_err();
    assert!(matches!(e(b"{not json"), DecodeError::Malformed { .. }));
    assert!(matches!(e(b"[1,2]"), DecodeError::NoType));
    assert!(matches!(e(b"{\"clientKey\":\"a\"}"), DecodeError::NoType));
    assert!(
        matches!(e(br#"{"type":"rm -rf","clientKey":"a"}"#), DecodeError::UnknownType { kind } if kind == "rm -rf")
    );
    assert!(matches!(
        e(br#"{"type":"subscribe","clientKey":"a"}"#),
        DecodeError::Malformed { .. }
    ));
    assert!(matches!(
        e(br#"{"type":"heartbeat","clientKey":7}"#),
        DecodeError::Malformed { .. }
    ));
    assert!(matches!(
        e(br#"{"type":"heartbeat","clientKey":""}"#),
        DecodeError::BadKey { .. }
    ));
    let long = format!(
        r#"{{"type":"heartbeat","clientKey":"{}"}}"#,
        "k".repeat(200)
    );
    assert!(matches!(
        e(long.as_bytes()),
        DecodeError::BadKey { len: 200, .. }
    ));
    let huge = vec![b' '; MAX_MESSAGE_LEN + 1];
    assert!(matches!(e(&huge), DecodeError::Oversized { .. }));
    let t = format!(r#"{{"type":"{}","clientKey":"a"}}"#, "é".repeat(100));
    assert!(matches!(e(t.as_bytes()), DecodeError::UnknownType { kind } if kind.len() <= 64));
    // A server message is not a client message.
    assert!(matches!(
        e(br#"{"type":"update","clientKey":"a"}"#),
        DecodeError::UnknownType { .. }
    ));
}

#[test]
fn server_messages_have_the_npm_field_names() {
    let m = ServerMessage::TorrentSubscribed {
        client_key: "c".into(),
        torrent_key: "t".into(),
        torrent: None,
    };
    assert_eq!(
        m.to_value(),
        json!({"type": "torrent-subscribed", "clientKey": "c", "torrentKey": "t", "torrent": null})
    );
    let info = TorrentInfo {
        name: Some("n".into()),
        info_hash: Some("ab".into()),
        length: Some(3),
        files: Some(vec![FileInfo {
            name: "n/a".into(),
            length: 3,
        }]),
        ..TorrentInfo::default()
    };
    let m = ServerMessage::Metadata {
        client_key: "c".into(),
        torrent_key: "t".into(),
        torrent: info,
    };
    assert_eq!(
        m.to_value(),
        json!({"type": "metadata", "clientKey": "c", "torrentKey": "t", "torrent":
            {"name": "n", "infoHash": "ab", "length": 3, "files": [{"name": "n/a", "length": 3}]}})
    );
    let m = ServerMessage::ServerReady {
        client_key: "c".into(),
        torrent_key: "t".into(),
        server_address: "127.0.0.1:80"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
        server_url: "http://127.0.0.1:80".into(),
    };
    assert_eq!(
        m.to_value(),
        json!({"type": "server-ready", "clientKey": "c", "torrentKey": "t",
            "serverAddress": {"address": "127.0.0.1", "family": "IPv4", "port": 80},
            "serverURL": "http://127.0.0.1:80"})
    );
    let p = TorrentInfo {
        progress: Some(0.5),
        downloaded: Some(1),
        uploaded: Some(2),
        download_speed: Some(3.0),
        upload_speed: Some(4.0),
        ratio: Some(2.0),
        num_peers: Some(1),
        time_remaining: Some(5.0),
        ..TorrentInfo::default()
    };
    let v = serde_json::to_value(&p).unwrap();
    for k in [
        "progress",
        "downloaded",
        "uploaded",
        "downloadSpeed",
        "uploadSpeed",
        "ratio",
        "numPeers",
        "timeRemaining",
    ] {
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }
    let w = ServerMessage::Warning {
        client_key: "c".into(),
        torrent_key: None,
        error: ErrorInfo {
            message: "m".into(),
            stack: None,
        },
    };
    assert_eq!(
        w.to_value(),
        json!({"type": "warning", "clientKey": "c", "error": {"message": "m"}})
    );
    // Round trip.
    let back = ServerMessage::decode(w.to_value().to_string().as_bytes()).unwrap();
    assert_eq!(back, w);
}

#[test]
fn extension_messages_live_in_the_versioned_namespace() {
    let m = dec(
        json!({"type": "swarmfs/v1/remove", "clientKey": "c", "requestId": "r1",
        "infoHash": "ab", "deleteData": true}),
    );
    assert!(matches!(
        &m,
        ClientMessage::Remove {
            delete_data: true,
            ..
        }
    ));
    assert_eq!(m.request_id(), Some("r1"));
    let m = dec(
        json!({"type": "swarmfs/v1/remove", "clientKey": "c", "requestId": "r1",
        "infoHash": "ab"}),
    );
    assert!(matches!(
        &m,
        ClientMessage::Remove {
            delete_data: false,
            ..
        }
    ));
    let m = dec(
        json!({"type": "swarmfs/v1/read-file", "clientKey": "c", "requestId": "r",
        "infoHash": "ab", "path": "/a"}),
    );
    assert!(matches!(
        &m,
        ClientMessage::ReadFile {
            offset: 0,
            length: None,
            ..
        }
    ));
    let m = dec(json!({"type": "swarmfs/v1/select-files", "clientKey": "c",
        "requestId": "r", "infoHash": "ab", "files": [0, 2]}));
    assert!(matches!(&m, ClientMessage::SelectFiles { files, .. } if files == &[0, 2]));
    // Every client type round-trips through JSON with its namespaced name.
    for v in [
        json!({"type": "swarmfs/v1/list", "clientKey": "c", "requestId": "r"}),
        json!({"type": "swarmfs/v1/list", "clientKey": "c", "requestId": "r", "after": "ab"}),
        json!({"type": "swarmfs/v1/pause", "clientKey": "c", "requestId": "r", "infoHash": "a"}),
        json!({"type": "swarmfs/v1/resume", "clientKey": "c", "requestId": "r", "infoHash": "a"}),
        json!({"type": "swarmfs/v1/read-dir", "clientKey": "c", "requestId": "r",
            "infoHash": "a", "path": "/"}),
        json!({"type": "swarmfs/v1/watch-mutable", "clientKey": "c", "requestId": "r",
            "url": "magnet:?xs=urn:btpk:00", "interval": 500}),
        json!({"type": "swarmfs/v1/unwatch-mutable", "clientKey": "c", "requestId": "r"}),
    ] {
        assert_eq!(dec(v.clone()).to_value(), v);
    }
    let e = |v: Value| ClientMessage::decode(v.to_string().as_bytes()).unwrap_err();
    // A request without its id, with an empty id, or of an unknown version.
    assert!(matches!(
        e(json!({"type": "swarmfs/v1/list", "clientKey": "c"})),
        DecodeError::Malformed { .. }
    ));
    assert!(matches!(
        e(json!({"type": "swarmfs/v1/list", "clientKey": "c", "requestId": ""})),
        DecodeError::BadKey {
            field: "requestId",
            ..
        }
    ));
    assert!(matches!(
        e(json!({"type": "swarmfs/v2/list", "clientKey": "c", "requestId": "r"})),
        DecodeError::UnknownType { .. }
    ));
    let r = ServerMessage::Bytes {
        client_key: "c".into(),
        request_id: "r".into(),
        offset: 5,
        file_length: 9,
        data: ext::base64_encode(b"abcd"),
    };
    assert_eq!(
        r.to_value(),
        json!({"type": "swarmfs/v1/bytes", "clientKey": "c", "requestId": "r", "offset": 5,
            "fileLength": 9, "data": "YWJjZA=="})
    );
    assert_eq!(r.kind(), "swarmfs/v1/bytes");
    let l = ServerMessage::Torrents {
        client_key: "c".into(),
        request_id: "r".into(),
        torrents: vec![TorrentEntry {
            torrent: TorrentInfo {
                info_hash: Some("ab".into()),
                progress: Some(1.0),
                ..TorrentInfo::default()
            },
            has_metadata: true,
            paused: false,
            done: true,
            subscribers: 2,
            kept: false,
        }],
        truncated: false,
    };
    assert_eq!(
        l.to_value(),
        json!({"type": "swarmfs/v1/torrents", "clientKey": "c", "requestId": "r",
            "truncated": false, "torrents": [{"infoHash": "ab", "progress": 1.0,
            "hasMetadata": true, "paused": false, "done": true, "subscribers": 2,
            "kept": false}]})
    );
    assert_eq!(
        ServerMessage::decode(l.to_value().to_string().as_bytes()).unwrap(),
        l
    );
}

#[test]
fn merge_keeps_fields_an_update_lacks() {
    let mut t = TorrentInfo {
        name: Some("n".into()),
        progress: Some(0.1),
        ..TorrentInfo::default()
    };
    t.merge(&TorrentInfo {
        progress: Some(0.9),
        ..TorrentInfo::default()
    });
    assert_eq!(t.name.as_deref(), Some("n"));
    assert_eq!(t.progress, Some(0.9));
}
