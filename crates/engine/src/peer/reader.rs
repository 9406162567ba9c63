//! The reading half of a peer connection: large socket reads, the bounded decoder, and routing.

use std::sync::Arc;

use swarmfs_wire::{
    Extended, ExtensionHandshake, Message, MessageDecoder, MetadataPiece, UtMetadata, extension,
    ut_metadata,
};
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::direct::{self, HEADER_LEN, MAX_PREDICTED, Partial, parse_piece_header};
use super::{BlockData, BlockPool, BlockRun, FromPeer, OUR_UT_METADATA, PeerSetup, ToWriter};
use crate::error::PeerError;
use crate::limit;
use crate::shared::{recycle_piece_buf, take_piece_buf};
use swarmfs_metainfo::BLOCK_SIZE;

/// Socket reads ask for at least this much room (libtorrent reads ~0.8 MiB at a time).
const READ_CHUNK: usize = 256 * 1024;
/// Largest block a peer may request (BEP 3 allows up to 128 KiB; 16 KiB is what everyone sends).
const MAX_REQUEST_LEN: u32 = 128 * 1024;

/// A whole, well-formed `piece` frame at the start of `buf`: `(index, begin, payload range)`.
/// Anything else (incomplete, oversized, too short) is left to the decoder and its errors.
fn piece_frame(buf: &[u8], max_len: u32) -> Option<(u32, u32, std::ops::Range<usize>)> {
    let len = u32::from_be_bytes(*buf.first_chunk::<4>()?);
    if buf.get(4) != Some(&7) || !(9..=max_len).contains(&len) {
        return None;
    }
    let end = 4 + len as usize;
    let frame = buf.get(..end)?;
    let index = u32::from_be_bytes(frame[5..9].try_into().ok()?);
    let begin = u32::from_be_bytes(frame[9..13].try_into().ok()?);
    Some((index, begin, 13..end))
}

/// How long blocks of an unfinished run are held for the rest of their piece when the socket
/// has nothing more, before they are handed over one by one.
const HAND_OVER_AFTER: std::time::Duration = std::time::Duration::from_millis(1);

/// Pieces up to this long are assembled in runs by the reader; longer ones travel block by block.
const MAX_RUN_PIECE: u32 = 1 << 20;

struct Reader {
    setup: Arc<PeerSetup>,
    pool: BlockPool,
    /// The run of blocks being assembled, sent when its piece is whole, when a block of
    /// another piece (or out of order) arrives, or when the socket has nothing more for now.
    run: Option<BlockRun>,
    writer: mpsc::UnboundedSender<ToWriter>,
    /// The id the peer wants ut_metadata messages under.
    peer_ut_metadata: Option<u8>,
    /// The block being received in place at the run's end (see [`direct`]).
    partial: Option<Partial>,
    /// Where scattered reads put the predicted blocks' headers.
    headers: [[u8; HEADER_LEN]; MAX_PREDICTED],
    /// Whether the last message was a block: then, with nothing buffered and no run, the next
    /// read takes just one header, so that the block's payload can be received in place.
    expect_block: bool,
    /// Bytes of a scattered read that were not the predicted blocks, on their way to the ring.
    spill: Vec<u8>,
}

pub(super) async fn run(
    mut sock: OwnedReadHalf,
    writer: mpsc::UnboundedSender<ToWriter>,
    setup: Arc<PeerSetup>,
) {
    let mut kill = setup.kill.clone();
    let events = setup.events.clone();
    let key = setup.key;
    let mut me = Reader {
        setup,
        pool: BlockPool::default(),
        run: None,
        writer,
        peer_ut_metadata: None,
        partial: None,
        headers: [[0; HEADER_LEN]; MAX_PREDICTED],
        expect_block: false,
        spill: Vec::new(),
    };
    let reason = tokio::select! {
        r = me.read_loop(&mut sock) => match r {
            Ok(()) => "connection closed by peer".to_owned(),
            Err(e) => e.to_string(),
        },
        _ = kill.changed() => return,
    };
    let _ = events.send((key, FromPeer::Closed(reason))).await;
}

impl Reader {
    /// Reads into one reused buffer and decodes in place: payloads are copied out (small
    /// allocations the allocator recycles) so the buffer itself is never reallocated, which keeps
    /// page faults and the resident set low. While a run of blocks is being received, reads go
    /// straight into the run's buffer instead (see [`direct`]).
    async fn read_loop(&mut self, sock: &mut OwnedReadHalf) -> Result<(), PeerError> {
        let decoder = MessageDecoder::new();
        let max_frame = decoder.max_frame_len();
        let mut buf = vec![0u8; READ_CHUNK];
        let (mut start, mut end) = (0usize, 0usize);
        let idle = self.setup.idle_timeout;
        loop {
            loop {
                // Blocks (nearly every byte received) skip the generic decoder: their payload
                // goes straight into a pooled buffer.
                if let Some((index, begin, range)) = piece_frame(&buf[start..end], max_frame) {
                    let payload = &buf[start..end][range.clone()];
                    start += range.end;
                    self.block(index, begin, payload).await?;
                    continue;
                }
                let Some((msg, n)) = decoder.decode_slice(&buf[start..end])? else {
                    break;
                };
                start += n;
                self.expect_block = false;
                self.flush_run().await?;
                self.handle(msg).await?;
            }
            // A block whose payload is still on its way: the rest is received in place.
            if let Some((index, begin, len)) = parse_piece_header(&buf[start..end], max_frame) {
                let payload = &buf[start + HEADER_LEN..end];
                if self.begin_in_place(index, begin, len, payload).await? {
                    start = end;
                }
            }
            if start == end {
                (start, end) = (0, 0);
            }
            // Room for the whole pending frame (its prefix is checked against the limit).
            if let Some(prefix) = buf[start..end].first_chunk::<4>() {
                let need = 4 + u32::from_be_bytes(*prefix) as usize;
                if need > buf.len() {
                    buf.resize(need.max(READ_CHUNK), 0);
                }
            }
            if start > 0 && buf.len() - end < READ_CHUNK / 4 {
                buf.copy_within(start..end, 0);
                (start, end) = (0, end - start);
            }
            let (n, scattered) = loop {
                let scatter = start == end && self.receiving();
                let r = match self.run.as_mut() {
                    Some(run) if scatter => {
                        let mut iov = direct::scatter(run, self.partial, &mut self.headers);
                        sock.try_read_vectored(&mut iov)
                    }
                    // Just the next header: its payload can then be received in place.
                    _ if end - start < HEADER_LEN && self.expect_block => {
                        sock.try_read(&mut buf[end..start + HEADER_LEN])
                    }
                    _ => sock.try_read(&mut buf[end..]),
                };
                match r {
                    Ok(n) => break (n, scatter),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        // Nothing more for now. Blocks of an unfinished run wait a moment for
                        // the rest of their piece (in a fast transfer it is microseconds away),
                        // so that the piece travels whole in its buffer; handing them over
                        // copies each block once more.
                        if self.run.as_ref().is_some_and(|r| r.end > r.begin) {
                            if let Ok(ready) =
                                tokio::time::timeout(HAND_OVER_AFTER, sock.readable()).await
                            {
                                ready?;
                                continue;
                            }
                        }
                        // Then hand over the blocks received before waiting longer: the torrent
                        // counts them and sends the requests that follow.
                        self.hand_over().await?;
                        tokio::time::timeout_at(Instant::now() + idle, sock.readable())
                            .await
                            .map_err(|_| PeerError::Timeout("idle"))??;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            if n == 0 {
                return Ok(());
            }
            if scattered {
                self.absorb(n, &mut buf, &mut end).await?;
            } else {
                end += n;
            }
            limit::acquire(&self.setup.shared.download_limits, n).await;
        }
    }

    /// Whether a run is being received with blocks still to come.
    fn receiving(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| self.partial.is_some() || (r.end as usize) < r.buf.len())
    }

    /// Accounts a scattered read of `n` bytes; what was not the predicted blocks goes to the
    /// (empty) ring `buf`, ending at `end`.
    async fn absorb(
        &mut self,
        n: usize,
        buf: &mut Vec<u8>,
        end: &mut usize,
    ) -> Result<(), PeerError> {
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        self.spill.clear();
        if direct::absorb(
            run,
            &mut self.partial,
            &mut self.headers,
            n,
            &mut self.spill,
        ) {
            if self.spill.len() > buf.len() {
                buf.resize(self.spill.len(), 0);
            }
            buf[..self.spill.len()].copy_from_slice(&self.spill);
            *end = self.spill.len();
        }
        if self.partial.is_none() && run.end as usize == run.buf.len() {
            self.flush_run().await?;
        }
        Ok(())
    }

    /// A block whose header has arrived and `payload` of whose bytes: when it can join a run, the
    /// bytes are put in place and the rest will be received there. Returns whether it joined.
    async fn begin_in_place(
        &mut self,
        index: u32,
        begin: u32,
        len: u32,
        payload: &[u8],
    ) -> Result<bool, PeerError> {
        if payload.len() >= len as usize || !self.join_run(index, begin, len).await? {
            return Ok(false);
        }
        let Some(run) = self.run.as_mut() else {
            return Ok(false);
        };
        let at = begin as usize;
        run.buf[at..at + payload.len()].copy_from_slice(payload);
        self.partial = Some(Partial::Payload {
            len,
            got: payload.len() as u32,
        });
        self.expect_block = true;
        Ok(true)
    }

    /// Makes the current run one that a block of `len` bytes at `begin` of piece `index`
    /// continues: the current one when it does, else a new one (after sending the old). Returns
    /// false when the block cannot be part of a run (long pieces, no metadata, out of bounds).
    async fn join_run(&mut self, index: u32, begin: u32, len: u32) -> Result<bool, PeerError> {
        if self
            .run
            .as_ref()
            .is_some_and(|r| r.index != index || r.end != begin)
        {
            self.flush_run().await?;
        }
        if let Some(run) = &self.run {
            return Ok(begin as usize + len as usize <= run.buf.len());
        }
        let piece_len = self.setup.shared.ready.get().and_then(|r| {
            let g = r.store.geometry();
            g.piece(index).map(|p| g.piece_len(p))
        });
        match piece_len {
            Some(pl) if pl <= MAX_RUN_PIECE && begin.checked_add(len).is_some_and(|e| e <= pl) => {
                let buf = take_piece_buf(&self.setup.shared.piece_pool, pl as usize);
                self.run = Some(BlockRun {
                    index,
                    begin,
                    end: begin,
                    buf,
                });
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// A block: appended to the current run when it continues it, else starts a new run (or,
    /// for long pieces and before the metadata, travels alone).
    async fn block(&mut self, index: u32, begin: u32, payload: &[u8]) -> Result<(), PeerError> {
        self.expect_block = true;
        let len = payload.len() as u32;
        if !self.join_run(index, begin, len).await? {
            // The torrent checks it (and drops the peer if it does not fit).
            let block = BlockData::new(index, begin, payload, &self.pool);
            return self.send(FromPeer::Block(block)).await;
        }
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let at = run.end as usize;
        run.buf[at..at + payload.len()].copy_from_slice(payload);
        run.end += len;
        if run.end as usize == run.buf.len() {
            self.flush_run().await?;
        }
        Ok(())
    }

    /// Sends the blocks of the run received so far, keeping its buffer for the rest of the
    /// piece (a block may be arriving in it).
    async fn hand_over(&mut self) -> Result<(), PeerError> {
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let (index, from, to) = (run.index, run.begin, run.end);
        run.begin = to;
        let mut at = from;
        while at < to {
            let len = BLOCK_SIZE.min(to - at);
            let Some(run) = self.run.as_ref() else {
                break;
            };
            let block = BlockData::new(
                index,
                at,
                &run.buf[at as usize..(at + len) as usize],
                &self.pool,
            );
            self.send(FromPeer::Block(block)).await?;
            at += len;
        }
        Ok(())
    }

    /// Sends the run being assembled, if any. Only a whole piece travels in its piece-sized
    /// buffer; a partial run (a peer interleaving pieces) goes block by block, so that messages
    /// queued for the torrent never hold more than a block each.
    async fn flush_run(&mut self) -> Result<(), PeerError> {
        // A block being received in place lies past the run's end: it is dropped with the run
        // (callers flush only between messages, when there is none).
        self.partial = None;
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        if run.begin == 0 && run.end as usize == run.buf.len() {
            return self.send(FromPeer::Run(run)).await;
        }
        let mut at = run.begin;
        while at < run.end {
            let len = BLOCK_SIZE.min(run.end - at);
            let bytes = &run.buf[at as usize..(at + len) as usize];
            let block = BlockData::new(run.index, at, bytes, &self.pool);
            self.send(FromPeer::Block(block)).await?;
            at += len;
        }
        recycle_piece_buf(&self.setup.shared.piece_pool, run.buf);
        Ok(())
    }

    async fn send(&self, ev: FromPeer) -> Result<(), PeerError> {
        self.setup
            .events
            .send((self.setup.key, ev))
            .await
            .map_err(|_| PeerError::Protocol("torrent gone".into()))
    }

    fn write(&self, w: ToWriter) {
        let _ = self.writer.send(w);
    }

    async fn handle(&mut self, msg: Message) -> Result<(), PeerError> {
        match msg {
            Message::KeepAlive | Message::Suggest(_) => {}
            Message::Port(port) => self.send(FromPeer::DhtPort(port)).await?,
            Message::AllowedFast(_) => {}
            Message::Choke => self.send(FromPeer::Choke).await?,
            Message::Unchoke => self.send(FromPeer::Unchoke).await?,
            Message::Interested => self.send(FromPeer::Interested).await?,
            Message::NotInterested => self.send(FromPeer::NotInterested).await?,
            Message::Have(i) => self.send(FromPeer::Have(i)).await?,
            Message::Bitfield(b) => self.send(FromPeer::Bitfield(b)).await?,
            Message::HaveAll => self.send(FromPeer::HaveAll).await?,
            Message::HaveNone => self.send(FromPeer::HaveNone).await?,
            Message::Piece(p) => {
                let block = BlockData::new(p.index, p.begin, &p.data, &self.pool);
                self.send(FromPeer::Block(block)).await?;
            }
            Message::RejectRequest(r) => self.send(FromPeer::Reject(r)).await?,
            Message::Request(r) => {
                if r.length == 0 || r.length > MAX_REQUEST_LEN {
                    return Err(PeerError::Protocol(format!(
                        "request of {} bytes",
                        r.length
                    )));
                }
                self.write(ToWriter::Serve(r));
            }
            Message::Cancel(r) => self.write(ToWriter::CancelServe(r)),
            Message::Extended(ext) => self.handle_extended(ext).await?,
            _ => {} // a message kind added to the wire crate later
        }
        Ok(())
    }

    async fn handle_extended(&mut self, ext: Extended) -> Result<(), PeerError> {
        if ext.id == Extended::HANDSHAKE_ID {
            let hs = ExtensionHandshake::decode(&ext.payload)
                .map_err(|e| PeerError::Protocol(format!("extension handshake: {e}")))?;
            self.peer_ut_metadata = hs.extension_id(extension::UT_METADATA).map(|id| id.get());
            return self.send(FromPeer::ExtHandshake(Box::new(hs))).await;
        }
        if ext.id == crate::discovery::pex::OUR_UT_PEX {
            return self.send(FromPeer::Pex(ext.payload)).await;
        }
        if ext.id != OUR_UT_METADATA {
            return Ok(()); // an extension we did not advertise: ignore
        }
        let msg = UtMetadata::decode(ext.payload)
            .map_err(|e| PeerError::Protocol(format!("ut_metadata: {e}")))?;
        match msg {
            UtMetadata::Request { piece } => self.serve_metadata(piece),
            UtMetadata::Data(p) => {
                self.send(FromPeer::MetadataData {
                    piece: p.piece,
                    total_size: p.total_size,
                    data: p.data,
                })
                .await?;
            }
            UtMetadata::Reject { piece } => self.send(FromPeer::MetadataReject(piece)).await?,
        }
        Ok(())
    }

    /// BEP 9: answer with the piece if we have the metadata, else reject.
    fn serve_metadata(&self, piece: u32) {
        let Some(id) = self.peer_ut_metadata else {
            return;
        };
        let reply = match self.setup.shared.ready.get() {
            Some(ready) => {
                let total = ready.info_bytes.len() as u32;
                match ut_metadata::piece_len(total, piece) {
                    Some(len) => {
                        let start = (piece * ut_metadata::METADATA_PIECE_LEN) as usize;
                        UtMetadata::Data(MetadataPiece {
                            piece,
                            total_size: total,
                            data: ready.info_bytes.slice(start..start + len as usize),
                        })
                    }
                    None => UtMetadata::Reject { piece },
                }
            }
            None => UtMetadata::Reject { piece },
        };
        self.write(ToWriter::Msg(reply.to_message(id)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u8, body: &[u8]) -> Vec<u8> {
        let mut f = ((body.len() + 1) as u32).to_be_bytes().to_vec();
        f.push(id);
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn piece_frames_are_recognised_only_when_whole_and_bounded() {
        let mut body = 3u32.to_be_bytes().to_vec();
        body.extend_from_slice(&16384u32.to_be_bytes());
        body.extend_from_slice(b"abcd");
        let f = frame(7, &body);
        assert_eq!(piece_frame(&f, 1 << 20), Some((3, 16384, 13..17)));
        assert_eq!(piece_frame(&f[..f.len() - 1], 1 << 20), None, "incomplete");
        assert_eq!(
            piece_frame(&f, 8),
            None,
            "over the limit: left to the decoder"
        );
        assert_eq!(piece_frame(&frame(7, &[0; 7]), 1 << 20), None, "too short");
        assert_eq!(piece_frame(&frame(6, &[0; 12]), 1 << 20), None, "a request");
        assert_eq!(piece_frame(&[0, 0], 1 << 20), None);
    }
}
