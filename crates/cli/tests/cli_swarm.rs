//! `seed` in the background, then `get`, `ls`, `cat`, `serve` and `publish` against it, on a
//! private DHT on 127.0.0.1 (never the public one: every command gets `--bootstrap` or
//! `--no-dht`).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use support::{Background, PrivateDht, ok, pattern, run, split_peers};

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

const BIG: usize = 2 * 1024 * 1024 + 777;

struct Site {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    big: Vec<u8>,
    small: Vec<u8>,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let big = pattern(BIG, 5);
    let small = b"hello from the cli\n".to_vec();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(root.join("sub/note.txt"), &small).unwrap();
    Site {
        _dir: dir,
        root,
        big,
        small,
    }
}

#[test]
fn seed_then_get_ls_cat_serve_and_publish() {
    let dht = PrivateDht::start(3);
    let boot = dht.bootstrap.as_str();
    let net = ["--bootstrap", boot, "--no-lsd", "--timeout", "30"];
    let site = site();
    let mut seed_args = vec!["seed", site.root.to_str().unwrap()];
    seed_args.extend(net);
    let (_seeder, magnet) = Background::start(&seed_args);
    assert!(magnet.starts_with("magnet:?xt=urn:btih:"), "{magnet}");
    let (bare, peers) = split_peers(&magnet);
    assert_eq!(peers.len(), 1, "{magnet}");
    let with = |extra: &[&str]| -> Vec<String> {
        extra
            .iter()
            .chain(net.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };

    // get through the DHT only (the magnet without x.pe).
    let out = tempfile::tempdir().unwrap();
    let out_s = out.path().to_str().unwrap();
    let args = with(&["get", &bare, "--out", out_s]);
    let printed = ok(&run(&strs(&args)));
    assert!(printed.contains("2 file(s)"), "{printed}");
    assert_eq!(
        std::fs::read(out.path().join("site/big.bin")).unwrap(),
        site.big
    );
    assert_eq!(
        std::fs::read(out.path().join("site/sub/note.txt")).unwrap(),
        site.small
    );
    assert!(!out.path().join(".swarmfs-get").exists(), "staging removed");

    // get one file with --no-dht --peer, into memory.
    let one = tempfile::tempdir().unwrap();
    let o = run(&[
        "get",
        &bare,
        "--out",
        one.path().to_str().unwrap(),
        "--file",
        "sub/note.txt",
        "--no-dht",
        "--no-lsd",
        "--memory",
        "--peer",
        &peers[0],
        "--timeout",
        "30",
    ]);
    ok(&o);
    assert_eq!(
        std::fs::read(one.path().join("site/sub/note.txt")).unwrap(),
        site.small
    );
    assert!(
        !one.path().join("site/big.bin").exists(),
        "only the asked file"
    );
    let o = run(&[
        "get",
        &bare,
        "--out",
        one.path().to_str().unwrap(),
        "--file",
        "nope.txt",
        "--no-dht",
        "--no-lsd",
        "--peer",
        &peers[0],
        "--timeout",
        "30",
    ]);
    assert_eq!(o.status.code(), Some(4));

    // ls and cat.
    let args = with(&["ls", &bare]);
    let listing = ok(&run(&strs(&args)));
    assert!(
        listing.contains("sub/") && listing.contains("big.bin"),
        "{listing}"
    );
    let args = with(&["ls", &bare, "/sub"]);
    let listing = ok(&run(&strs(&args)));
    assert!(
        listing.contains("note.txt") && listing.contains("19"),
        "{listing}"
    );
    let args = with(&["--json", "ls", &bare, "/"]);
    let json = ok(&run(&strs(&args)));
    let names: Vec<String> = json
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names.len(), 2, "{json}");
    let args = with(&["cat", &bare, "/sub/note.txt"]);
    let o = run(&strs(&args));
    ok(&o);
    assert_eq!(o.stdout, site.small);
    let args = with(&["cat", &bare, "/big.bin"]);
    let o = run(&strs(&args));
    ok(&o);
    assert!(o.stdout == site.big, "cat of the big file differs");
    let args = with(&["cat", &bare, "/missing"]);
    assert_eq!(run(&strs(&args)).status.code(), Some(4));

    // serve + an HTTP range request.
    let args = with(&["serve", &bare, "--http", "127.0.0.1:0", "--download-all"]);
    let (_server, url) = Background::start(&strs(&args));
    let addr = url
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix('/'))
        .unwrap_or_else(|| panic!("serve printed {url}"));
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000000-1999999\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&reply[..split]);
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(
        head.contains(&format!("bytes 1000000-1999999/{BIG}")),
        "{head}"
    );
    assert!(reply[split + 4..] == site.big[1_000_000..2_000_000]);

    // keygen, publish, then get the mutable magnet.
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("k");
    let public = ok(&run(&["keygen", "--out", key.to_str().unwrap()]));
    let args = with(&[
        "publish",
        &magnet,
        "--key",
        key.to_str().unwrap(),
        "--salt",
        "site",
    ]);
    let (_publisher, murl) = Background::start(&strs(&args));
    assert!(murl.starts_with("magnet:?xs=urn:btpk:"), "{murl}");
    assert!(murl.contains(public.trim()), "{murl}");
    let mutable_out = tempfile::tempdir().unwrap();
    let args = with(&["get", &murl, "--out", mutable_out.path().to_str().unwrap()]);
    ok(&run(&strs(&args)));
    assert_eq!(
        std::fs::read(mutable_out.path().join("site/big.bin")).unwrap(),
        site.big
    );
}

#[test]
fn seed_publish_prints_both_magnets() {
    let dht = PrivateDht::start(2);
    let site = site();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("k");
    ok(&run(&["keygen", "--out", key.to_str().unwrap()]));
    let (mut seeder, magnet) = Background::start(&[
        "seed",
        site.root.join("sub/note.txt").to_str().unwrap(),
        "--publish",
        "--key",
        key.to_str().unwrap(),
        "--bootstrap",
        &dht.bootstrap,
        "--no-lsd",
    ]);
    assert!(magnet.starts_with("magnet:?xt=urn:btih:"), "{magnet}");
    let murl = seeder.next_line();
    assert!(murl.starts_with("magnet:?xs=urn:btpk:"), "{murl}");
    let o = run(&[
        "cat",
        &murl,
        "/note.txt",
        "--bootstrap",
        &dht.bootstrap,
        "--no-lsd",
        "--timeout",
        "30",
    ]);
    ok(&o);
    assert_eq!(o.stdout, site.small);
}
