//! Browser access rules over a real socket: the `Host` check against DNS rebinding, CORS for
//! an allowed origin, and the headers every response carries.

use std::net::SocketAddr;
use std::time::Duration;

use swarmfs::Archive;
use swarmfs_http::{AllowOrigin, StreamServer};
use swarmfs_memory::MemoryStorage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends one request (which asks to close) and returns the response head, lower-cased.
async fn head(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut all))
        .await
        .expect("reply timed out")
        .expect("read");
    let text = String::from_utf8_lossy(&all).to_lowercase();
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

async fn draft() -> Archive {
    let a = Archive::with_name("site", MemoryStorage::factory());
    a.write_file("/a.txt", b"hello").await.expect("write");
    a
}

#[tokio::test]
async fn rebound_host_names_are_refused() {
    let server = StreamServer::bind("127.0.0.1:0".parse().expect("addr"), draft().await)
        .await
        .expect("bind")
        .require_host("localhost");
    let addr = server.local_addr();
    let port = addr.port();
    let handle = server.spawn();
    let get = |host: String| async move {
        head(
            addr,
            &format!("GET /a.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await
    };
    let ok = get(format!("localhost:{port}")).await;
    assert!(ok.starts_with("http/1.1 200"), "{ok}");
    assert!(ok.contains("x-content-type-options: nosniff"), "{ok}");
    let rebound = get(format!("attacker.example:{port}")).await;
    assert!(rebound.starts_with("http/1.1 403"), "{rebound}");
    let other_port = get(format!("localhost:{}", port.wrapping_add(1))).await;
    assert!(other_port.starts_with("http/1.1 403"), "{other_port}");
    handle.shutdown().await;
}

#[tokio::test]
async fn cors_only_for_the_allowed_origin() {
    let server = StreamServer::bind("127.0.0.1:0".parse().expect("addr"), draft().await)
        .await
        .expect("bind")
        .allow_origin(AllowOrigin::Only("https://app.example".into()));
    let addr = server.local_addr();
    let handle = server.spawn();
    let from = |origin: &'static str, method: &'static str| async move {
        head(
            addr,
            &format!(
                "{method} /a.txt HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\
                 Access-Control-Request-Headers: range\r\nConnection: close\r\n\r\n"
            ),
        )
        .await
    };
    let allowed = from("https://app.example", "GET").await;
    assert!(allowed.starts_with("http/1.1 200"), "{allowed}");
    assert!(
        allowed.contains("access-control-allow-origin: https://app.example"),
        "{allowed}"
    );
    assert!(
        allowed.contains("access-control-expose-headers:"),
        "{allowed}"
    );
    let other = from("https://evil.example", "GET").await;
    assert!(other.starts_with("http/1.1 200"), "{other}");
    assert!(!other.contains("access-control-allow-origin"), "{other}");
    let preflight = from("https://app.example", "OPTIONS").await;
    assert!(preflight.starts_with("http/1.1 204"), "{preflight}");
    assert!(
        preflight.contains("access-control-allow-headers: range"),
        "{preflight}"
    );
    let refused = from("https://evil.example", "OPTIONS").await;
    assert!(refused.starts_with("http/1.1 405"), "{refused}");
    handle.shutdown().await;
}
