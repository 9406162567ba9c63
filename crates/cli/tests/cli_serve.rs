//! `swarmfs serve URL URL`: two seeders, one server, each torrent at `/<info-hash>/<path>` and
//! both in the JSON index (loopback only: `--no-dht`, peers from the magnets' `x.pe`).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use support::{Background, pattern};

/// `GET path` with extra header lines; returns (head, body).
fn get(addr: &str, path: &str, headers: &str) -> (String, Vec<u8>) {
    get_from_host(addr, "x", path, headers)
}

/// [`get`] with the `Host` header given.
fn get_from_host(addr: &str, host: &str, path: &str, headers: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (
        String::from_utf8_lossy(&reply[..split]).into_owned(),
        reply[split + 4..].to_vec(),
    )
}

#[test]
fn serve_two_torrents() {
    let dir = tempfile::tempdir().unwrap();
    let video = pattern(1_500_000, 3);
    let text = b"second torrent\n".to_vec();
    let a = dir.path().join("clip.mp4");
    let b = dir.path().join("notes");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(&a, &video).unwrap();
    std::fs::write(b.join("read me.txt"), &text).unwrap();
    let local = ["--no-dht", "--no-lsd", "--timeout", "30"];
    let seed = |p: &std::path::Path| {
        let mut args = vec!["seed", p.to_str().unwrap()];
        args.extend(local);
        Background::start(&args)
    };
    let (_s1, m1) = seed(&a);
    let (_s2, m2) = seed(&b);

    let mut args = vec!["serve", &m1, &m2, "--http", "127.0.0.1:0"];
    args.extend(["--allow-origin", "*", "--require-host", "x"]);
    args.extend(local);
    let (mut server, url) = Background::start(&args);
    let addr = url
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix('/'))
        .unwrap_or_else(|| panic!("serve printed {url}"));
    let first = server.next_line();
    let second = server.next_line();
    let (u1, name1) = first.split_once(' ').unwrap();
    let (u2, name2) = second.split_once(' ').unwrap();
    assert_eq!((name1, name2), ("clip.mp4", "notes"));
    let ih1 = m1.split("btih:").nth(1).unwrap()[..40].to_ascii_lowercase();
    assert_eq!(u1, format!("{url}{ih1}/"));
    let p1 = u1.strip_prefix(&url[..url.len() - 1]).unwrap();
    let p2 = u2.strip_prefix(&url[..url.len() - 1]).unwrap();

    let (head, body) = get(
        addr,
        "/",
        "Accept: application/json\r\nOrigin: http://page.example\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("access-control-allow-origin: http://page.example"),
        "{head}"
    );
    let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let torrents = index["torrents"].as_array().unwrap();
    assert_eq!(torrents.len(), 2);
    assert_eq!(torrents[0]["files"][0]["len"], video.len() as u64);
    assert_eq!(torrents[1]["files"][0]["path"], "/read me.txt");

    let (head, body) = get(
        addr,
        &format!("{p1}clip.mp4"),
        "Range: bytes=700000-799999\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(head.contains("video/mp4"), "{head}");
    assert!(body == video[700_000..800_000]);
    let (head, body) = get(addr, &format!("{p2}read%20me.txt"), "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, text);
    let (head, _) = get(addr, "/clip.mp4", "");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    // --require-host x: a rebound DNS name is refused.
    let (head, _) = get_from_host(addr, "evil.example", "/", "");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
}
