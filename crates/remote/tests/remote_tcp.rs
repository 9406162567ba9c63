//! The server over newline-delimited JSON on loopback TCP.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use swarmfs_remote::protocol::AddOptions;
use swarmfs_remote::{
    ClientOptions, MAX_MESSAGE_LEN, RemoteClient, ServerMessage, TcpError, TcpServer,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_add_done_stream_and_isolation() {
    let seeder = swarm_client().await;
    let (magnet, data) = seed(&seeder, "tcp", 300_000, 9).await;
    let (server, router) = server(fast_config()).await;
    let tcp = TcpServer::bind("127.0.0.1:0".parse().unwrap(), None, server.clone(), router)
        .await
        .unwrap();
    let mut a = RemoteClient::connect_tcp(tcp.local_addr(), None, ClientOptions::default())
        .await
        .unwrap();
    let k = a.add(&magnet, AddOptions::default());
    for kind in ["torrent-subscribed", "infohash", "metadata", "done"] {
        a.wait_for(T, |m| m.kind() == kind && m.torrent_key() == Some(&k))
            .await
            .unwrap();
    }
    a.create_server(&k);
    let m = a.wait_for(T, |m| m.kind() == "server-ready").await.unwrap();
    let ServerMessage::ServerReady { server_address, .. } = m else {
        panic!()
    };
    let addr: SocketAddr = format!("127.0.0.1:{}", server_address.port)
        .parse()
        .unwrap();
    let (status, body) = http_get(addr, "/data.bin", "Range: bytes=-100\r\n").await;
    assert_eq!(status, 206);
    assert_eq!(body, &data[data.len() - 100..]);

    // Another connection claiming A's clientKey gets nothing of A's and cannot act as A.
    let mut thief = TcpStream::connect(tcp.local_addr()).await.unwrap();
    let line = format!("{{\"type\":\"heartbeat\",\"clientKey\":\"{}\"}}\n", a.key());
    thief.write_all(line.as_bytes()).await.unwrap();
    a.wait_for(T, |m| m.kind() == "update").await.unwrap();
    a.wait_for(T, |m| m.kind() == "update").await.unwrap();
    let mut buf = [0u8; 64];
    let got = tokio::time::timeout(Duration::from_millis(300), thief.read(&mut buf)).await;
    assert!(got.is_err(), "thief received {:?}", got);
    assert_eq!(a.foreign_messages(), 0);

    // Garbage lines: dropped, then the connection is closed.
    let mut g = TcpStream::connect(tcp.local_addr()).await.unwrap();
    for _ in 0..40 {
        if g.write_all(b"{bad json\n").await.is_err() {
            break;
        }
    }
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(T, g.read_to_end(&mut sink)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    // An oversized line closes too.
    let mut o = TcpStream::connect(tcp.local_addr()).await.unwrap();
    let _ = o.write_all(&vec![b'x'; MAX_MESSAGE_LEN + 10]).await;
    let closed = tokio::time::timeout(T, o.read_to_end(&mut sink)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    // The server still serves A.
    a.wait_for(T, |m| m.kind() == "update").await.unwrap();
    server.shutdown().await;
    seeder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens() {
    let (server, router) = server(fast_config()).await;
    let off = TcpServer::bind(
        "0.0.0.0:0".parse().unwrap(),
        None,
        server.clone(),
        router.clone(),
    )
    .await;
    assert!(matches!(off, Err(TcpError::TokenRequired { .. })));
    let tcp = TcpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        Some("s3cret".into()),
        server.clone(),
        router,
    )
    .await
    .unwrap();
    // Wrong token: refused and closed.
    let mut s = TcpStream::connect(tcp.local_addr()).await.unwrap();
    s.write_all(b"{\"token\":\"nope\"}\n{\"type\":\"heartbeat\",\"clientKey\":\"k\"}\n")
        .await
        .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    assert!(line.contains("bad token"));
    assert_eq!(server.client_count(), 0);
    // Right token: works.
    let mut c =
        RemoteClient::connect_tcp(tcp.local_addr(), Some("s3cret"), ClientOptions::default())
            .await
            .unwrap();
    let k = c.add(
        "0123456789012345678901234567890123456789",
        AddOptions::default(),
    );
    c.wait_for(T, |m| {
        m.kind() == "torrent-subscribed" && m.torrent_key() == Some(&k)
    })
    .await
    .unwrap();
    assert_eq!(server.client_count(), 1);
    server.shutdown().await;
}
