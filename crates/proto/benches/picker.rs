//! Picker throughput: a full download of a 4096-piece torrent (256 KiB pieces, 16 blocks each)
//! from 50 peers (10 seeds, 40 with random halves), every block picked, received and every piece
//! verified through the picker. Prints blocks picked per second for batch sizes 1 (one pick call
//! per block) and 16, with blocks delivered at once or with 64 requests in flight per peer (so
//! that about 200 pieces are in progress, as in a real swarm).
//!
//! Run: `cargo bench -p swarmfs-proto --bench picker`

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use swarmfs_metainfo::{Bitfield, Geometry};
use swarmfs_proto::{Block, BlockOutcome, PeerEvent, PeerKey, Picker, PickerAction, Rng};

const PIECES: u32 = 4096;
const PIECE_LEN: u64 = 256 * 1024;
const PEERS: u64 = 50;
const SEEDS: u64 = 10;
/// Downloads per measurement (the kernel's CPU clock may tick in milliseconds).
const ROUNDS: u64 = 10;

fn setup(seed: u64) -> Picker {
    let geometry =
        Geometry::new(PIECE_LEN, &[PIECE_LEN * u64::from(PIECES)]).expect("valid geometry");
    let mut picker = Picker::new(&geometry, seed);
    let mut rng = Rng::new(seed ^ 0x5eed);
    for k in 0..PEERS {
        let event = if k < SEEDS {
            PeerEvent::HaveAll
        } else {
            let mut bits = Bitfield::new(PIECES);
            for p in 0..PIECES {
                bits.set(p, rng.below(2) == 1);
            }
            PeerEvent::Bitfield(bits)
        };
        picker
            .handle_peer(PeerKey(k), event)
            .expect("bitfield fits");
    }
    picker
}

/// Downloads everything `ROUNDS` times (fresh pickers, set up before the clock starts) with up to
/// `depth` requests in flight per peer, delivered oldest first; returns (blocks picked, pick
/// calls, seconds).
fn run(batch: usize, depth: usize, seed: u64) -> (u64, u64, f64) {
    let pickers: Vec<Picker> = (0..ROUNDS).map(|r| setup(seed * 1000 + r)).collect();
    let mut out: Vec<Block> = Vec::with_capacity(batch);
    let mut in_flight: VecDeque<(PeerKey, Block)> = VecDeque::new();
    let mut cancelled: HashSet<(PeerKey, Block)> = HashSet::new();
    let cap = depth * PEERS as usize;
    let (mut blocks, mut calls) = (0u64, 0u64);
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    for mut picker in pickers {
        in_flight.clear();
        cancelled.clear();
        let mut k = 0;
        while !picker.is_done() {
            let peer = PeerKey(k % PEERS);
            k += 1;
            out.clear();
            calls += 1;
            let n = picker.pick(peer, batch, &mut out);
            blocks += n as u64;
            in_flight.extend(out.iter().map(|&b| (peer, b)));
            while in_flight.len() > cap || (n == 0 && !in_flight.is_empty()) {
                let Some((from, b)) = in_flight.pop_front() else {
                    break;
                };
                if cancelled.remove(&(from, b)) {
                    continue;
                }
                if picker.handle_block(from, b).expect("valid block")
                    == (BlockOutcome::Accepted {
                        piece_complete: true,
                    })
                {
                    picker.handle_hash_passed(b.piece);
                }
                while let Some(PickerAction::Cancel { peer, block }) = picker.poll_action() {
                    cancelled.insert((peer, block));
                }
                if n == 0 {
                    break;
                }
            }
        }
    }
    // CPU time of this thread when the kernel reports it (the machine may be shared), else wall.
    let secs = match (cpu_start, cpu_seconds()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => start.elapsed().as_secs_f64(),
    };
    (blocks, calls, secs)
}

/// On-CPU time of the calling thread (Linux `/proc/thread-self/schedstat`, nanoseconds).
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

fn main() {
    println!(
        "picker bench: {PIECES} pieces x 16 blocks, {PEERS} peers ({SEEDS} seeds), median of 5, \
         per CPU-second of the bench thread"
    );
    for (batch, depth) in [(1usize, 0usize), (16, 0), (1, 64), (16, 64)] {
        let mut rates: Vec<(f64, f64, f64)> = (0..5)
            .map(|i| {
                let (blocks, calls, secs) = run(batch, depth, 100 + i);
                (blocks as f64 / secs, calls as f64 / secs, secs)
            })
            .collect();
        rates.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (bps, cps, secs) = rates[rates.len() / 2];
        println!(
            "batch {batch:>2}, {depth:>2} in flight/peer: {:.2} M blocks picked/s, {:.2} M pick calls/s, \
             whole torrent {:.1} CPU-ms ({:.1} GiB/s of 16 KiB requests)",
            bps / 1e6,
            cps / 1e6,
            secs * 1e3 / ROUNDS as f64,
            bps * 16384.0 / (1u64 << 30) as f64
        );
    }
}
