//! BEP 9 metadata assembly with honest, rejecting, silent and lying peers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use swarmfs_metainfo::InfoHash;

use proptest::prelude::*;

use crate::{
    METADATA_PIECE_SIZE, MetadataAssembler, MetadataConfig, MetadataError, MetadataEvent, PeerKey,
    Rng,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Behaviour {
    Honest,
    Rejects,
    Silent,
    /// Flips a byte in every piece it sends.
    Lies,
    /// Flips a byte in piece `i` when bit `i % 64` of the mask is set.
    LiesOn(u64),
    /// Announces a size 7 bytes too large and sends garbage of that size.
    WrongSize,
}

impl Behaviour {
    fn is_liar(self) -> bool {
        matches!(self, Self::Lies | Self::LiesOn(_) | Self::WrongSize)
    }
}

struct Meta {
    info: Vec<u8>,
    now: Instant,
    m: MetadataAssembler,
    behaviour: BTreeMap<PeerKey, Behaviour>,
    asked: Vec<(PeerKey, u32)>,
    events: Vec<MetadataEvent>,
}

impl Meta {
    fn new(len: usize) -> Self {
        let mut rng = Rng::new(len as u64);
        let info: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let ih = InfoHash::of_info_bytes(&info);
        Self {
            info,
            now: Instant::now(),
            m: MetadataAssembler::new(ih, MetadataConfig::default()),
            behaviour: BTreeMap::new(),
            asked: Vec::new(),
            events: Vec::new(),
        }
    }

    fn add(&mut self, k: u64, b: Behaviour) -> PeerKey {
        let key = PeerKey(k);
        self.behaviour.insert(key, b);
        let size = self.info.len() as u64 + if b == Behaviour::WrongSize { 7 } else { 0 };
        self.m.handle_peer_size(key, size).unwrap();
        key
    }

    /// Sends every request the assembler wants and answers it per behaviour, until complete or
    /// stuck; lets timeouts fire when only silent peers hold requests.
    fn run(&mut self) {
        for _ in 0..1000 {
            if self.m.is_complete() {
                break;
            }
            let mut batch = Vec::new();
            while let Some(r) = self.m.poll_request(self.now) {
                batch.push(r);
            }
            if batch.is_empty() {
                match self.m.poll_timeout() {
                    Some(at) => {
                        self.now = at;
                        self.m.handle_timeout(self.now);
                        continue;
                    }
                    None => break,
                }
            }
            for (peer, piece) in batch {
                self.asked.push((peer, piece));
                let start = (piece * METADATA_PIECE_SIZE) as usize;
                let end = (start + METADATA_PIECE_SIZE as usize).min(self.info.len());
                let mut data = self.info[start..end].to_vec();
                let total = self.info.len() as u64;
                match self.behaviour[&peer] {
                    Behaviour::Honest => self.m.handle_data(peer, piece, total, &data).unwrap(),
                    Behaviour::Lies => {
                        data[0] ^= 0xff;
                        self.m.handle_data(peer, piece, total, &data).unwrap();
                    }
                    Behaviour::LiesOn(mask) => {
                        if mask & (1 << (piece % 64)) != 0 {
                            data[0] ^= 0xff;
                        }
                        self.m.handle_data(peer, piece, total, &data).unwrap();
                    }
                    Behaviour::WrongSize => {
                        let size = total + 7;
                        let len = (size - u64::from(piece) * 16384).min(16384) as usize;
                        self.m
                            .handle_data(peer, piece, size, &vec![0xab; len])
                            .unwrap();
                    }
                    Behaviour::Rejects => self.m.handle_reject(peer, piece),
                    Behaviour::Silent => {}
                }
            }
            while let Some(e) = self.m.poll_event() {
                self.events.push(e);
            }
        }
        while let Some(e) = self.m.poll_event() {
            self.events.push(e);
        }
    }

    fn completed(&self) -> Option<&Vec<u8>> {
        self.events.iter().find_map(|e| match e {
            MetadataEvent::Complete(b) => Some(b),
            _ => None,
        })
    }

    fn banned(&self) -> BTreeSet<PeerKey> {
        self.events
            .iter()
            .filter_map(|e| match e {
                MetadataEvent::Ban(p) => Some(*p),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn pieces_come_from_several_peers_and_verify() {
    let mut t = Meta::new(5 * 16384 + 1000);
    let peers: Vec<PeerKey> = (1..=3).map(|k| t.add(k, Behaviour::Honest)).collect();
    t.run();
    assert_eq!(t.completed(), Some(&t.info));
    assert!(t.m.is_complete());
    let used: BTreeSet<PeerKey> = t.asked.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        used,
        peers.into_iter().collect(),
        "requests spread over all peers"
    );
    assert_eq!(t.asked.len(), 6, "each piece asked once");
    assert!(t.banned().is_empty());
}

#[test]
fn rejected_pieces_are_asked_elsewhere() {
    let mut t = Meta::new(3 * 16384);
    let r = t.add(1, Behaviour::Rejects);
    t.add(2, Behaviour::Honest);
    t.run();
    assert_eq!(t.completed(), Some(&t.info));
    let mut by_rejecter: Vec<u32> = t
        .asked
        .iter()
        .filter(|(p, _)| *p == r)
        .map(|(_, i)| *i)
        .collect();
    let n = by_rejecter.len();
    by_rejecter.dedup();
    assert_eq!(
        by_rejecter.len(),
        n,
        "a rejected piece is never asked of the same peer again"
    );
}

#[test]
fn silent_peer_times_out_and_another_serves() {
    let mut t = Meta::new(2 * 16384);
    t.add(1, Behaviour::Silent);
    t.add(2, Behaviour::Honest);
    let start = t.now;
    t.run();
    assert_eq!(t.completed(), Some(&t.info));
    assert!(
        t.now - start >= Duration::from_secs(10),
        "waited for the request timeout"
    );
}

#[test]
fn liar_among_honest_peers_is_found_and_banned() {
    let mut t = Meta::new(6 * 16384);
    t.add(1, Behaviour::Honest);
    let liar = t.add(2, Behaviour::Lies);
    t.add(3, Behaviour::Honest);
    t.run();
    assert_eq!(t.completed(), Some(&t.info));
    let first_failure = t.events.iter().find_map(|e| match e {
        MetadataEvent::HashFailed { suspects } => Some(suspects.clone()),
        _ => None,
    });
    assert!(first_failure.unwrap().contains(&liar));
    assert_eq!(t.banned(), [liar].into(), "only the liar is banned");
}

#[test]
fn lone_liar_is_banned_and_liar_announcing_wrong_size_too() {
    let mut t = Meta::new(2 * 16384);
    let liar = t.add(1, Behaviour::Lies);
    t.run();
    assert!(t.completed().is_none());
    assert_eq!(t.banned(), [liar].into());
    assert!(
        t.m.poll_request(t.now).is_none(),
        "banned peers are not asked"
    );
    t.add(2, Behaviour::Honest);
    t.run();
    assert_eq!(t.completed(), Some(&t.info));

    // A peer announcing a different (wrong) size first: its assembly fails alone.
    let mut t = Meta::new(16384 + 10);
    let wrong = PeerKey(9);
    t.behaviour.insert(wrong, Behaviour::Lies);
    t.m.handle_peer_size(wrong, 20).unwrap();
    let (peer, piece) = t.m.poll_request(t.now).unwrap();
    assert_eq!((peer, piece), (wrong, 0));
    t.m.handle_data(wrong, 0, 20, &[0; 20]).unwrap();
    t.add(2, Behaviour::Honest);
    t.run();
    assert_eq!(t.completed(), Some(&t.info));
    assert_eq!(t.banned(), [wrong].into());
}

#[test]
fn hostile_sizes_and_pieces_are_typed_errors() {
    let mut t = Meta::new(16384 + 10);
    let max = MetadataConfig::default().max_size;
    assert_eq!(
        t.m.handle_peer_size(PeerKey(1), 0),
        Err(MetadataError::BadSize { size: 0, max })
    );
    let huge = u64::from(max) + 1;
    assert_eq!(
        t.m.handle_peer_size(PeerKey(1), huge),
        Err(MetadataError::BadSize { size: huge, max })
    );
    let p = t.add(1, Behaviour::Honest);
    let total = t.info.len() as u64;
    assert_eq!(
        t.m.handle_data(p, 0, total + 1, &[0; 16384]),
        Err(MetadataError::SizeMismatch {
            got: total + 1,
            expected: total as u32
        })
    );
    assert_eq!(
        t.m.handle_data(p, 2, total, &[0; 10]),
        Err(MetadataError::PieceOutOfRange { piece: 2, count: 2 })
    );
    assert_eq!(
        t.m.handle_data(p, 1, total, &[0; 11]),
        Err(MetadataError::BadPieceLength {
            piece: 1,
            len: 11,
            expected: 10
        })
    );
    // Rejects of requests never sent are ignored (and stored nowhere).
    for piece in 0..10_000 {
        t.m.handle_reject(p, piece);
    }
    // Data nobody asked for is ignored: the piece is still requested from the peer.
    t.m.handle_data(p, 1, total, &[0; 10]).unwrap();
    t.run();
    assert_eq!(t.completed(), Some(&t.info));
}

#[test]
fn majority_size_wins_and_bans_survive_reannouncement() {
    let mut t = Meta::new(16384 + 10);
    let wrong = PeerKey(1);
    t.behaviour.insert(wrong, Behaviour::Lies);
    t.m.handle_peer_size(wrong, 5).unwrap();
    t.add(2, Behaviour::Honest);
    t.add(3, Behaviour::Honest);
    t.run();
    assert_eq!(t.completed(), Some(&t.info));
    assert!(
        t.asked.iter().all(|(p, _)| *p != wrong),
        "minority size never used"
    );
    assert_eq!(t.m.failures(), 0);

    let mut t = Meta::new(2 * 16384);
    let liar = t.add(1, Behaviour::Lies);
    t.run();
    assert_eq!(t.banned(), [liar].into());
    t.m.handle_peer_size(liar, t.info.len() as u64).unwrap();
    assert_eq!(
        t.m.poll_request(t.now),
        None,
        "still banned after announcing again"
    );
}

#[test]
fn spreads_again_when_every_peer_was_tried_alone() {
    // Two peers that each reject one different piece: neither can serve alone, together they can.
    let mut t = Meta::new(2 * 16384);
    let (a, b) = (PeerKey(1), PeerKey(2));
    for p in [a, b] {
        t.behaviour.insert(p, Behaviour::Honest);
        t.m.handle_peer_size(p, t.info.len() as u64).unwrap();
    }
    // First attempt: a bad piece makes it fail, so later attempts are single-peer ones.
    let (p0, i0) = t.m.poll_request(t.now).unwrap();
    let (p1, i1) = t.m.poll_request(t.now).unwrap();
    assert_ne!(p0, p1, "first attempt spreads");
    let piece = |i: u32| t.info[(i * 16384) as usize..((i + 1) * 16384) as usize].to_vec();
    let total = t.info.len() as u64;
    t.m.handle_data(p0, i0, total, &vec![0; 16384]).unwrap();
    t.m.handle_data(p1, i1, total, &piece(i1)).unwrap();
    assert_eq!(t.m.failures(), 1);
    // Single attempts: each peer rejects the piece it lacks.
    for _ in 0..2 {
        let (p, i) = t.m.poll_request(t.now).unwrap();
        let lacks = if p == a { 0 } else { 1 };
        if i == lacks {
            t.m.handle_reject(p, i);
        } else {
            t.m.handle_data(p, i, total, &piece(i)).unwrap();
            let (p2, i2) = t.m.poll_request(t.now).unwrap();
            assert_eq!((p2, i2), (p, lacks));
            t.m.handle_reject(p, lacks);
        }
    }
    // Both tried alone: a spread attempt takes each piece from the peer that has it.
    let mut done = false;
    let mut banned = Vec::new();
    for _ in 0..4 {
        while let Some((p, i)) = t.m.poll_request(t.now) {
            let lacks = if p == a { 0 } else { 1 };
            if i == lacks {
                t.m.handle_reject(p, i);
            } else {
                t.m.handle_data(p, i, total, &piece(i)).unwrap();
            }
        }
        while let Some(e) = t.m.poll_event() {
            done |= e == MetadataEvent::Complete(t.info.clone());
            if let MetadataEvent::Ban(p) = e {
                banned.push(p);
            }
        }
    }
    assert!(done);
    assert_eq!(
        banned,
        vec![p0],
        "the zeroed piece of the first attempt is traced to its sender"
    );
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        Just(Behaviour::Rejects),
        Just(Behaviour::Silent),
        Just(Behaviour::Lies),
        any::<u64>().prop_map(Behaviour::LiesOn),
        Just(Behaviour::WrongSize),
        Just(Behaviour::Honest),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// With one honest peer among any mix of liars, rejecters and silent peers, the metadata is
    /// assembled, it is the real one, and only peers that lied are banned.
    #[test]
    fn any_crowd_with_one_honest_peer_yields_the_metadata(
        len in 1..100_000usize,
        others in proptest::collection::vec(behaviour(), 0..6),
        honest_at in any::<usize>(),
    ) {
        let mut t = Meta::new(len);
        let mut crowd = others;
        let at = honest_at % (crowd.len() + 1);
        crowd.insert(at, Behaviour::Honest);
        for (k, b) in crowd.iter().enumerate() {
            t.add(k as u64 + 1, *b);
        }
        t.run();
        prop_assert!(t.completed() == Some(&t.info), "not assembled; events {:?}", t.events.len());
        for peer in t.banned() {
            prop_assert!(t.behaviour[&peer].is_liar(), "{:?} banned", t.behaviour[&peer]);
        }
        prop_assert!(t.events.iter().filter(|e| matches!(e, MetadataEvent::Complete(_))).count() == 1);
    }
}
