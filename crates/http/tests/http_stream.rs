//! The streaming server over loopback: a seeder client, a reader client that fetches only what
//! is read (found through the seeder's `x.pe`), and a raw TCP HTTP client.

use std::time::Duration;

use swarmfs::{Archive, Client, LookupOptions};
use swarmfs_http::StreamServer;
use swarmfs_memory::MemoryStorage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const VIDEO: usize = 3 * 1024 * 1024 + 12_345;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

async fn client() -> Client {
    Client::builder()
        .dht(false)
        .lsd(false)
        .storage(MemoryStorage::factory())
        .build()
        .await
        .unwrap()
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Sends raw request bytes and reads the whole reply (the request asks to close).
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut all))
        .await
        .expect("reply timed out")
        .unwrap();
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    let head = String::from_utf8(all[..split].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        head,
        body: all[split + 4..].to_vec(),
    }
}

async fn get(addr: std::net::SocketAddr, method: &str, path: &str, headers: &str) -> Reply {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n");
    raw(addr, req.as_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_head_index_and_hostile_requests() {
    let seeder = client().await;
    let draft = Archive::with_name("movie", MemoryStorage::factory());
    let video = pattern(VIDEO, 7);
    let note = pattern(5_000, 9);
    draft.write_file("/video.mp4", &video).await.unwrap();
    draft.write_file("/dir/a b.txt", &note).await.unwrap();
    let magnet = seeder.seed(&draft).await.unwrap();

    let reader = client().await;
    let archive = reader
        .lookup(
            &magnet,
            LookupOptions::default()
                .timeout(Duration::from_secs(20))
                .seed(false),
        )
        .await
        .unwrap();
    let server = StreamServer::bind("127.0.0.1:0".parse().unwrap(), archive.clone())
        .await
        .unwrap();
    let addr = server.local_addr();
    assert!(server.url().starts_with("http://127.0.0.1:"));
    let handle = server.spawn();

    // A seek into the middle of a file nothing of which is downloaded yet, across pieces.
    let r = get(
        addr,
        "GET",
        "/video.mp4",
        "Range: bytes=1500000-2600000\r\n",
    )
    .await;
    assert_eq!(r.status, 206, "{}", r.head);
    assert_eq!(
        r.header("content-range").as_deref(),
        Some(format!("bytes 1500000-2600000/{VIDEO}").as_str())
    );
    assert_eq!(r.header("content-length").as_deref(), Some("1100001"));
    assert_eq!(r.body, &video[1_500_000..=2_600_000]);
    let progress = archive.torrent().unwrap().stats().await.unwrap();
    assert!(
        progress.pieces_verified < progress.pieces_total,
        "only the range (and its readahead) should have been fetched"
    );

    // Suffix and open ranges, and the whole file.
    let r = get(addr, "GET", "/video.mp4", "Range: bytes=-100\r\n").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &video[VIDEO - 100..]);
    let r = get(addr, "GET", "/video.mp4", "Range: bytes=3000000-\r\n").await;
    assert_eq!(r.body, &video[3_000_000..]);
    let r = get(addr, "GET", "/video.mp4", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some("video/mp4"));
    assert_eq!(r.header("accept-ranges").as_deref(), Some("bytes"));
    let etag = r.header("etag").expect("an etag");
    assert!(r.body == video, "whole file differs");

    // Unsatisfiable, HEAD, conditional, several ranges (sent whole).
    let r = get(
        addr,
        "GET",
        "/video.mp4",
        &format!("Range: bytes={VIDEO}-\r\n"),
    )
    .await;
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range").as_deref(),
        Some(format!("bytes */{VIDEO}").as_str())
    );
    let r = get(addr, "HEAD", "/video.mp4", "Range: bytes=10-19\r\n").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-length").as_deref(), Some("10"));
    assert!(r.body.is_empty());
    let r = get(
        addr,
        "GET",
        "/video.mp4",
        &format!("If-None-Match: {etag}\r\n"),
    )
    .await;
    assert_eq!(r.status, 304);
    let r = get(addr, "GET", "/video.mp4", "Range: bytes=0-1,5-6\r\n").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), VIDEO);

    // Encoded names, the index in JSON and HTML.
    let r = get(addr, "GET", "/dir/a%20b.txt", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, note);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let r = get(addr, "GET", "/", "Accept: application/json\r\n").await;
    assert_eq!(r.status, 200);
    let index: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let files = index["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/dir/a b.txt", "/video.mp4"]);
    assert_eq!(files[1]["len"].as_u64(), Some(VIDEO as u64));
    assert_eq!(files[1]["progress"].as_f64(), Some(1.0));
    let r = get(addr, "GET", "/", "").await;
    assert!(
        String::from_utf8(r.body)
            .unwrap()
            .contains("href=\"/dir/a%20b.txt\"")
    );
    let r = get(addr, "GET", "/dir/", "Accept: application/json\r\n").await;
    let index: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(index["files"].as_array().unwrap().len(), 1);

    // Hostile and wrong requests.
    for path in [
        "/../etc/passwd",
        "/dir/%2e%2e/%2e%2e/x",
        "/a%5c..%5cb",
        "/%zz",
    ] {
        assert_eq!(get(addr, "GET", path, "").await.status, 400, "{path}");
    }
    assert_eq!(get(addr, "GET", "/missing.txt", "").await.status, 404);
    assert_eq!(get(addr, "POST", "/video.mp4", "").await.status, 405);
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"\x00\xffGARBAGE / HTTP/9\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;

    // A client that disconnects mid-stream leaves the server serving.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /video.mp4 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut some = [0u8; 4096];
    let _ = s.read(&mut some).await.unwrap();
    drop(s);
    let r = get(addr, "GET", "/video.mp4", "Range: bytes=0-9\r\n").await;
    assert_eq!(r.body, &video[..10]);

    handle.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
    archive.close().await.unwrap();
    reader.stop().await;
    seeder.stop().await;
}

#[tokio::test]
async fn many_concurrent_readers() {
    let draft = Archive::new(MemoryStorage::factory());
    let data = pattern(600_000, 3);
    draft.write_file("/clip.webm", &data).await.unwrap();
    let server = StreamServer::bind("127.0.0.1:0".parse().unwrap(), draft)
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.spawn();
    let mut tasks = Vec::new();
    for i in 0..24u64 {
        tasks.push(tokio::spawn(async move {
            let start = i * 20_000;
            let r = get(
                addr,
                "GET",
                "/clip.webm",
                &format!("Range: bytes={start}-\r\n"),
            )
            .await;
            (start, r)
        }));
    }
    for t in tasks {
        let (start, r) = t.await.unwrap();
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-type").as_deref(), Some("video/webm"));
        assert!(r.body == data[start as usize..]);
    }
    handle.shutdown().await;
}
