//! `swarmfs remote serve` in the background, driven by `swarmfs remote add|ls|stream|rm` and
//! by a Rust client over `--stdio`, on 127.0.0.1 with no DHT (peers from the magnet's x.pe).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use support::{Background, ok, pattern, run};

const NET: [&str; 4] = ["--no-dht", "--no-lsd", "--bind", "127.0.0.1"];

fn seed() -> (tempfile::TempDir, Background, String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("clip");
    std::fs::create_dir_all(&root).unwrap();
    let data = pattern(900_000, 3);
    std::fs::write(root.join("movie.bin"), &data).unwrap();
    std::fs::write(root.join("notes.txt"), b"small").unwrap();
    let mut args = vec!["seed", root.to_str().unwrap()];
    args.extend(NET);
    let (seeder, magnet) = Background::start(&args);
    assert!(magnet.starts_with("magnet:?xt=urn:btih:"), "{magnet}");
    (dir, seeder, magnet, data)
}

fn http_get(url: &str, range: &str) -> (String, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nRange: {range}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (
        String::from_utf8_lossy(&all[..split]).into_owned(),
        all[split + 4..].to_vec(),
    )
}

#[test]
fn serve_then_add_ls_stream_rm() {
    let (_dir, _seeder, magnet, data) = seed();
    let mut args = vec!["remote", "serve", "--listen", "127.0.0.1:0"];
    args.extend(NET);
    let (_server, addr) = Background::start(&args);
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    let conn = ["--connect", addr.as_str()];

    let mut a = vec!["remote", "add", magnet.as_str(), "--wait"];
    a.extend(conn);
    let added = ok(&run(&a));
    let ih = added.split_whitespace().next().unwrap().to_owned();
    assert_eq!(ih.len(), 40, "{added}");
    assert!(added.contains("clip"), "{added}");

    // The add's client left; the torrent is kept.
    let mut l = vec!["remote", "ls"];
    l.extend(conn);
    let listed = ok(&run(&l));
    assert!(listed.contains(&ih) && listed.contains("done"), "{listed}");
    let mut lj = vec!["--json", "remote", "ls"];
    lj.extend(conn);
    let json: serde_json::Value = serde_json::from_str(ok(&run(&lj)).trim()).unwrap();
    assert_eq!(json["infoHash"], ih.as_str());
    assert_eq!(json["progress"], 1.0);

    let mut s = vec!["remote", "stream", ih.as_str()];
    s.extend(conn);
    let url = ok(&run(&s)).trim().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("movie.bin"),
        "{url}"
    );
    let (head, body) = http_get(&url, "bytes=1000-1999");
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert_eq!(body, &data[1000..2000]);

    let mut r = vec!["remote", "rm", ih.as_str()];
    r.extend(conn);
    assert!(ok(&run(&r)).contains("removed"));
    assert!(!ok(&run(&l)).contains(&ih));
    // Removing it again: not found (exit 4).
    assert_eq!(run(&r).status.code(), Some(4));
}

#[test]
fn serve_off_loopback_needs_a_token() {
    let mut args = vec!["remote", "serve", "--listen", "0.0.0.0:0"];
    args.extend(NET);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
    // With a token, a client without it (or with a wrong one) gets no answer.
    let mut args = vec![
        "remote",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--token",
        "s3cret",
    ];
    args.extend(NET);
    let (_server, addr) = Background::start(&args);
    let bad = run(&[
        "remote",
        "ls",
        "--connect",
        &addr,
        "--token",
        "nope",
        "--timeout",
        "2",
    ]);
    assert!(!bad.status.success(), "{bad:?}");
    let good = run(&["remote", "ls", "--connect", &addr, "--token", "s3cret"]);
    assert!(good.status.success(), "{good:?}");
}

#[test]
fn stdio_child_engine() {
    let (_dir, _seeder, magnet, data) = seed();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use std::time::Duration;
        use swarmfs_remote::protocol::AddOptions;
        use swarmfs_remote::{ClientOptions, RemoteClient};
        let mut cmd = tokio::process::Command::new(support::BIN);
        cmd.args(["remote", "serve", "--stdio", "--update-interval", "200"])
            .args(NET)
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let (mut c, mut child) = RemoteClient::spawn_stdio(cmd, ClientOptions::default())
            .await
            .unwrap();
        let t = Duration::from_secs(60);
        let k = c.add(&magnet, AddOptions::default());
        for kind in ["metadata", "done", "update"] {
            c.wait_for(t, |m| m.kind() == kind && m.torrent_key() == Some(&k))
                .await
                .unwrap();
        }
        let list = c.list().await.unwrap();
        assert_eq!(list.len(), 1);
        let ih = list[0].info_hash().to_owned();
        let chunk = c.read_file(&ih, "/movie.bin", 5000, 3000).await.unwrap();
        assert_eq!(chunk.data, &data[5000..8000]);
        // Closing stdin ends the child.
        drop(c);
        let status = tokio::time::timeout(t, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{status:?}");
    });
}
