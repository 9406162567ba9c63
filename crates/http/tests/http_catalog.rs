//! One server, two torrents: a seeder holds both, a reader looks both up (fetching nothing) and
//! serves them; hyper's HTTP/1.1 client reads the index and ranges of each.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use swarmfs::{Archive, Client, LookupOptions};
use swarmfs_http::StreamServer;
use swarmfs_memory::MemoryStorage;
use tokio::net::TcpStream;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 253) as u8 ^ seed).collect()
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
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

/// One request over a fresh HTTP/1.1 connection, through hyper's client.
async fn fetch(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    let driver = tokio::spawn(conn);
    let mut req = Request::get(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = tokio::time::timeout(
        Duration::from_secs(30),
        sender.send_request(req.body(Empty::<Bytes>::new()).unwrap()),
    )
    .await
    .expect("reply timed out")
    .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = tokio::time::timeout(Duration::from_secs(30), res.into_body().collect())
        .await
        .expect("body timed out")
        .unwrap()
        .to_bytes()
        .to_vec();
    drop(sender);
    let _ = driver.await;
    Reply {
        status,
        headers,
        body,
    }
}

fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_torrents_on_one_server() {
    let seeder = client().await;
    let movie = Archive::with_name("movie", MemoryStorage::factory());
    let video = pattern(2 * 1024 * 1024 + 777, 5);
    movie.write_file("/film.mkv", &video).await.unwrap();
    movie
        .write_file("/subs/en.srt", b"1\n00:00 --> 00:01\nhi\n")
        .await
        .unwrap();
    let music = Archive::with_name("music", MemoryStorage::factory());
    let song = pattern(700_001, 11);
    music.write_file("/track 1.mp3", &song).await.unwrap();
    let m1 = seeder.seed(&movie).await.unwrap();
    let m2 = seeder.seed(&music).await.unwrap();

    let reader = client().await;
    let opts = || {
        LookupOptions::default()
            .timeout(Duration::from_secs(20))
            .seed(false)
    };
    let a1 = reader.lookup(&m1, opts()).await.unwrap();
    let a2 = reader.lookup(&m2, opts()).await.unwrap();
    let (h1, h2) = (
        a1.info_hash().unwrap().to_hex(),
        a2.info_hash().unwrap().to_hex(),
    );
    let server = StreamServer::bind_many(
        "127.0.0.1:0".parse().unwrap(),
        [a1.clone(), a2.clone(), a1.clone()],
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    assert_eq!(
        server.archive_urls(),
        [
            format!("http://{addr}/{h1}/"),
            format!("http://{addr}/{h2}/")
        ],
        "one URL per torrent, the duplicate dropped"
    );
    let handle = server.spawn();

    // The index lists both torrents with their files, sizes and progress.
    let r = fetch(addr, "/", &[("accept", "application/json")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let index: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let torrents = index["torrents"].as_array().unwrap();
    assert_eq!(torrents.len(), 2);
    assert_eq!(torrents[0]["name"], "movie");
    assert_eq!(torrents[0]["info_hash"], h1.as_str());
    assert_eq!(torrents[0]["url"], format!("/{h1}/"));
    let files = torrents[0]["files"].as_array().unwrap();
    let listed: Vec<(&str, u64, &str)> = files
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap(),
                f["len"].as_u64().unwrap(),
                f["url"].as_str().unwrap(),
            )
        })
        .collect();
    let film_url = format!("/{h1}/film.mkv");
    assert_eq!(
        listed[0],
        ("/film.mkv", video.len() as u64, film_url.as_str())
    );
    assert_eq!(listed[1].0, "/subs/en.srt");
    let progress = files[0]["progress"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&progress), "not read yet: {progress}");
    assert_eq!(torrents[1]["name"], "music");
    assert_eq!(
        torrents[1]["files"][0]["url"],
        format!("/{h2}/track%201.mp3")
    );
    assert_eq!(torrents[1]["files"][0]["len"], song.len() as u64);

    // A range of each torrent at its stable path, each seeking into undownloaded pieces.
    let r = fetch(addr, &film_url, &[("range", "bytes=1000000-1600000")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(header(&r, "content-type"), Some("video/x-matroska"));
    assert_eq!(
        header(&r, "content-range"),
        Some(format!("bytes 1000000-1600000/{}", video.len()).as_str())
    );
    assert!(r.body == video[1_000_000..=1_600_000]);
    let r = fetch(
        addr,
        &format!("/{h2}/track%201.mp3"),
        &[("range", "bytes=-1000")],
    )
    .await;
    assert_eq!(r.status, 206);
    assert!(r.body == song[song.len() - 1000..]);
    let r = fetch(addr, &format!("/{h2}/track%201.mp3"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "content-type"), Some("audio/mpeg"));
    assert!(r.body == song);
    let etag_song = header(&r, "etag").unwrap().to_owned();
    let r = fetch(addr, &format!("/{h1}/subs/en.srt"), &[]).await;
    assert_eq!(r.body, b"1\n00:00 --> 00:01\nhi\n");
    assert_ne!(header(&r, "etag").unwrap(), etag_song);

    // Progress moved for the file that was read whole.
    let r = fetch(addr, "/", &[("accept", "application/json")]).await;
    let index: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        index["torrents"][1]["files"][0]["progress"].as_f64(),
        Some(1.0)
    );

    // One torrent's own index, its subdirectory, and the HTML index of both.
    let r = fetch(
        addr,
        &format!("/{h1}/subs/"),
        &[("accept", "application/json")],
    )
    .await;
    let sub: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(sub["files"][0]["url"], format!("/{h1}/subs/en.srt"));
    assert_eq!(sub["files"].as_array().unwrap().len(), 1);
    let r = fetch(addr, "/", &[]).await;
    let html = String::from_utf8(r.body).unwrap();
    assert!(html.contains(&format!("href=\"/{h1}/film.mkv\"")), "{html}");
    assert!(html.contains(&format!("href=\"/{h2}/track%201.mp3\"")));
    assert!(html.contains("<h1>2 torrents</h1>"));

    // With two torrents a bare path names none; unknown keys and traversal are refused.
    assert_eq!(fetch(addr, "/film.mkv", &[]).await.status, 404);
    assert_eq!(
        fetch(addr, &format!("/{}/film.mkv", "0".repeat(40)), &[])
            .await
            .status,
        404
    );
    assert_eq!(
        fetch(addr, &format!("/{h1}/missing"), &[]).await.status,
        404
    );
    assert_eq!(
        fetch(addr, &format!("/{h1}/%2e%2e/{h2}/track%201.mp3"), &[])
            .await
            .status,
        400
    );

    handle.shutdown().await;
    a1.close().await.unwrap();
    a2.close().await.unwrap();
    reader.stop().await;
    seeder.stop().await;
}

#[tokio::test]
async fn single_archive_also_at_its_key() {
    let seeder = client().await;
    let draft = Archive::with_name("one", MemoryStorage::factory());
    draft.write_file("/a.txt", b"alpha").await.unwrap();
    let magnet = seeder.seed(&draft).await.unwrap();
    let reader = client().await;
    let archive = reader
        .lookup(
            &magnet,
            LookupOptions::default().timeout(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    let ih = archive.info_hash().unwrap().to_hex();
    let server = StreamServer::bind("127.0.0.1:0".parse().unwrap(), archive.clone())
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.spawn();
    assert_eq!(fetch(addr, "/a.txt", &[]).await.body, b"alpha");
    assert_eq!(
        fetch(addr, &format!("/{ih}/a.txt"), &[]).await.body,
        b"alpha"
    );
    let r = fetch(addr, "/", &[("accept", "application/json")]).await;
    let index: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(index["files"][0]["url"], "/a.txt");
    let r = fetch(addr, &format!("/{ih}/"), &[("accept", "application/json")]).await;
    let index: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(index["files"][0]["url"], format!("/{ih}/a.txt"));
    handle.shutdown().await;
    archive.close().await.unwrap();
    reader.stop().await;
    seeder.stop().await;
}
