//! Receiving blocks straight into their piece buffer.
//!
//! While a run of blocks (see [`BlockRun`]) is being assembled, a socket read is scattered
//! (`readv`) over the places the next blocks of the piece will take in the run's buffer, with
//! each block's 13-byte `piece` header in a small side buffer. Every header is then checked
//! against the block it was predicted to be. A peer serving our requests sends the blocks of a
//! piece back to back and in order, so in steady state the kernel copies each payload byte
//! straight to its place and nothing copies it again. Anything else (another message, another
//! piece, another order or size) is put back, in stream order, into the reader's ring buffer
//! and decoded as usual; the bytes it left in the run's buffer lie past the run's end and are
//! overwritten later.

use std::io::IoSliceMut;

use swarmfs_metainfo::BLOCK_SIZE;

use super::BlockRun;

/// Length of a `piece` message header: length prefix, id, index, begin.
pub(super) const HEADER_LEN: usize = 13;

/// Most block headers predicted per read (a 256 KiB piece has 16 blocks).
pub(super) const MAX_PREDICTED: usize = 16;

/// Where the stream stands inside the block at the run's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Partial {
    /// `got` bytes of its header are in the first header slot (not checked yet).
    Header {
        /// Header bytes received.
        got: u8,
    },
    /// Its header matched and `got` of its `len` payload bytes are in place.
    Payload {
        /// Payload length.
        len: u32,
        /// Payload bytes received.
        got: u32,
    },
}

/// The header of a `piece` message of `len` bytes at `begin` of piece `index`.
pub(super) fn piece_header(index: u32, begin: u32, len: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&(9 + len).to_be_bytes());
    h[4] = 7;
    h[5..9].copy_from_slice(&index.to_be_bytes());
    h[9..].copy_from_slice(&begin.to_be_bytes());
    h
}

/// The `piece` header at the start of `buf`, its payload not necessarily there:
/// `(index, begin, payload length)`, for frames within `max_frame_len`.
pub(super) fn parse_piece_header(buf: &[u8], max_frame_len: u32) -> Option<(u32, u32, u32)> {
    let h = buf.first_chunk::<HEADER_LEN>()?;
    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    if h[4] != 7 || !(9..=max_frame_len).contains(&len) {
        return None;
    }
    let index = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
    let begin = u32::from_be_bytes([h[9], h[10], h[11], h[12]]);
    Some((index, begin, len - 9))
}

/// Length of the block at `begin` of a piece of `piece_len` bytes, as we request them.
fn block_len(begin: u32, piece_len: u32) -> u32 {
    BLOCK_SIZE.min(piece_len - begin)
}

/// Where the next bytes of the stream go while `run` is being received: the rest of the
/// partial block, then header and payload of each following block of the piece.
pub(super) fn scatter<'a>(
    run: &'a mut BlockRun,
    partial: Option<Partial>,
    headers: &'a mut [[u8; HEADER_LEN]; MAX_PREDICTED],
) -> Vec<IoSliceMut<'a>> {
    let piece_len = run.buf.len() as u32;
    let mut next = run.end;
    let mut rest: &mut [u8] = &mut run.buf[run.end as usize..];
    let mut out = Vec::with_capacity(1 + 2 * MAX_PREDICTED);
    let mut header_got = 0;
    match partial {
        Some(Partial::Payload { len, got }) => {
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(got as usize);
            let (slot, tail) = tail.split_at_mut((len - got) as usize);
            out.push(IoSliceMut::new(slot));
            rest = tail;
            next += len;
        }
        Some(Partial::Header { got }) => header_got = usize::from(got),
        None => {}
    }
    for h in headers.iter_mut() {
        if next >= piece_len {
            break;
        }
        let len = block_len(next, piece_len);
        let (slot, tail) = std::mem::take(&mut rest).split_at_mut(len as usize);
        out.push(IoSliceMut::new(&mut h[header_got..]));
        out.push(IoSliceMut::new(slot));
        rest = tail;
        next += len;
        header_got = 0;
    }
    out
}

/// What a scattered read of `n` bytes amounted to: the blocks it completed were added to the
/// run (`run.end`), and `partial` says where the stream stands in the next one. Bytes that
/// were not what was predicted were appended, in stream order, to `ring`; returns whether
/// there were any (then `partial` is `None`).
pub(super) fn absorb(
    run: &mut BlockRun,
    partial: &mut Option<Partial>,
    headers: &mut [[u8; HEADER_LEN]; MAX_PREDICTED],
    mut n: usize,
    ring: &mut Vec<u8>,
) -> bool {
    let piece_len = run.buf.len() as u32;
    let mut header_got = 0;
    match partial.take() {
        Some(Partial::Payload { len, got }) => {
            let take = n.min((len - got) as usize);
            n -= take;
            if got + (take as u32) < len {
                *partial = Some(Partial::Payload {
                    len,
                    got: got + take as u32,
                });
                return false;
            }
            run.end += len;
        }
        Some(Partial::Header { got }) => header_got = usize::from(got),
        None => {}
    }
    for k in 0..MAX_PREDICTED {
        // Bytes of the stream from this block's header on.
        let have = header_got + n;
        if have == 0 || run.end >= piece_len {
            break;
        }
        let len = block_len(run.end, piece_len);
        if have < HEADER_LEN {
            // The next read continues this header in the first slot.
            headers.copy_within(k..=k, 0);
            *partial = Some(Partial::Header { got: have as u8 });
            return false;
        }
        if headers[k] != piece_header(run.index, run.end, len) {
            unscatter(run, headers, k, have, ring);
            return true;
        }
        n = have - HEADER_LEN;
        header_got = 0;
        let take = n.min(len as usize);
        n -= take;
        if take < len as usize {
            *partial = Some(Partial::Payload {
                len,
                got: take as u32,
            });
            return false;
        }
        run.end += len;
    }
    debug_assert_eq!(n, 0, "a read never goes past the slots it was given");
    false
}

/// Appends to `ring` the `n` stream bytes from header `k` on: that header and the slots after
/// it, in order.
fn unscatter(
    run: &BlockRun,
    headers: &[[u8; HEADER_LEN]; MAX_PREDICTED],
    k: usize,
    mut n: usize,
    ring: &mut Vec<u8>,
) {
    let piece_len = run.buf.len() as u32;
    let mut at = run.end;
    for h in &headers[k..] {
        if n == 0 || at >= piece_len {
            break;
        }
        let take = n.min(HEADER_LEN);
        ring.extend_from_slice(&h[..take]);
        n -= take;
        let len = block_len(at, piece_len);
        let take = n.min(len as usize);
        ring.extend_from_slice(&run.buf[at as usize..at as usize + take]);
        n -= take;
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream of `piece` messages for `blocks` of piece `index` (of `piece_len` bytes),
    /// with payload bytes derived from their position.
    fn stream(index: u32, piece_len: u32, blocks: std::ops::Range<u32>) -> Vec<u8> {
        let mut out = Vec::new();
        for b in blocks {
            let begin = b * BLOCK_SIZE;
            let len = block_len(begin, piece_len);
            out.extend_from_slice(&piece_header(index, begin, len));
            out.extend((begin..begin + len).map(|i| (i % 251) as u8));
        }
        out
    }

    fn run(index: u32, piece_len: u32) -> BlockRun {
        BlockRun {
            index,
            begin: 0,
            end: 0,
            buf: vec![0xee; piece_len as usize],
        }
    }

    /// Feeds `input` through scatter/absorb in reads of at most `chunk` bytes, like the reader;
    /// returns what ended in the ring.
    fn feed(
        r: &mut BlockRun,
        partial: &mut Option<Partial>,
        mut input: &[u8],
        chunk: usize,
    ) -> Vec<u8> {
        let mut headers = [[0u8; HEADER_LEN]; MAX_PREDICTED];
        let mut ring = Vec::new();
        while !input.is_empty() && (partial.is_some() || r.end < r.buf.len() as u32) {
            let mut iov = scatter(r, *partial, &mut headers);
            // What readv does: fill the slices in order.
            let mut data = &input[..input.len().min(chunk)];
            let mut n = 0;
            for slot in iov.iter_mut() {
                let m = slot.len().min(data.len());
                slot[..m].copy_from_slice(&data[..m]);
                data = &data[m..];
                n += m;
            }
            drop(iov);
            input = &input[n..];
            if absorb(r, partial, &mut headers, n, &mut ring) {
                ring.extend_from_slice(input);
                return ring;
            }
        }
        ring.extend_from_slice(input);
        ring
    }

    #[test]
    fn in_order_blocks_land_in_place_whatever_the_read_sizes() {
        let piece_len = 5 * BLOCK_SIZE + 100;
        let s = stream(3, piece_len, 0..6);
        for chunk in [1, 12, 13, 14, 1000, 16397, 16398, 50_000, 1 << 20] {
            let mut r = run(3, piece_len);
            let mut partial = None;
            let ring = feed(&mut r, &mut partial, &s, chunk);
            assert!(ring.is_empty(), "chunk {chunk}");
            assert_eq!(partial, None);
            assert_eq!(r.end, piece_len);
            assert!(
                r.buf.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn anything_unpredicted_goes_back_to_the_ring_in_order() {
        let piece_len = 4 * BLOCK_SIZE;
        // Blocks 0 and 1, then a `have` message, then block 2.
        let mut s = stream(9, piece_len, 0..2);
        let have = [0, 0, 0, 5, 4, 0, 0, 0, 1];
        s.extend_from_slice(&have);
        let tail = stream(9, piece_len, 2..3);
        s.extend_from_slice(&tail);
        for chunk in [7, 13, 100, 20_000, 1 << 20] {
            let mut r = run(9, piece_len);
            let mut partial = None;
            let ring = feed(&mut r, &mut partial, &s, chunk);
            assert_eq!(r.end, 2 * BLOCK_SIZE, "chunk {chunk}");
            assert_eq!(partial, None);
            assert_eq!(ring, [&have[..], &tail[..]].concat(), "chunk {chunk}");
        }
        // Another piece, and blocks out of order, are not taken either.
        let mut r = run(9, piece_len);
        let other = stream(8, piece_len, 0..1);
        assert_eq!(feed(&mut r, &mut None, &other, 1 << 20), other);
        let skipped = stream(9, piece_len, 1..2);
        assert_eq!(feed(&mut r, &mut None, &skipped, 1 << 20), skipped);
        assert_eq!(r.end, 0);
    }

    #[test]
    fn headers_parse_with_bounds() {
        let h = piece_header(7, 32768, 16384);
        assert_eq!(parse_piece_header(&h, 1 << 20), Some((7, 32768, 16384)));
        assert_eq!(parse_piece_header(&h[..12], 1 << 20), None);
        assert_eq!(parse_piece_header(&h, 16392), None, "over the frame limit");
        let mut short = piece_header(7, 0, 0);
        short[3] = 8;
        assert_eq!(parse_piece_header(&short, 1 << 20), None, "too short");
        let mut req = h;
        req[4] = 6;
        assert_eq!(parse_piece_header(&req, 1 << 20), None, "not a piece");
    }
}
