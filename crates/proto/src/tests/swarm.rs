//! Whole downloads in the simulated swarm: completion, endgame, snubbing, corruption, selection.

use std::collections::{BTreeMap, BTreeSet};

use swarmfs_metainfo::Geometry;

use super::util::{KIB, Log, MIB, Swarm, ms};
use crate::{Block, PeerKey, Priority};

/// Each block is requested by one peer at a time unless the picker was in endgame.
fn assert_no_duplicates_outside_endgame(s: &Swarm) {
    let mut open: BTreeMap<Block, BTreeSet<PeerKey>> = BTreeMap::new();
    for l in &s.log {
        match l {
            Log::Request {
                peer,
                block,
                endgame,
            } => {
                let holders = open.entry(*block).or_default();
                assert!(
                    *endgame || holders.is_empty(),
                    "{block:?} requested from {peer:?} while {holders:?} hold it, not in endgame"
                );
                holders.insert(*peer);
            }
            Log::Cancel { peer, block } | Log::TimedOut { peer, block } => {
                if let Some(h) = open.get_mut(block) {
                    h.remove(peer);
                }
            }
            Log::Verified(_) | Log::HashFailed { .. } | Log::Snubbed(_) => {}
        }
    }
}

#[test]
fn five_partial_peers_complete_every_piece_once() {
    let mut s = Swarm::new(64 * KIB, 64 * 64 * KIB, 7);
    for k in 0..5u32 {
        // Peer k has every piece p with p % 5 != k: each piece misses from exactly one peer.
        let have: Vec<u32> = (0..64).filter(|p| p % 5 != k).collect();
        s.add_peer(Some(&have), ms(5 + 10 * u64::from(k)), 4.0 * MIB);
    }
    s.drive(1_000_000);
    assert!(s.picker.is_done());
    let mut v = s.verified();
    assert_eq!(v.len(), 64, "each piece verified once");
    v.sort_unstable();
    assert_eq!(v, (0..64).collect::<Vec<_>>());
    assert_no_duplicates_outside_endgame(&s);
    for (peer, block, _) in s.requests() {
        let k = (peer.0 - 1) as u32;
        assert_ne!(
            block.piece.get() % 5,
            k,
            "{peer:?} asked for a piece it lacks"
        );
    }
    assert!(s.peers.iter().all(|p| p.delivered > 0), "all peers used");
}

#[test]
fn endgame_duplicates_the_slow_peers_blocks_and_cancels_them() {
    let mut s = Swarm::new(64 * KIB, 8 * 64 * KIB, 3);
    let fast = s.add_peer(None, ms(5), 20.0 * MIB);
    let slow = s.add_peer(None, ms(100), 64.0 * 1024.0);
    s.drive(100_000);
    assert!(s.picker.is_done());
    assert_no_duplicates_outside_endgame(&s);
    let (fast, slow) = (s.peers[fast].key, s.peers[slow].key);
    let slow_asked: BTreeSet<Block> = s
        .requests()
        .filter(|(p, ..)| *p == slow)
        .map(|(_, b, _)| b)
        .collect();
    let dup: BTreeSet<Block> = s
        .requests()
        .filter(|(p, b, _)| *p == fast && slow_asked.contains(b))
        .map(|(_, b, _)| b)
        .collect();
    assert!(
        !dup.is_empty(),
        "fast peer got endgame duplicates of the slow peer's blocks"
    );
    let cancelled: Vec<Block> = s
        .log
        .iter()
        .filter_map(|l| match l {
            Log::Cancel { peer, block } if *peer == slow => Some(*block),
            _ => None,
        })
        .collect();
    assert!(!cancelled.is_empty());
    assert!(cancelled.iter().all(|b| dup.contains(b)));
    // The slow peer alone would need > 1 s per block in flight; endgame finished far sooner.
    assert!(s.elapsed() < ms(1_500), "took {:?}", s.elapsed());
}

#[test]
fn snubbing_peer_loses_its_requests_to_others() {
    let mut s = Swarm::new(64 * KIB, 16 * 64 * KIB, 5);
    // Without endgame duplicates, only the request timeout can free the silent peer's blocks.
    s.picker.set_endgame_requesters(1);
    let silent = s.add_peer(None, ms(10), 10.0 * MIB);
    s.peers[silent].silent = true;
    s.add_peer(None, ms(10), 10.0 * MIB);
    s.drive(100_000);
    assert!(s.picker.is_done());
    assert!(s.log.contains(&Log::Snubbed(s.peers[silent].key)));
    assert!(s.peers[silent].pipeline.is_snubbed());
    // After the snub the silent peer holds one request at most.
    assert!(s.peers[silent].pipeline.outstanding() <= 1);
    assert!(
        s.elapsed() >= ms(20_000),
        "the timeout is what freed the blocks"
    );
}

#[test]
fn corrupt_data_is_refetched_and_its_sender_named() {
    let mut s = Swarm::new(64 * KIB, 32 * 64 * KIB, 9);
    let bad = s.add_peer(None, ms(5), 8.0 * MIB);
    s.peers[bad].corrupt = true;
    s.add_peer(None, ms(5), 8.0 * MIB);
    let bad_key = s.peers[bad].key;
    // Run until the first failed hash, then ban the peer it names alone (what the engine does).
    s.fill();
    while !s.log.iter().any(|l| matches!(l, Log::HashFailed { .. })) {
        assert!(s.step());
    }
    let suspects = s
        .log
        .iter()
        .find_map(|l| match l {
            Log::HashFailed { suspects, .. } => Some(suspects.clone()),
            _ => None,
        })
        .unwrap();
    assert!(suspects.contains(&bad_key));
    s.remove_peer(bad);
    s.drive(1_000_000);
    assert!(s.picker.is_done());
    assert_eq!(s.verified().len(), 32);
}

#[test]
fn selective_download_fetches_only_wanted_files() {
    // Files of 100, 300 and 100 KiB over 64 KiB pieces; only the middle one is wanted.
    let g = Geometry::new(64 * KIB, &[100 * KIB, 300 * KIB, 100 * KIB]).unwrap();
    let mut s = Swarm::with_geometry(g.clone(), 1);
    s.picker.set_file_priority(0, Priority::SKIP).unwrap();
    s.picker.set_file_priority(2, Priority::SKIP).unwrap();
    s.add_peer(None, ms(5), 8.0 * MIB);
    s.add_peer(None, ms(8), 8.0 * MIB);
    s.drive(100_000);
    assert!(s.picker.is_done());
    let wanted = g.file_pieces(1).unwrap();
    let asked: BTreeSet<u32> = s.requests().map(|(_, b, _)| b.piece.get()).collect();
    let expected: BTreeSet<u32> = (wanted.start().get()..=wanted.end().get()).collect();
    assert_eq!(
        asked, expected,
        "pieces shared with the wanted file included, no others"
    );
}

#[test]
fn streaming_reader_pieces_verify_first() {
    let mut s = Swarm::new(64 * KIB, 64 * 64 * KIB, 13);
    for k in 0..3 {
        s.add_peer(None, ms(10 + 5 * k), 4.0 * MIB);
    }
    let now = s.now;
    s.picker.read_at(now, 40 * 64 * KIB, 4);
    s.drive(1_000_000);
    assert!(s.picker.is_done());
    let mut first: Vec<u32> = s.verified()[..4].to_vec();
    first.sort_unstable();
    assert_eq!(first, vec![40, 41, 42, 43]);
}

mod props {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::super::util::{KIB, Swarm, ms};
    use super::assert_no_duplicates_outside_endgame;

    #[derive(Clone, Debug)]
    struct PeerSpec {
        pieces: Vec<bool>,
        seed: bool,
        latency_ms: u64,
        rate_kib: u32,
        silent: bool,
    }

    fn peer(pieces: usize) -> impl Strategy<Value = PeerSpec> {
        (
            proptest::collection::vec(any::<bool>(), pieces),
            proptest::bool::weighted(0.2),
            1..200u64,
            16..20_000u32,
            proptest::bool::weighted(0.15),
        )
            .prop_map(|(pieces, seed, latency_ms, rate_kib, silent)| PeerSpec {
                pieces,
                seed,
                latency_ms,
                rate_kib,
                silent,
            })
    }

    fn swarm() -> impl Strategy<Value = (u32, Vec<PeerSpec>, u64)> {
        (1..40u32).prop_flat_map(|n| {
            (
                Just(n),
                proptest::collection::vec(peer(n as usize), 1..6),
                any::<u64>(),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any mix of partial peers, seeds and silent peers: every piece some responsive peer has
        /// is verified, no block is requested twice outside endgame, and no peer is asked for a
        /// piece it lacks.
        #[test]
        fn simulated_swarm_completes_what_is_obtainable((n, specs, seed) in swarm()) {
            let mut s = Swarm::new(64 * KIB, u64::from(n) * 64 * KIB, seed);
            for spec in &specs {
                let have: Vec<u32> = (0..n).filter(|&p| spec.pieces[p as usize]).collect();
                let i = s.add_peer(
                    (!spec.seed).then_some(&have[..]),
                    ms(spec.latency_ms),
                    f64::from(spec.rate_kib) * 1024.0,
                );
                s.peers[i].silent = spec.silent;
            }
            // Pieces only silent peers have are never finished: bound the simulated time.
            let steps = s.drive_for(Duration::from_secs(300), 200_000);
            assert_no_duplicates_outside_endgame(&s);
            for (peer, block, _) in s.requests() {
                let spec = &specs[(peer.0 - 1) as usize];
                prop_assert!(spec.seed || spec.pieces[block.piece.get() as usize]);
            }
            for p in 0..n {
                let from_responsive = specs
                    .iter()
                    .any(|sp| !sp.silent && (sp.seed || sp.pieces[p as usize]));
                if from_responsive {
                    prop_assert!(
                        s.picker.have().get(p),
                        "piece {} missing after {:?} and {} steps; avail {}; tail {:?}",
                        p,
                        s.elapsed(),
                        steps,
                        s.picker.availability(s.geometry.piece(p).unwrap()),
                        &s.log[s.log.len().saturating_sub(12)..]
                    );
                }
            }
        }
    }
}
