//! Property tests of picker invariants over random peers and random event sequences.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use swarmfs_metainfo::{BLOCK_SIZE, Bitfield, Geometry};

use crate::{Block, BlockOutcome, PeerEvent, PeerKey, Picker, PickerAction, Priority};

#[derive(Clone, Debug)]
enum Op {
    Pick { peer: usize, n: usize },
    Deliver { pick: usize },
    Fail { pick: usize },
    Leave { peer: usize },
    Have { peer: usize, piece: u32 },
    Priority { piece: u32, value: u8 },
    HashFails,
}

fn op(peers: usize, pieces: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..peers, 1..8usize).prop_map(|(peer, n)| Op::Pick { peer, n }),
        4 => any::<usize>().prop_map(|pick| Op::Deliver { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Fail { pick }),
        1 => (0..peers).prop_map(|peer| Op::Leave { peer }),
        1 => (0..peers, 0..pieces).prop_map(|(peer, piece)| Op::Have { peer, piece }),
        1 => (0..pieces, 0..4u8).prop_map(|(piece, value)| Op::Priority { piece, value }),
        1 => Just(Op::HashFails),
    ]
}

struct Model {
    picker: Picker,
    geometry: Geometry,
    has: Vec<Bitfield>,
    /// Outstanding requests as the engine would track them.
    out: BTreeMap<(PeerKey, Block), ()>,
    fail_next_hash: bool,
}

impl Model {
    fn key(i: usize) -> PeerKey {
        PeerKey(i as u64 + 1)
    }

    fn outstanding(&self) -> Vec<(PeerKey, Block)> {
        self.out.keys().copied().collect()
    }

    fn pick(&mut self, i: usize, n: usize) -> Result<(), TestCaseError> {
        let peer = Self::key(i);
        let endgame_before = self.picker.is_endgame();
        let mut got = Vec::new();
        self.picker.pick(peer, n, &mut got);
        let endgame = endgame_before || self.picker.is_endgame();
        prop_assert!(got.len() <= n);
        let mut seen = BTreeSet::new();
        for b in got {
            prop_assert!(b.is_valid(&self.geometry));
            prop_assert!(self.has[i].get(b.piece.get()), "{peer:?} lacks {b:?}");
            prop_assert!(
                !self.picker.priority(b.piece).is_skip(),
                "skipped piece {b:?}"
            );
            prop_assert!(
                !self.picker.have().get(b.piece.get()),
                "piece already verified"
            );
            prop_assert!(seen.insert(b), "block twice in one pick");
            prop_assert!(!self.out.contains_key(&(peer, b)), "same peer asked twice");
            let others = self.out.keys().any(|(p, x)| *x == b && *p != peer);
            prop_assert!(
                endgame || !others,
                "duplicate request outside endgame: {b:?}"
            );
            self.out.insert((peer, b), ());
        }
        Ok(())
    }

    fn deliver(&mut self, peer: PeerKey, block: Block) -> Result<(), TestCaseError> {
        self.out.remove(&(peer, block));
        let outcome = self.picker.handle_block(peer, block).unwrap();
        while let Some(PickerAction::Cancel { peer: p, block: b }) = self.picker.poll_action() {
            prop_assert_eq!(b, block);
            prop_assert!(
                self.out.remove(&(p, b)).is_some(),
                "cancel for a request not outstanding"
            );
        }
        if outcome
            == (BlockOutcome::Accepted {
                piece_complete: true,
            })
        {
            if std::mem::take(&mut self.fail_next_hash) {
                let suspects = self.picker.handle_hash_failed(block.piece);
                prop_assert!(suspects.contains(&peer));
            } else {
                prop_assert!(self.picker.handle_hash_passed(block.piece));
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Pick { peer, n } => self.pick(peer, n)?,
            Op::Deliver { pick } | Op::Fail { pick } if !self.out.is_empty() => {
                let all = self.outstanding();
                let (peer, block) = all[pick % all.len()];
                if matches!(op, Op::Deliver { .. }) {
                    self.deliver(peer, block)?;
                } else {
                    self.out.remove(&(peer, block));
                    self.picker.handle_request_failed(peer, block);
                }
            }
            Op::Deliver { .. } | Op::Fail { .. } => {}
            Op::Leave { peer } => {
                let key = Self::key(peer);
                self.picker.handle_peer(key, PeerEvent::Gone).unwrap();
                self.out.retain(|(p, _), _| *p != key);
                // It reconnects at once with what it had.
                self.picker
                    .handle_peer(key, PeerEvent::Bitfield(self.has[peer].clone()))
                    .unwrap();
            }
            Op::Have { peer, piece } => {
                self.has[peer].set(piece, true);
                let piece = self.geometry.piece(piece).unwrap();
                self.picker
                    .handle_peer(Self::key(peer), PeerEvent::Have(piece))
                    .unwrap();
            }
            Op::Priority { piece, value } => {
                let piece = self.geometry.piece(piece).unwrap();
                self.picker
                    .set_piece_priority(piece, Priority::new(value))
                    .unwrap();
            }
            Op::HashFails => self.fail_next_hash = true,
        }
        Ok(())
    }
}

fn setup() -> impl Strategy<Value = (u32, u64, Vec<Vec<bool>>, u64)> {
    (
        1..24u32,
        0..2 * u64::from(BLOCK_SIZE),
        1..5usize,
        any::<u64>(),
    )
        .prop_flat_map(|(pieces, tail, peers, seed)| {
            let bits = proptest::collection::vec(
                proptest::collection::vec(any::<bool>(), pieces as usize),
                peers,
            );
            (Just(pieces), Just(tail), bits, Just(seed))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn picker_invariants_and_completion(
        (pieces, tail, bits, seed) in setup(),
        ops in proptest::collection::vec(op(4, 24), 0..120),
    ) {
        let piece_len = 2 * u64::from(BLOCK_SIZE);
        let total = (u64::from(pieces) - 1) * piece_len + tail.max(1);
        let geometry = Geometry::new(piece_len, &[total]).unwrap();
        let mut m = Model {
            picker: Picker::new(&geometry, seed),
            geometry: geometry.clone(),
            has: Vec::new(),
            out: BTreeMap::new(),
            fail_next_hash: false,
        };
        for (i, b) in bits.iter().enumerate() {
            let mut bf = Bitfield::new(pieces);
            for (p, &set) in b.iter().enumerate() {
                bf.set(p as u32, set);
            }
            m.picker.handle_peer(Model::key(i), PeerEvent::Bitfield(bf.clone())).unwrap();
            m.has.push(bf);
        }
        for op in ops {
            let op = match op {
                Op::Pick { peer, n } => Op::Pick { peer: peer % bits.len(), n },
                Op::Leave { peer } => Op::Leave { peer: peer % bits.len() },
                Op::Have { peer, piece } => Op::Have { peer: peer % bits.len(), piece: piece % pieces },
                Op::Priority { piece, value } => Op::Priority { piece: piece % pieces, value },
                other => other,
            };
            m.apply(op)?;
            m.picker.check_invariants();
        }
        // Liveness: keep picking and delivering; every wanted piece some peer has completes.
        m.fail_next_hash = false;
        for _ in 0..10_000 {
            for i in 0..bits.len() {
                m.pick(i, 4)?;
            }
            let all = m.outstanding();
            if all.is_empty() {
                break;
            }
            for (peer, block) in all {
                if m.out.contains_key(&(peer, block)) {
                    m.deliver(peer, block)?;
                }
            }
            m.picker.check_invariants();
        }
        for p in 0..pieces {
            let piece = geometry.piece(p).unwrap();
            let obtainable = m.has.iter().any(|b| b.get(p));
            if obtainable && !m.picker.priority(piece).is_skip() {
                prop_assert!(m.picker.have().get(p), "piece {p} never completed");
            }
            if !obtainable {
                prop_assert!(!m.picker.have().get(p), "piece {p} completed from nowhere");
            }
        }
    }
}
