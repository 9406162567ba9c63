//! The writing half of a peer connection: batches every queued message into one buffer per
//! socket write, serves requested blocks from the piece store (a whole piece is read once and
//! kept while the peer asks for its blocks), and sends keep-alives.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{BufMut, BytesMut};
use swarmfs_wire::{BlockRequest, Message};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use super::{FromPeer, MAX_SERVE_QUEUE, PeerSetup, ToWriter};
use crate::error::PeerError;
use crate::limit;

/// Write once this much is buffered.
const WRITE_BATCH: usize = 256 * 1024;
/// Pieces up to this long are read whole into the cache; longer ones block by block.
const MAX_CACHED_PIECE: u32 = 4 << 20;

struct Writer {
    setup: Arc<PeerSetup>,
    out: BytesMut,
    queue: VecDeque<BlockRequest>,
    choking: bool,
    /// The piece read last (index, bytes): requests for its blocks are served from memory.
    cache: Option<u32>,
    cache_buf: Vec<u8>,
}

pub(super) async fn run(
    mut sock: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<ToWriter>,
    setup: Arc<PeerSetup>,
) {
    let mut kill = setup.kill.clone();
    let events = setup.events.clone();
    let key = setup.key;
    let mut me = Writer {
        out: BytesMut::with_capacity(WRITE_BATCH + 32 * 1024),
        queue: VecDeque::new(),
        choking: true,
        cache: None,
        cache_buf: Vec::new(),
        setup,
    };
    if let Some(hs) = &me.setup.handshake {
        me.out.put_slice(&hs.to_bytes());
    }
    let result = tokio::select! {
        r = me.write_loop(&mut sock, &mut rx) => r,
        _ = kill.changed() => return,
    };
    if let Err(e) = result {
        let _ = events.send((key, FromPeer::Closed(e.to_string()))).await;
    }
    let _ = sock.shutdown().await;
}

impl Writer {
    async fn write_loop(
        &mut self,
        sock: &mut OwnedWriteHalf,
        rx: &mut mpsc::UnboundedReceiver<ToWriter>,
    ) -> Result<(), PeerError> {
        let keepalive = self.setup.keepalive_interval;
        loop {
            if self.out.is_empty() && self.queue.is_empty() {
                match tokio::time::timeout(keepalive, rx.recv()).await {
                    Ok(Some(m)) => self.handle(m),
                    Ok(None) => return Ok(()),
                    Err(_) => Message::KeepAlive.encode(&mut self.out),
                }
            }
            loop {
                match rx.try_recv() {
                    Ok(m) => self.handle(m),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return Ok(()),
                }
            }
            while self.out.len() < WRITE_BATCH {
                let Some(r) = self.queue.pop_front() else {
                    break;
                };
                self.serve(r).await;
            }
            if !self.out.is_empty() {
                sock.write_all(&self.out).await?;
                self.out.clear();
            }
        }
    }

    fn handle(&mut self, m: ToWriter) {
        match m {
            ToWriter::Msg(msg) => {
                match msg {
                    Message::Choke => {
                        self.choking = true;
                        // BEP 6: with the fast extension, pending requests are rejected
                        // explicitly; without it a choke voids them.
                        for r in std::mem::take(&mut self.queue) {
                            self.reject(r);
                        }
                        self.cache = None;
                    }
                    Message::Unchoke => self.choking = false,
                    _ => {}
                }
                msg.encode(&mut self.out);
            }
            ToWriter::Requests(list) => {
                for r in list {
                    Message::Request(r).encode(&mut self.out);
                }
            }
            ToWriter::Serve(r) => {
                if self.choking || self.queue.len() >= MAX_SERVE_QUEUE {
                    self.reject(r);
                } else {
                    self.queue.push_back(r);
                }
            }
            ToWriter::CancelServe(r) => {
                if let Some(pos) = self.queue.iter().position(|q| *q == r) {
                    self.queue.remove(pos);
                }
            }
        }
    }

    fn reject(&mut self, r: BlockRequest) {
        if self.setup.fast {
            Message::RejectRequest(r).encode(&mut self.out);
        }
    }

    /// Appends the requested block, or a reject when we cannot serve it.
    async fn serve(&mut self, r: BlockRequest) {
        if !self.load(r).await {
            return self.reject(r);
        }
        limit::acquire(&self.setup.shared.upload_limits, r.length as usize).await;
        let data = match self.cache {
            Some(_) => &self.cache_buf[r.begin as usize..(r.begin + r.length) as usize],
            None => &self.cache_buf[..r.length as usize],
        };
        // BEP 3 piece message: <len=9+n><7><index><begin><block>, encoded straight from the
        // cache so the block is copied once, into the socket buffer.
        self.out.put_u32(9 + r.length);
        self.out.put_u8(7);
        self.out.put_u32(r.index);
        self.out.put_u32(r.begin);
        self.out.put_slice(data);
        let n = u64::from(r.length);
        self.setup.uploaded.fetch_add(n, Ordering::Relaxed);
        self.setup.shared.uploaded.fetch_add(n, Ordering::Relaxed);
    }

    /// Makes the block's bytes available in `cache_buf`: the whole piece (cached, when it is not
    /// too long) or just the block. Returns false when we cannot serve it.
    async fn load(&mut self, r: BlockRequest) -> bool {
        let Some(ready) = self.setup.shared.ready.get() else {
            return false;
        };
        let geometry = ready.store.geometry();
        let Some(piece) = geometry.piece(r.index) else {
            return false;
        };
        if !ready.have.get(r.index) || !geometry.contains(piece, r.begin, r.length) {
            return false;
        }
        if self.cache == Some(r.index) {
            return true;
        }
        let piece_len = geometry.piece_len(piece);
        self.cache = None;
        let read = if piece_len <= MAX_CACHED_PIECE {
            self.cache_buf.resize(piece_len as usize, 0);
            ready.store.read(piece, 0, &mut self.cache_buf).await
        } else {
            self.cache_buf.resize(r.length as usize, 0);
            ready.store.read(piece, r.begin, &mut self.cache_buf).await
        };
        match read {
            Ok(()) => {
                if piece_len <= MAX_CACHED_PIECE {
                    self.cache = Some(r.index);
                }
                true
            }
            Err(e) => {
                // The piece can no longer be produced: stop claiming it at once (bitfields of
                // new peers, other writers) and let the torrent forget it.
                if ready.have.clear(r.index) {
                    let lost = FromPeer::PieceLost {
                        piece: r.index,
                        error: e.to_string(),
                    };
                    let _ = self.setup.events.send((self.setup.key, lost)).await;
                }
                false
            }
        }
    }
}
