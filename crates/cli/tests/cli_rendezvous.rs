//! `swarmfs rendezvous serve`: the server comes up on the address given and answers its API.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use support::Background;

#[test]
fn rendezvous_serve_prints_its_url_and_answers_stats() {
    let (server, url) = Background::start(&["rendezvous", "serve", "--listen", "127.0.0.1:0"]);
    let addr = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("first line is the URL, got {url:?}"));
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");

    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /v1/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    let stats: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(stats.is_object(), "{stats}");
    drop(server);
}

#[test]
fn rendezvous_serve_on_a_busy_port_exits_with_the_bind_code() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = support::run(&["rendezvous", "serve", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
}

#[test]
fn peers_meet_through_the_rendezvous_server_alone() {
    let (_server, url) = Background::start(&["rendezvous", "serve", "--listen", "127.0.0.1:0"]);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("shared.bin");
    let data = support::pattern(700 * 1024 + 3, 5);
    std::fs::write(&src, &data).unwrap();
    let off = [
        "--no-dht",
        "--no-lsd",
        "--no-pex",
        "--rendezvous",
        url.as_str(),
    ];

    let mut seed_args = vec!["seed", src.to_str().unwrap()];
    seed_args.extend(off);
    let (_seeder, magnet) = Background::start(&seed_args);
    // No x.pe: the leecher can only learn the seeder's address from the rendezvous server.
    let (bare, peers) = support::split_peers(&magnet);
    assert!(!peers.is_empty(), "{magnet}");
    let out = dir.path().join("out");
    let mut get_args = vec!["get", bare.as_str(), "--out", out.to_str().unwrap()];
    get_args.extend(off);
    get_args.extend(["--timeout", "30"]);
    support::ok(&support::run(&get_args));
    let got = std::fs::read(out.join("shared.bin")).unwrap();
    assert!(got == data, "downloaded bytes differ");
}
