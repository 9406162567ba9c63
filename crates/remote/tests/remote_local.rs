//! Server core with a real swarmfs client, driven by in-process clients.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use swarmfs_remote::protocol::AddOptions;
use swarmfs_remote::{ClientOptions, RemoteClient, ServerMessage};

const T: Duration = Duration::from_secs(30);

fn kind_is(kind: &'static str, key: String) -> impl FnMut(&ServerMessage) -> bool {
    move |m| m.kind() == kind && m.torrent_key() == Some(key.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_metadata_update_done_and_stream() {
    let seeder = swarm_client().await;
    let (magnet, data) = seed(&seeder, "movie", 600_000, 3).await;
    let (server, router) = server(fast_config()).await;
    let mut a = RemoteClient::local(&server, &router, ClientOptions::default());
    let mut b = RemoteClient::local(&server, &router, ClientOptions::default());

    let ka = a.add(&magnet, AddOptions::default());
    let sub = a
        .wait_for(T, kind_is("torrent-subscribed", ka.clone()))
        .await
        .unwrap();
    let ServerMessage::TorrentSubscribed {
        torrent: Some(t), ..
    } = &sub
    else {
        panic!("{sub:?}")
    };
    let ih = t.info_hash.clone().unwrap();
    assert!(magnet.contains(&ih), "{ih} not in {magnet}");
    a.wait_for(T, kind_is("infohash", ka.clone()))
        .await
        .unwrap();
    a.wait_for(T, kind_is("metadata", ka.clone()))
        .await
        .unwrap();
    let props = a.torrent(&ka).unwrap().clone();
    assert_eq!(props.name.as_deref(), Some("movie"));
    assert_eq!(props.length, Some(data.len() as u64));
    let files = props.files.unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0].name.ends_with("data.bin"), "{:?}", files[0]);
    a.wait_for(T, kind_is("done", ka.clone())).await.unwrap();
    a.wait_for(T, kind_is("update", ka.clone())).await.unwrap();
    let props = a.torrent(&ka).unwrap().clone();
    assert_eq!(props.progress, Some(1.0));
    assert!(props.downloaded.unwrap() >= data.len() as u64);
    assert!(props.num_peers.is_some() && props.ratio.is_some());

    // B subscribes to the same torrent (the npm `get`) and asks for a server at add time.
    let (kb, tb) = b.get(&ih, T).await.unwrap();
    assert_eq!(tb.info_hash.as_deref(), Some(ih.as_str()));
    assert!(
        b.get("0000000000000000000000000000000000000000", T)
            .await
            .is_err()
    );

    a.create_server(&ka);
    let ready = a
        .wait_for(T, kind_is("server-ready", ka.clone()))
        .await
        .unwrap();
    let ServerMessage::ServerReady {
        server_address,
        server_url,
        ..
    } = ready
    else {
        panic!()
    };
    let addr: SocketAddr = format!("{}:{}", server_address.address, server_address.port)
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback());
    assert!(server_url.contains(&server_address.port.to_string()));
    let path = format!("/{}", files[0].name);
    let (status, body) = http_get(addr, &path, "Range: bytes=1000-1999\r\n").await;
    assert_eq!(status, 206, "{path}");
    assert_eq!(body, &data[1000..2000]);
    // A second request for the same torrent reuses the server.
    b.create_server(&kb);
    let again = b
        .wait_for(T, kind_is("server-ready", kb.clone()))
        .await
        .unwrap();
    let ServerMessage::ServerReady {
        server_url: url_b, ..
    } = again
    else {
        panic!()
    };
    assert_eq!(url_b, server_url);

    // Nothing for A ever reached B and vice versa.
    for _ in 0..3 {
        a.wait_for(T, kind_is("update", ka.clone())).await.unwrap();
        b.wait_for(T, kind_is("update", kb.clone())).await.unwrap();
    }
    assert_eq!(a.foreign_messages(), 0);
    assert_eq!(b.foreign_messages(), 0);

    // Unknown torrentKey: a warning, to this client only.
    a.create_server("nope");
    let w = a.wait_for(T, |m| m.kind() == "warning").await.unwrap();
    assert!(format!("{w:?}").contains("missing torrentKey"));
    server.shutdown().await;
    seeder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_timeout_and_delayed_destroy() {
    let seeder = swarm_client().await;
    let (shared, _) = seed(&seeder, "shared", 40_000, 1).await;
    let (alone, _) = seed(&seeder, "alone", 40_000, 2).await;
    let (server, router) = server(fast_config()).await;
    let hb = ClientOptions::default().heartbeat(Duration::from_millis(100));
    let mut a = RemoteClient::local(&server, &router, hb.clone());
    let mut b = RemoteClient::local(&server, &router, hb);

    let ka1 = a.add(&shared, AddOptions::default());
    let ka2 = a.add(&alone, AddOptions::default());
    let kb = b.add(&shared, AddOptions::default());
    let mut pending = vec![ka1, ka2];
    while !pending.is_empty() {
        let m = a.wait_for(T, |m| m.kind() == "done").await.unwrap();
        pending.retain(|k| Some(k.as_str()) != m.torrent_key());
    }
    b.wait_for(T, kind_is("done", kb.clone())).await.unwrap();
    assert_eq!(server.torrent_count(), 2);
    assert_eq!(server.client_count(), 2);

    // A vanishes without a word: after the heartbeat timeout and grace, its lone torrent
    // goes, the shared one stays for B.
    a.stop_heartbeats();
    drop(a);
    assert!(eventually(T, || server.torrent_count() == 1).await);
    assert_eq!(server.client_count(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(server.torrent_count(), 1, "b's torrent must survive");
    b.wait_for(T, kind_is("update", kb.clone())).await.unwrap();

    // B leaves with a delay: the torrent outlives the delay's start, then goes.
    b.destroy(Some(Duration::from_millis(400)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.torrent_count(), 1);
    assert!(eventually(T, || server.torrent_count() == 0).await);
    assert_eq!(server.client_count(), 0);
    server.shutdown().await;
    seeder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_dropped_and_add_with_server_option() {
    let seeder = swarm_client().await;
    let (magnet, data) = seed(&seeder, "g", 70_000, 5).await;
    let (server, router) = server(fast_config()).await;
    for junk in [
        &b"not json"[..],
        b"{}",
        b"[]",
        br#"{"type":"explode","clientKey":"x"}"#,
        br#"{"type":"add-torrent","clientKey":"x"}"#,
        br#"{"type":"heartbeat","clientKey":null}"#,
        &vec![b'{'; 70_000],
    ] {
        assert!(server.receive_bytes(junk).is_err());
    }
    assert_eq!(server.client_count(), 0);
    let mut a = RemoteClient::local(&server, &router, ClientOptions::default());
    // An invalid id answers torrent-subscribed null.
    let bad = a.add("definitely not a magnet", AddOptions::default());
    let m = a
        .wait_for(T, kind_is("torrent-subscribed", bad))
        .await
        .unwrap();
    assert!(matches!(
        m,
        ServerMessage::TorrentSubscribed { torrent: None, .. }
    ));
    // opts.server starts the streaming server at once.
    let opts: AddOptions = serde_json::from_value(serde_json::json!({"server": {}})).unwrap();
    let k = a.add(&magnet, opts);
    let m = a.wait_for(T, kind_is("server-ready", k)).await.unwrap();
    let ServerMessage::ServerReady { server_address, .. } = m else {
        panic!()
    };
    let addr: SocketAddr = format!("127.0.0.1:{}", server_address.port)
        .parse()
        .unwrap();
    let (status, body) = http_get(addr, "/data.bin", "").await;
    assert_eq!(status, 200);
    assert_eq!(body, data);
    // A client joining the finished torrent still gets `done`.
    let mut late = RemoteClient::local(&server, &router, ClientOptions::default());
    let kl = late.add(&magnet, AddOptions::default());
    late.wait_for(T, kind_is("done", kl.clone())).await.unwrap();
    assert_eq!(late.torrent(&kl).unwrap().progress, Some(1.0));
    server.shutdown().await;
    seeder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_server_options_set_origin_and_hostname() {
    let seeder = swarm_client().await;
    let (magnet, data) = seed(&seeder, "opts", 50_000, 6).await;
    let (server, router) = server(fast_config()).await;
    let mut a = RemoteClient::local(&server, &router, ClientOptions::default());
    let mut b = RemoteClient::local(&server, &router, ClientOptions::default());
    let ka = a.add(&magnet, AddOptions::default());
    a.wait_for(T, kind_is("metadata", ka.clone()))
        .await
        .unwrap();
    a.create_server_with(
        &ka,
        Some(serde_json::json!({"origin": "https://app.example", "hostname": "localhost"})),
    );
    let ServerMessage::ServerReady { server_address, .. } = a
        .wait_for(T, kind_is("server-ready", ka.clone()))
        .await
        .unwrap()
    else {
        panic!()
    };
    let port = server_address.port;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // A page whose DNS name was rebound to this machine sends its own Host: refused.
    let (status, _) = http_get_host(addr, &format!("evil.example:{port}"), "/data.bin", "").await;
    assert_eq!(status, 403);
    let (status, body) = http_get_host(
        addr,
        &format!("localhost:{port}"),
        "/data.bin",
        "Origin: https://app.example\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, data);
    // The first request's options hold for every client of the torrent.
    let kb = b.add(&magnet, AddOptions::default());
    b.create_server_with(&kb, Some(serde_json::json!({"hostname": "x"})));
    b.wait_for(T, kind_is("server-ready", kb.clone()))
        .await
        .unwrap();
    let (status, _) = http_get(addr, "/data.bin", "").await;
    assert_eq!(status, 403, "Host x stays refused");
    server.shutdown().await;
    seeder.stop().await;
}
