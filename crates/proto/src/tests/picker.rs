//! Picker order: rarest first, random start, whole pieces, priorities, skip, deadlines.

use std::time::{Duration, Instant};

use swarmfs_metainfo::{BLOCK_SIZE, Bitfield, Geometry, PieceIndex};

use crate::{Block, BlockOutcome, PeerEvent, PeerKey, Picker, PickerAction, PickerError, Priority};

const A: PeerKey = PeerKey(1);
const B: PeerKey = PeerKey(2);
const C: PeerKey = PeerKey(3);
const D: PeerKey = PeerKey(4);

fn bits(n: u32, ones: impl IntoIterator<Item = u32>) -> Bitfield {
    let mut b = Bitfield::new(n);
    for p in ones {
        b.set(p, true);
    }
    b
}

fn one_block_pieces(n: u32) -> Geometry {
    Geometry::new(
        u64::from(BLOCK_SIZE),
        &[u64::from(BLOCK_SIZE) * u64::from(n)],
    )
    .unwrap()
}

fn pick(picker: &mut Picker, peer: PeerKey, n: usize) -> Vec<Block> {
    let mut out = Vec::new();
    picker.pick(peer, n, &mut out);
    out
}

fn pieces(blocks: &[Block]) -> Vec<u32> {
    blocks.iter().map(|b| b.piece.get()).collect()
}

fn receive_all(picker: &mut Picker, peer: PeerKey, blocks: &[Block]) -> Vec<PieceIndex> {
    let mut complete = Vec::new();
    for &b in blocks {
        if picker.handle_block(peer, b).unwrap()
            == (BlockOutcome::Accepted {
                piece_complete: true,
            })
        {
            complete.push(b.piece);
        }
    }
    complete
}

#[test]
fn rarest_first() {
    let g = one_block_pieces(8);
    let mut p = Picker::new(&g, 1);
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    p.handle_peer(B, PeerEvent::Bitfield(bits(8, 0..7)))
        .unwrap();
    p.handle_peer(C, PeerEvent::Bitfield(bits(8, 0..5)))
        .unwrap();
    p.handle_peer(D, PeerEvent::Bitfield(bits(8, 0..3)))
        .unwrap();
    let order: Vec<u32> = (0..8).map(|_| pieces(&pick(&mut p, A, 1))[0]).collect();
    let avail: Vec<u32> = order
        .iter()
        .map(|&i| p.availability(g.piece(i).unwrap()))
        .collect();
    assert_eq!(avail, vec![1, 2, 2, 3, 3, 4, 4, 4], "order {order:?}");
    assert_eq!(order[0], 7);
    assert!(
        pick(&mut p, A, 1).is_empty(),
        "every block requested once, A has them all"
    );
}

#[test]
fn random_start_among_equally_rare_is_seeded() {
    let g = one_block_pieces(64);
    let first = |seed| {
        let mut p = Picker::new(&g, seed);
        p.handle_peer(A, PeerEvent::HaveAll).unwrap();
        pieces(&pick(&mut p, A, 1))[0]
    };
    let firsts: std::collections::BTreeSet<u32> = (0..20).map(first).collect();
    assert!(firsts.len() >= 8, "first picks {firsts:?}");
    assert_eq!(first(42), first(42));
}

#[test]
fn whole_pieces_are_finished_before_new_ones_start() {
    let g = Geometry::new(4 * u64::from(BLOCK_SIZE), &[16 * u64::from(BLOCK_SIZE)]).unwrap();
    let mut p = Picker::new(&g, 3);
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    p.handle_peer(B, PeerEvent::HaveAll).unwrap();
    let a = pick(&mut p, A, 2);
    assert_eq!(a[0].piece, a[1].piece);
    assert_eq!((a[0].offset, a[1].offset), (0, BLOCK_SIZE));
    let b = pick(&mut p, B, 4);
    assert_eq!(
        pieces(&b[..2]),
        vec![a[0].piece.get(); 2],
        "B finishes A's piece first"
    );
    assert_eq!((b[0].offset, b[1].offset), (2 * BLOCK_SIZE, 3 * BLOCK_SIZE));
    assert_ne!(b[2].piece, a[0].piece);
    assert_eq!(
        b[2].piece, b[3].piece,
        "then one new piece, block after block"
    );
}

#[test]
fn priority_beats_rarity_and_skip_is_never_picked() {
    let g = one_block_pieces(4);
    let mut p = Picker::new(&g, 5);
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    p.handle_peer(B, PeerEvent::Bitfield(bits(4, [0, 1, 2])))
        .unwrap();
    p.set_piece_priority(g.piece(1).unwrap(), Priority::HIGH)
        .unwrap();
    p.set_piece_priority(g.piece(3).unwrap(), Priority::SKIP)
        .unwrap();
    let order: Vec<u32> = (0..4).flat_map(|_| pieces(&pick(&mut p, A, 1))).collect();
    // 1 is high priority; 3 (the rarest) is skipped; 0 and 2 follow in either order.
    assert_eq!(order[0], 1);
    assert_eq!(order.len(), 3);
    assert!(!order.contains(&3));
}

#[test]
fn skipped_file_keeps_pieces_it_shares_with_wanted_files() {
    // Pieces of 32 KiB over files of 40 KiB and 40 KiB: piece 1 straddles both files.
    let k = 1024;
    let g = Geometry::new(32 * k, &[40 * k, 40 * k]).unwrap();
    let mut p = Picker::new(&g, 9);
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    p.set_file_priority(1, Priority::SKIP).unwrap();
    assert_eq!(p.priority(g.piece(1).unwrap()), Priority::NORMAL);
    assert_eq!(p.priority(g.piece(2).unwrap()), Priority::SKIP);
    let got = pick(&mut p, A, 100);
    let mut ps = pieces(&got);
    ps.dedup();
    ps.sort_unstable();
    assert_eq!(ps, vec![0, 1]);
    for done in receive_all(&mut p, A, &got) {
        assert!(p.handle_hash_passed(done));
    }
    assert!(p.is_done(), "done without the skipped file's own piece");
    assert!(!p.have().get(2));
    p.set_file_priority(0, Priority::SKIP).unwrap();
    assert_eq!(p.priority(g.piece(1).unwrap()), Priority::SKIP);
    assert_eq!(
        p.set_file_priority(2, Priority::LOW),
        Err(PickerError::NoSuchFile { index: 2, count: 2 })
    );
}

#[test]
fn reader_deadlines_come_first_in_order() {
    let g = one_block_pieces(16);
    let mut p = Picker::new(&g, 11);
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    p.handle_peer(
        B,
        PeerEvent::Bitfield(bits(16, (0..16).filter(|&i| i != 2))),
    )
    .unwrap();
    let now = Instant::now();
    p.read_at(now, 9 * u64::from(BLOCK_SIZE) + 100, 3);
    let order: Vec<u32> = (0..5).flat_map(|_| pieces(&pick(&mut p, A, 1))).collect();
    assert_eq!(&order[..3], &[9, 10, 11], "urgent pieces in reading order");
    assert_eq!(order[3], 2, "then the rarest");
    // An explicit earlier deadline jumps the queue; a skipped piece with a deadline is wanted.
    p.set_piece_priority(g.piece(14).unwrap(), Priority::SKIP)
        .unwrap();
    p.set_deadline(g.piece(14).unwrap(), now - Duration::from_secs(1))
        .unwrap();
    assert_eq!(pieces(&pick(&mut p, A, 1)), vec![14]);
}

#[test]
fn a_released_deadline_skips_again_what_only_a_reader_wanted() {
    let g = one_block_pieces(8);
    let mut p = Picker::new(&g, 3);
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    for i in 0..8 {
        p.set_piece_priority(g.piece(i).unwrap(), Priority::SKIP)
            .unwrap();
    }
    // Piece 6 is wanted on its own account; 4 and 5 only because a reader waits for them.
    p.set_piece_priority(g.piece(6).unwrap(), Priority::NORMAL)
        .unwrap();
    let now = Instant::now();
    for i in [4, 5, 6] {
        p.set_deadline(g.piece(i).unwrap(), now).unwrap();
    }
    assert_eq!(p.priority(g.piece(5).unwrap()), Priority::NORMAL);
    for i in [4, 5, 6] {
        p.release_deadline(g.piece(i).unwrap());
    }
    assert!(p.priority(g.piece(4).unwrap()).is_skip());
    assert!(p.priority(g.piece(5).unwrap()).is_skip());
    assert_eq!(p.priority(g.piece(6).unwrap()), Priority::NORMAL, "kept");
    assert_eq!(
        pieces(&pick(&mut p, A, 8)),
        vec![6],
        "only the wanted piece"
    );
}

#[test]
fn failed_hash_puts_the_piece_back_and_names_senders() {
    let g = Geometry::new(2 * u64::from(BLOCK_SIZE), &[2 * u64::from(BLOCK_SIZE)]).unwrap();
    let mut p = Picker::new(&g, 1);
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    p.handle_peer(B, PeerEvent::HaveAll).unwrap();
    let a = pick(&mut p, A, 1);
    let b = pick(&mut p, B, 1);
    assert!(receive_all(&mut p, A, &a).is_empty());
    let done = receive_all(&mut p, B, &b);
    assert_eq!(done, vec![g.piece(0).unwrap()]);
    assert!(
        pick(&mut p, A, 4).is_empty(),
        "nothing left while verifying"
    );
    assert_eq!(p.handle_hash_failed(done[0]), vec![A, B]);
    assert_eq!(pick(&mut p, A, 4).len(), 2, "piece downloadable again");
    assert!(!p.handle_hash_passed(done[0]), "not verifying any more");
}

#[test]
fn departed_peer_requests_are_released() {
    let g = Geometry::new(4 * u64::from(BLOCK_SIZE), &[4 * u64::from(BLOCK_SIZE)]).unwrap();
    let mut p = Picker::new(&g, 1);
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    p.handle_peer(B, PeerEvent::HaveAll).unwrap();
    let a = pick(&mut p, A, 3);
    p.handle_peer(A, PeerEvent::Gone).unwrap();
    assert_eq!(p.availability(g.piece(0).unwrap()), 1);
    let b = pick(&mut p, B, 4);
    assert_eq!(b.len(), 4);
    assert!(a.iter().all(|x| b.contains(x)));
    assert!(!p.is_endgame() || b.iter().all(|x| p.requesters(*x) == vec![B]));
}

#[test]
fn released_block_goes_to_another_peer_and_late_copy_is_still_used() {
    let g = one_block_pieces(1);
    let mut p = Picker::new(&g, 1);
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    p.handle_peer(B, PeerEvent::HaveAll).unwrap();
    let a = pick(&mut p, A, 1);
    p.release(A, a[0]);
    assert!(p.block_state_is_free(a[0]));
    assert_eq!(pick(&mut p, B, 1), a);
    // A's late answer arrives first: accepted, and B's request is cancelled.
    assert_eq!(
        p.handle_block(A, a[0]).unwrap(),
        BlockOutcome::Accepted {
            piece_complete: true
        }
    );
    assert_eq!(
        p.poll_action(),
        Some(PickerAction::Cancel {
            peer: B,
            block: a[0]
        })
    );
    assert_eq!(p.handle_block(B, a[0]).unwrap(), BlockOutcome::Duplicate);
}

#[test]
fn availability_tracks_bitfield_have_and_departures() {
    let g = one_block_pieces(10);
    let mut p = Picker::new(&g, 1);
    let p3 = g.piece(3).unwrap();
    p.handle_peer(A, PeerEvent::Have(p3)).unwrap();
    p.handle_peer(A, PeerEvent::Have(p3)).unwrap();
    assert_eq!(p.availability(p3), 1, "repeated have counts once");
    p.handle_peer(B, PeerEvent::HaveAll).unwrap();
    p.handle_peer(C, PeerEvent::Bitfield(bits(10, [3, 4])))
        .unwrap();
    assert_eq!(p.availability(p3), 3);
    p.handle_peer(C, PeerEvent::Bitfield(bits(10, [4])))
        .unwrap();
    assert_eq!(p.availability(p3), 2, "a new bitfield replaces the old one");
    p.handle_peer(B, PeerEvent::HaveNone).unwrap();
    assert_eq!(p.availability(p3), 1);
    p.handle_peer(A, PeerEvent::Gone).unwrap();
    assert_eq!(p.availability(p3), 0);
    assert!(p.is_interesting(C));
    assert!(!p.is_interesting(B));
    assert!(pick(&mut p, B, 5).is_empty(), "B has nothing");
}

#[test]
fn hostile_input_is_a_typed_error() {
    let g = one_block_pieces(10);
    let other = one_block_pieces(20);
    let mut p = Picker::new(&g, 1);
    assert_eq!(
        p.handle_peer(A, PeerEvent::Bitfield(Bitfield::new(11))),
        Err(PickerError::BitfieldLength {
            got: 11,
            expected: 10
        })
    );
    assert_eq!(
        p.handle_peer(A, PeerEvent::Have(other.piece(15).unwrap())),
        Err(PickerError::PieceOutOfRange {
            index: 15,
            count: 10
        })
    );
    let bad = Block {
        piece: g.piece(0).unwrap(),
        offset: 100,
        len: 5,
    };
    assert!(matches!(
        p.handle_block(A, bad),
        Err(PickerError::InvalidBlock { .. })
    ));
    let unasked = Block::nth(&g, g.piece(0).unwrap(), 0).unwrap();
    assert_eq!(
        p.handle_block(A, unasked).unwrap(),
        BlockOutcome::Unrequested
    );
}

#[test]
fn blocked_reader_piece_is_duplicated_to_a_second_peer() {
    let g = Geometry::new(2 * u64::from(BLOCK_SIZE), &[32 * u64::from(BLOCK_SIZE)]).unwrap();
    let mut p = Picker::new(&g, 1);
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    p.handle_peer(B, PeerEvent::HaveAll).unwrap();
    let now = Instant::now();
    p.read_at(now, 2 * u64::from(BLOCK_SIZE), 2); // pieces 1 and 2, reader blocked on 1
    let slow = pick(&mut p, A, 2);
    assert_eq!(pieces(&slow), vec![1, 1]);
    assert!(!p.is_endgame());
    // B gets A's blocks of piece 1 again (the reader waits for them), then piece 2 as usual.
    let b = pick(&mut p, B, 4);
    assert_eq!(pieces(&b), vec![1, 1, 2, 2]);
    assert_eq!(p.requesters(slow[0]), vec![A, B]);
    // Piece 2 is not the head: a third peer gets no duplicates of it.
    p.handle_peer(C, PeerEvent::HaveAll).unwrap();
    let c = pick(&mut p, C, 4);
    assert_eq!(c.len(), 4);
    assert!(c.iter().all(|x| ![1, 2].contains(&x.piece.get())), "{c:?}");
    // B delivers first: A's requests are cancelled.
    assert_eq!(receive_all(&mut p, B, &b[..2]), vec![g.piece(1).unwrap()]);
    let cancels: Vec<PickerAction> = std::iter::from_fn(|| p.poll_action()).collect();
    assert_eq!(cancels.len(), 2);
    assert!(
        cancels
            .iter()
            .all(|c| matches!(c, PickerAction::Cancel { peer, .. } if *peer == A))
    );
}

#[test]
fn a_piece_added_from_outside_cancels_its_requests_and_counts_as_ours() {
    // Two pieces of four blocks each.
    let g = Geometry::new(u64::from(BLOCK_SIZE) * 4, &[u64::from(BLOCK_SIZE) * 8]).unwrap();
    let mut p = Picker::new(&g, 5);
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    p.handle_peer(B, PeerEvent::HaveAll).unwrap();
    let a = pick(&mut p, A, 2);
    let b = pick(&mut p, B, 2);
    let piece = a[0].piece;
    assert!(
        a.iter().chain(&b).all(|x| x.piece == piece),
        "whole piece first"
    );
    assert_eq!(p.handle_piece_added(piece), Ok(true));
    let mut cancels: Vec<(PeerKey, Block)> = std::iter::from_fn(|| p.poll_action())
        .map(|PickerAction::Cancel { peer, block }| (peer, block))
        .collect();
    cancels.sort_by_key(|(_, b)| b.offset);
    let mut expected: Vec<(PeerKey, Block)> = a
        .iter()
        .map(|x| (A, *x))
        .chain(b.iter().map(|x| (B, *x)))
        .collect();
    expected.sort_by_key(|(_, b)| b.offset);
    assert_eq!(cancels, expected);
    assert!(p.have().get(piece.get()));
    assert_eq!(p.handle_piece_added(piece), Ok(false));
    // A late block of it is a duplicate; the rest of the torrent goes on.
    assert_eq!(p.handle_block(A, a[0]), Ok(BlockOutcome::Duplicate));
    let rest = pick(&mut p, A, 8);
    assert_eq!(rest.len(), 4);
    assert!(rest.iter().all(|x| x.piece != piece));
    assert_eq!(receive_all(&mut p, A, &rest).len(), 1);
    assert!(p.handle_hash_passed(rest[0].piece));
    assert!(p.is_done());
    p.check_invariants();
    // A piece whose hash check is pending: added from outside, its verdict is moot.
    let mut q = Picker::new(&g, 6);
    q.handle_peer(A, PeerEvent::HaveAll).unwrap();
    let blocks = pick(&mut q, A, 4);
    let done = receive_all(&mut q, A, &blocks);
    assert_eq!(q.handle_piece_added(done[0]), Ok(true));
    assert!(!q.handle_hash_passed(done[0]));
    assert!(q.poll_action().is_none());
    q.check_invariants();
}

#[test]
fn a_lost_piece_is_no_longer_ours_and_not_fetched_until_asked_for() {
    let g = one_block_pieces(4);
    let mut p = Picker::new(&g, 7);
    for i in 0..4 {
        p.mark_have(g.piece(i).unwrap()).unwrap();
    }
    assert!(p.is_done());
    p.handle_peer(A, PeerEvent::HaveAll).unwrap();
    let lost = g.piece(2).unwrap();
    assert_eq!(p.handle_piece_lost(lost), Ok(true));
    assert_eq!(p.handle_piece_lost(lost), Ok(false));
    assert!(!p.have().get(2));
    assert_eq!(p.priority(lost), Priority::SKIP);
    assert!(p.is_done(), "a lost piece is not wanted by itself");
    assert!(!p.is_interesting(A));
    assert!(pick(&mut p, A, 4).is_empty());
    p.check_invariants();
    // Asking for its file again fetches it.
    p.set_file_priority(0, Priority::NORMAL).unwrap();
    assert!(!p.is_done());
    assert!(p.is_interesting(A));
    assert_eq!(pieces(&pick(&mut p, A, 4)), vec![2]);
    p.check_invariants();
    assert!(matches!(
        p.handle_piece_lost(one_block_pieces(10).piece(9).unwrap()),
        Err(PickerError::PieceOutOfRange { .. })
    ));
}
