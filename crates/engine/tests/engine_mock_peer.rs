//! A scripted peer on loopback: malformed or oversized messages get it dropped, never a panic,
//! and the torrent keeps working.

mod support;

use std::time::Duration;

use support::*;
use swarmfs_engine::{TorrentEvent, TorrentOptions};
use swarmfs_memory::MemoryStorage;
use swarmfs_metainfo::InfoHash;
use swarmfs_wire::{HANDSHAKE_LEN, Handshake, Message, MessageDecoder, PeerId, Reserved};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Accepts the engine's connection and exchanges handshakes.
async fn accept(listener: &TcpListener, info_hash: InfoHash, id: u8) -> (TcpStream, Handshake) {
    let (mut s, _) = timeout(listener.accept()).await.expect("accept");
    let mut buf = [0u8; HANDSHAKE_LEN];
    timeout(s.read_exact(&mut buf)).await.expect("handshake");
    let (theirs, _) = Handshake::decode(&buf).expect("valid").expect("whole");
    assert_eq!(theirs.info_hash, info_hash);
    assert!(theirs.reserved.extension_protocol() && theirs.reserved.fast());
    let mut ours = Handshake::new(info_hash, PeerId([id; 20]));
    ours.reserved = Reserved::SWARMFS;
    s.write_all(&ours.to_bytes()).await.expect("send handshake");
    (s, theirs)
}

/// Reads until the engine closes the connection; returns the messages it sent.
async fn until_closed(s: &mut TcpStream) -> Vec<Message> {
    let mut raw = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await;
    assert!(r.is_ok(), "engine kept the connection open");
    let dec = MessageDecoder::new();
    let mut out = Vec::new();
    let mut at = 0;
    while let Ok(Some((m, n))) = dec.decode_slice(&raw[at..]) {
        out.push(m);
        at += n;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_drop_the_peer_and_nothing_else() {
    let payload = data(256 * 1024, 30);
    let info = info(&payload, 32 * 1024);
    let pieces = info.piece_count();
    let e = engine().await;
    let t = e
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new(),
        )
        .expect("add");
    let mut events = t.events();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");

    let frame = |body: &[u8]| {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("oversized length prefix", u32::MAX.to_be_bytes().to_vec()),
        ("unknown message id", frame(&[99, 1, 2, 3])),
        ("have with wrong length", frame(&[4, 0, 0])),
        ("have out of range", frame(&[4, 0, 0, 1, 0])),
        (
            "bitfield of wrong length",
            frame(&[5, 0xff, 0xff, 0xff, 0xff]),
        ),
        ("request of 1 MiB", {
            let mut b = vec![6];
            b.extend_from_slice(&0u32.to_be_bytes());
            b.extend_from_slice(&0u32.to_be_bytes());
            b.extend_from_slice(&(1u32 << 20).to_be_bytes());
            frame(&b)
        }),
        ("unrequested block of a bad length", {
            let mut b = vec![7];
            b.extend_from_slice(&0u32.to_be_bytes());
            b.extend_from_slice(&1u32.to_be_bytes());
            b.extend_from_slice(&[0u8; 100]);
            frame(&b)
        }),
        (
            "extension handshake that is not bencode",
            frame(&[20, 0, b'x', b'y']),
        ),
    ];
    for (i, (name, bytes)) in cases.into_iter().enumerate() {
        t.add_peer(addr).expect("add peer");
        let (mut s, _) = accept(&listener, info.info_hash(), i as u8 + 1).await;
        s.write_all(&bytes).await.expect("send");
        let got = until_closed(&mut s).await;
        // Whatever the engine sent before dropping us was proper: have-none first (fast
        // extension), if it got that far.
        if let Some(first) = got.first() {
            assert_eq!(first, &Message::HaveNone, "{name}");
        }
        let reason = loop {
            match timeout(events.recv()).await.expect("event") {
                TorrentEvent::PeerDisconnected { addr: a, reason } if a == addr => break reason,
                _ => {}
            }
        };
        assert!(!reason.is_empty(), "{name}");
    }
    let stats = t.stats().await.expect("the torrent survived");
    assert_eq!(stats.peers, 0);
    assert_eq!(stats.pieces_total, pieces);
    e.shutdown().await;
    assert_eq!(e.live_tasks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_torrent_and_self_connections_are_refused() {
    let payload = data(64 * 1024, 31);
    let info = info(&payload, 16 * 1024);
    let e = engine().await;
    let t = e
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new(),
        )
        .expect("add");
    // An incoming handshake for a torrent we do not have: closed without an answer.
    let mut s = TcpStream::connect(e.listen_addr()).await.expect("connect");
    let other = Handshake::new(InfoHash([7; 20]), PeerId([9; 20]));
    s.write_all(&other.to_bytes()).await.expect("send");
    let mut rest = Vec::new();
    timeout(s.read_to_end(&mut rest)).await.expect("closed");
    assert!(rest.is_empty());
    // An incoming handshake carrying our own peer id: closed too.
    let mut s = TcpStream::connect(e.listen_addr()).await.expect("connect");
    let me = Handshake::new(info.info_hash(), e.peer_id());
    s.write_all(&me.to_bytes()).await.expect("send");
    let mut rest = Vec::new();
    timeout(s.read_to_end(&mut rest)).await.expect("closed");
    assert!(rest.is_empty());
    // Dialling our own listen address does nothing.
    t.add_peer(e.listen_addr()).expect("add");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.stats().await.expect("stats").peers, 0);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_leave_one_connection() {
    let payload = data(64 * 1024, 32);
    let info = info(&payload, 16 * 1024);
    let a = engine().await;
    let b = engine().await;
    let ta = a
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().paused(true).peer(b.listen_addr()),
        )
        .expect("add");
    let tb = b
        .add_info(
            info.clone(),
            MemoryStorage::factory(),
            TorrentOptions::new().paused(true).peer(a.listen_addr()),
        )
        .expect("add");
    ta.resume().expect("resume");
    tb.resume().expect("resume");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ta.stats().await.expect("stats").peers, 1);
    assert_eq!(tb.stats().await.expect("stats").peers, 1);
    assert_eq!(a.connections(), 1);
    assert_eq!(b.connections(), 1);
    a.shutdown().await;
    b.shutdown().await;
}
