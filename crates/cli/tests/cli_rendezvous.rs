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
