//! The same scenario over every transport (TCP, Unix socket, WebSocket, a byte pipe as stdio
//! uses): add a magnet, metadata, update, done, create-server and read bytes over HTTP,
//! destroy removes the torrent, and the lazy engine stops when the last torrent goes.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use swarmfs_remote::protocol::AddOptions;
use swarmfs_remote::{
    ClientOptions, RemoteClient, RemoteServer, ServerMessage, TcpError, TcpServer, UnixServer,
    WsServer,
};

const T: Duration = Duration::from_secs(30);

async fn scenario(server: &RemoteServer, mut c: RemoteClient, magnet: &str, data: &[u8]) {
    let k = c.add(magnet, AddOptions::default());
    for kind in [
        "torrent-subscribed",
        "infohash",
        "metadata",
        "done",
        "update",
    ] {
        c.wait_for(T, |m| m.kind() == kind && m.torrent_key() == Some(&k))
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    assert!(server.engine_running());
    let props = c.torrent(&k).unwrap().clone();
    assert_eq!(props.length, Some(data.len() as u64));
    assert_eq!(props.progress, Some(1.0));
    c.create_server(&k);
    let m = c.wait_for(T, |m| m.kind() == "server-ready").await.unwrap();
    let ServerMessage::ServerReady { server_address, .. } = m else {
        panic!("{m:?}")
    };
    let addr: SocketAddr = format!("127.0.0.1:{}", server_address.port)
        .parse()
        .unwrap();
    let (status, body) = http_get(addr, "/data.bin", "Range: bytes=100-299\r\n").await;
    assert_eq!(status, 206);
    assert_eq!(body, &data[100..300]);
    assert_eq!(server.torrent_count(), 1);
    c.destroy(None);
    assert!(eventually(T, || server.torrent_count() == 0).await);
    assert!(eventually(T, || !server.engine_running()).await);
    assert_eq!(c.foreign_messages(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tcp() {
    let seeder = swarm_client().await;
    let (magnet, data) = seed(&seeder, "tcp", 200_000, 1).await;
    let (server, router) = lazy_server(fast_config());
    let tcp = TcpServer::bind("127.0.0.1:0".parse().unwrap(), None, server.clone(), router)
        .await
        .unwrap();
    let c = RemoteClient::connect_tcp(tcp.local_addr(), None, ClientOptions::default())
        .await
        .unwrap();
    scenario(&server, c, &magnet, &data).await;
    server.shutdown().await;
    seeder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_unix_socket() {
    let seeder = swarm_client().await;
    let (magnet, data) = seed(&seeder, "unix", 200_000, 2).await;
    let (server, router) = lazy_server(fast_config());
    let path = std::env::temp_dir().join(format!("swarmfs-remote-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let unix = UnixServer::bind(&path, None, server.clone(), router)
        .await
        .unwrap();
    let c = RemoteClient::connect_unix(unix.path(), None, ClientOptions::default())
        .await
        .unwrap();
    scenario(&server, c, &magnet, &data).await;
    drop(unix);
    assert!(!path.exists(), "the socket file is removed");
    server.shutdown().await;
    seeder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_websocket() {
    let seeder = swarm_client().await;
    let (magnet, data) = seed(&seeder, "ws", 200_000, 3).await;
    let (server, router) = lazy_server(fast_config());
    let ws = WsServer::bind("127.0.0.1:0".parse().unwrap(), None, server.clone(), router)
        .await
        .unwrap();
    assert!(ws.url().starts_with("ws://127.0.0.1:"));
    let c = RemoteClient::connect_ws(ws.local_addr(), None, ClientOptions::default())
        .await
        .unwrap();
    scenario(&server, c, &magnet, &data).await;
    server.shutdown().await;
    seeder.stop().await;
}

/// What `serve_stdio` and `RemoteClient::spawn_stdio` do, over an in-memory pipe pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_pipe_pair() {
    let seeder = swarm_client().await;
    let (magnet, data) = seed(&seeder, "pipe", 200_000, 4).await;
    let (server, router) = lazy_server(fast_config());
    let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_end);
    let serving = tokio::spawn(swarmfs_remote::serve_lines(sr, sw, server.clone(), router));
    let (cr, cw) = tokio::io::split(client_end);
    let c = RemoteClient::over_lines(cr, cw, None, ClientOptions::default())
        .await
        .unwrap();
    scenario(&server, c, &magnet, &data).await;
    server.shutdown().await;
    serving.abort();
    seeder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_tokens() {
    let (server, router) = lazy_server(fast_config());
    let open = WsServer::bind(
        "0.0.0.0:0".parse().unwrap(),
        None,
        server.clone(),
        router.clone(),
    )
    .await;
    assert!(matches!(open, Err(TcpError::TokenRequired { .. })));
    let ws = WsServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        Some("s3cret".into()),
        server.clone(),
        router,
    )
    .await
    .unwrap();
    // A wrong token: nothing the client sends reaches the server.
    let mut bad = RemoteClient::connect_ws(
        ws.local_addr(),
        Some("wrong"),
        ClientOptions::default().request_timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    assert!(bad.list().await.is_err());
    assert_eq!(server.client_count(), 0);
    // No token at all: the first message is taken as the (missing) token.
    let mut none = RemoteClient::connect_ws(
        ws.local_addr(),
        None,
        ClientOptions::default().request_timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    assert!(none.list().await.is_err());
    assert_eq!(server.client_count(), 0);
    let mut good =
        RemoteClient::connect_ws(ws.local_addr(), Some("s3cret"), ClientOptions::default())
            .await
            .unwrap();
    assert!(good.list().await.unwrap().is_empty());
    assert_eq!(server.client_count(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_token() {
    let (server, router) = lazy_server(fast_config());
    let path = std::env::temp_dir().join(format!("swarmfs-remote-tok-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let unix = UnixServer::bind(&path, Some("t".into()), server.clone(), router)
        .await
        .unwrap();
    let opts = ClientOptions::default().request_timeout(Duration::from_secs(2));
    let mut bad = RemoteClient::connect_unix(unix.path(), Some("x"), opts.clone())
        .await
        .unwrap();
    assert!(bad.list().await.is_err());
    let mut good = RemoteClient::connect_unix(unix.path(), Some("t"), opts)
        .await
        .unwrap();
    assert!(good.list().await.unwrap().is_empty());
    server.shutdown().await;
}
