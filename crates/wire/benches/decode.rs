//! Decode throughput of peer message streams, printed as MiB/s and messages/s.
//!
//! Run with `cargo bench -p swarmfs-wire`. Streams:
//! - `piece`: 16 KiB `piece` messages only (a download at full speed);
//! - `mixed`: pieces among `have`, `request`, `cancel`, `allowed fast`, keep-alives and small
//!   extended messages, roughly one piece per eight messages.
//!
//! Decoders: `zero-copy` ([`MessageDecoder::decode`] over a filled `BytesMut`), `socket`
//! (the same, fed 64 KiB at a time as reads from a socket would be, copy included) and `slice`
//! ([`MessageDecoder::decode_slice`], which copies payloads).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use swarmfs_wire::{BlockRequest, Extended, Message, MessageDecoder, Piece};

const STREAM_BYTES: usize = 64 << 20;
const ROUNDS: usize = 7;
const READ_SIZE: usize = 64 << 10;

fn piece(i: u32) -> Message {
    Message::Piece(Piece {
        index: i / 16,
        begin: (i % 16) * 16384,
        data: Bytes::from(vec![i as u8; 16384]),
    })
}

fn piece_stream() -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(STREAM_BYTES + 16400);
    let mut n = 0;
    while out.len() < STREAM_BYTES {
        piece(n).encode(&mut out);
        n += 1;
    }
    (out, n as usize)
}

fn mixed_stream() -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(STREAM_BYTES + 16400);
    let mut n = 0u32;
    while out.len() < STREAM_BYTES {
        let r = BlockRequest {
            index: n,
            begin: 0,
            length: 16384,
        };
        let msg = match n % 8 {
            0 => piece(n),
            1 | 2 => Message::Have(n),
            3 => Message::Request(r),
            4 => Message::Cancel(r),
            5 => Message::AllowedFast(n),
            6 => Message::KeepAlive,
            _ => Message::Extended(Extended {
                id: 1,
                payload: Bytes::from_static(b"d8:msg_typei0e5:piecei0ee"),
            }),
        };
        msg.encode(&mut out);
        n += 1;
    }
    (out, n as usize)
}

/// Runs `f` on a fresh input from `setup` ROUNDS times; returns the fastest timed run. The
/// input is dropped outside the timed region (freeing 64 MiB is not decoding).
fn best<T>(
    mut setup: impl FnMut() -> T,
    mut f: impl FnMut(&mut T) -> usize,
    msgs: usize,
) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let mut input = setup();
            let start = Instant::now();
            let decoded = f(&mut input);
            let took = start.elapsed();
            drop(input);
            assert_eq!(decoded, msgs);
            took
        })
        .min()
        .unwrap_or_default()
}

fn zero_copy(buf: &mut BytesMut) -> usize {
    let dec = MessageDecoder::new();
    let mut n = 0;
    while let Some((msg, _)) = dec.decode(buf).unwrap() {
        black_box(msg);
        n += 1;
    }
    n
}

fn socket(stream: &mut &[u8]) -> usize {
    let dec = MessageDecoder::new();
    let mut buf = BytesMut::with_capacity(2 * READ_SIZE);
    let mut n = 0;
    for read in stream.chunks(READ_SIZE) {
        buf.extend_from_slice(read);
        while let Some((msg, _)) = dec.decode(&mut buf).unwrap() {
            black_box(msg);
            n += 1;
        }
    }
    n
}

fn slice(stream: &mut &[u8]) -> usize {
    let dec = MessageDecoder::new();
    let (mut rest, mut n) = (*stream, 0);
    while let Some((msg, used)) = dec.decode_slice(rest).unwrap() {
        black_box(msg);
        rest = &rest[used..];
        n += 1;
    }
    n
}

fn report(stream: &str, decoder: &str, bytes: usize, msgs: usize, took: Duration) {
    let secs = took.as_secs_f64();
    println!(
        "{stream:>6} {decoder:>9}: {:>9.0} MiB/s {:>12.0} msgs/s  ({} MiB, {msgs} msgs, best of {ROUNDS}: {:.2} ms)",
        bytes as f64 / (1 << 20) as f64 / secs,
        msgs as f64 / secs,
        bytes >> 20,
        secs * 1e3,
    );
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent; keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("decode bench: run with `cargo bench -p swarmfs-wire`");
        return;
    }
    for (name, (stream, msgs)) in [("piece", piece_stream()), ("mixed", mixed_stream())] {
        let len = stream.len();
        let took = best(|| BytesMut::from(&stream[..]), zero_copy, msgs);
        report(name, "zero-copy", len, msgs, took);
        let took = best(|| &stream[..], socket, msgs);
        report(name, "socket", len, msgs, took);
        let took = best(|| &stream[..], slice, msgs);
        report(name, "slice", len, msgs, took);
    }
}
