//! Hostile and broken clients: malformed JSON, unknown types, missing fields, oversized
//! frames, an add flood, a client that never reads; and heartbeat expiry on a paused clock.

mod common;

use std::time::Duration;

use common::*;
use swarmfs_remote::protocol::AddOptions;
use swarmfs_remote::{
    ClientMessage, ClientOptions, MAX_MESSAGE_LEN, RemoteClient, RemoteServer, Router,
    ServerConfig, ServerMessage, TcpServer,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(30);

async fn line(r: &mut BufReader<TcpStream>) -> serde_json::Value {
    let mut l = String::new();
    tokio::time::timeout(T, r.read_line(&mut l))
        .await
        .expect("no reply")
        .unwrap();
    serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_get_warnings_then_the_connection_closes() {
    let (server, router) = lazy_server(fast_config());
    let tcp = TcpServer::bind("127.0.0.1:0".parse().unwrap(), None, server.clone(), router)
        .await
        .unwrap();
    let s = TcpStream::connect(tcp.local_addr()).await.unwrap();
    let mut r = BufReader::new(s);
    // Unknown type, missing fields, a wrong-typed field, an unknown extension version: each
    // answered with a warning to the key it names.
    for bad in [
        r#"{"type":"explode","clientKey":"k1"}"#,
        r#"{"type":"add-torrent","clientKey":"k1"}"#,
        r#"{"type":"add-torrent","clientKey":"k1","torrentKey":5,"torrentId":"x"}"#,
        r#"{"type":"swarmfs/v9/list","clientKey":"k1","requestId":"r"}"#,
    ] {
        r.get_mut()
            .write_all(format!("{bad}\n").as_bytes())
            .await
            .unwrap();
        let v = line(&mut r).await;
        assert_eq!(v["type"], "warning", "{bad} -> {v}");
        assert_eq!(v["clientKey"], "k1");
        assert!(v["error"]["message"].as_str().unwrap().contains("dropped"));
    }
    assert_eq!(server.client_count(), 0, "bad messages add no client");
    // Malformed JSON has no key to answer; enough of it closes the connection.
    for _ in 0..swarmfs_remote::MAX_BAD_LINES {
        if r.get_mut().write_all(b"{nope\n").await.is_err() {
            break;
        }
    }
    let mut rest = Vec::new();
    let end = tokio::time::timeout(T, r.read_to_end(&mut rest)).await;
    assert!(matches!(end, Ok(Ok(_)) | Ok(Err(_))), "{end:?}");
    // An oversized frame closes at once, without buffering it whole.
    let mut o = TcpStream::connect(tcp.local_addr()).await.unwrap();
    let _ = o.write_all(&vec![b'{'; MAX_MESSAGE_LEN * 4]).await;
    let end = tokio::time::timeout(T, o.read_to_end(&mut rest)).await;
    assert!(matches!(end, Ok(Ok(_)) | Ok(Err(_))), "{end:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_add_flood_is_refused_past_the_limits() {
    let mut config = fast_config();
    config.max_keys_per_client = 20;
    config.max_torrents = 30;
    let (server, router) = server(config).await;
    let tcp = TcpServer::bind("127.0.0.1:0".parse().unwrap(), None, server.clone(), router)
        .await
        .unwrap();
    let mut s = TcpStream::connect(tcp.local_addr()).await.unwrap();
    // 500 adds of distinct (peerless) torrents in one write.
    let mut flood = String::new();
    for i in 0..500u32 {
        let ih = format!("{i:040x}");
        flood.push_str(&format!(
            "{{\"type\":\"add-torrent\",\"clientKey\":\"flood\",\"torrentKey\":\"t{i}\",\"torrentId\":\"{ih}\"}}\n"
        ));
    }
    s.write_all(flood.as_bytes()).await.unwrap();
    let mut r = BufReader::new(s);
    let (mut subscribed, mut refused) = (0, 0);
    while subscribed + refused < 500 {
        let v = line(&mut r).await;
        match v["type"].as_str().unwrap() {
            "torrent-subscribed" => subscribed += 1,
            "error" => {
                assert!(v["error"]["message"].as_str().unwrap().contains("too many"));
                refused += 1;
            }
            _ => {}
        }
    }
    assert_eq!(subscribed, 20);
    assert_eq!(refused, 480);
    assert_eq!(server.torrent_count(), 20);
    // Another client is held to the server-wide limit.
    let mut s2 = TcpStream::connect(tcp.local_addr()).await.unwrap();
    let mut more = String::new();
    for i in 500..520u32 {
        more.push_str(&format!(
            "{{\"type\":\"add-torrent\",\"clientKey\":\"other\",\"torrentKey\":\"t{i}\",\"torrentId\":\"{i:040x}\"}}\n"
        ));
    }
    s2.write_all(more.as_bytes()).await.unwrap();
    assert!(eventually(T, || server.torrent_count() == 30).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.torrent_count(), 30);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_client_blocks_no_one_and_its_queue_stays_bounded() {
    let seeder = swarm_client().await;
    let (magnet, _) = seed(&seeder, "stuck", 100_000, 6).await;
    let mut config = fast_config();
    config.update_interval = Duration::from_millis(10);
    config.heartbeat_timeout = Duration::ZERO;
    let (server, router) = server(config).await;
    let tcp = TcpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        None,
        server.clone(),
        router.clone(),
    )
    .await
    .unwrap();
    // The stuck client follows the torrent under 200 keys and never reads: ~20,000 updates a
    // second for it, far more than its socket buffers hold.
    let mut stuck = TcpStream::connect(tcp.local_addr()).await.unwrap();
    let mut adds = String::new();
    for i in 0..200 {
        adds.push_str(
            &serde_json::to_string(&ClientMessage::AddTorrent {
                client_key: "stuck".into(),
                torrent_key: format!("t{i}"),
                torrent_id: magnet.clone(),
                opts: None,
            })
            .unwrap(),
        );
        adds.push('\n');
    }
    stuck.write_all(adds.as_bytes()).await.unwrap();
    let mut b = RemoteClient::connect_tcp(tcp.local_addr(), None, ClientOptions::default())
        .await
        .unwrap();
    let kb = b.add(&magnet, AddOptions::default());
    b.wait_for(T, |m| m.kind() == "done" && m.torrent_key() == Some(&kb))
        .await
        .unwrap();
    // For 3 s the healthy client keeps getting fresh updates, and the server's queues stay
    // within one coalesced update per key plus the bounded queue.
    let start = tokio::time::Instant::now();
    let mut updates = 0;
    let mut max_queued = 0;
    while start.elapsed() < Duration::from_secs(3) {
        let m = b
            .wait_for(Duration::from_secs(2), |m| m.kind() == "update")
            .await
            .expect("the healthy client starves");
        assert!(matches!(m, ServerMessage::Update { .. }));
        updates += 1;
        max_queued = max_queued.max(router.queued());
    }
    assert!(updates > 50, "only {updates} updates in 3 s");
    assert!(
        max_queued <= 3 * 201 + swarmfs_remote::CLIENT_QUEUE,
        "queued {max_queued}"
    );
    println!("healthy client: {updates} updates in 3 s; most queued {max_queued}");
    drop(stuck);
    server.shutdown().await;
    seeder.stop().await;
}

/// Heartbeat expiry with tokio's paused clock: no real time passes.
#[tokio::test(start_paused = true)]
async fn heartbeat_expiry_on_a_paused_clock() {
    let router = Router::new();
    let mut config = ServerConfig::default();
    config.heartbeat_timeout = Duration::from_secs(30);
    let server = RemoteServer::lazy(
        || async { Err::<swarmfs::Client, _>("no engine in this test") },
        router.clone(),
        config,
    );
    let hb = ClientOptions::default().heartbeat(Duration::from_secs(5));
    let mut quiet = RemoteClient::local(&server, &router, hb.clone());
    let _alive = RemoteClient::local(&server, &router, hb);
    quiet.heartbeat();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(server.client_count(), 2);
    quiet.stop_heartbeats();
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(server.client_count(), 2, "not yet 30 s of silence");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(server.client_count(), 1, "the silent client is dropped");
    // The other one heartbeats every 5 s and stays, however long.
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(server.client_count(), 1);
    assert!(!server.engine_running());
    server.shutdown().await;
}
