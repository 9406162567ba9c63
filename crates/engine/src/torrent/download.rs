//! Downloading and verifying pieces: the picker and the per-peer pipelines driven by blocks,
//! piece buffers hashed from memory, and what follows a verdict (have, events, bans, done).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use swarmfs_metainfo::{BLOCK_SIZE, Info, PieceIndex};
use swarmfs_proto::{
    Block, BlockOutcome, Choker, ChokerConfig, PeerKey, Picker, PickerAction, Priority,
};
use swarmfs_storage::{PieceHashes, PieceStore, PieceStoreOptions, StoragePath};
use swarmfs_wire::{BlockRequest, Message, PeerId};

use super::Torrent;
use super::verify::{Job, Verifier};
use crate::error::{AddError, TorrentError};
use crate::event::TorrentEvent;
use crate::peer::{BlockData, BlockRun, ToWriter};
use crate::shared::{HaveBits, PiecePool, Ready, take_piece_buf};

mod reads;
mod verdicts;

/// Failed multi-sender pieces kept for comparison (bounds memory).
const MAX_FAILED_KEPT: usize = 32;

/// Most piece buffers kept for reuse.
const MAX_POOLED: usize = 64;

fn recycle(pool: &PiecePool, buf: Vec<u8>) {
    let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() < MAX_POOLED && !buf.is_empty() {
        pool.push(buf);
    }
}

/// Senders of the blocks of `bad` that differ from `good`.
fn differing_senders(bad: &[u8], senders: &[Option<PeerId>], good: &[u8]) -> Vec<PeerId> {
    let mut out: Vec<PeerId> = bad
        .chunks(BLOCK_SIZE as usize)
        .zip(good.chunks(BLOCK_SIZE as usize))
        .zip(senders)
        .filter(|((b, g), _)| b != g)
        .filter_map(|(_, s)| *s)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Download state that exists once the info dictionary is known.
pub(super) struct Download {
    pub(super) picker: Picker,
    pub(super) choker: Choker,
    /// Buffers of pieces being received, filled block by block.
    bufs: HashMap<u32, Vec<u8>>,
    /// Piece buffers back from hashing, reused so that steady state allocates nothing.
    pool: PiecePool,
    /// Who sent each block of the pieces being received (and being checked).
    senders: HashMap<u32, Vec<Option<PeerId>>>,
    /// Pieces that failed with blocks from several peers: the bad copy and its senders, kept
    /// until a good copy shows which blocks were wrong.
    failed: HashMap<u32, (Vec<u8>, Vec<Option<PeerId>>)>,
    done_reported: bool,
    scratch: Vec<Block>,
    /// Durable mode: pieces written and waiting for a group commit.
    uncommitted: Vec<u32>,
    /// Whether a group commit is running.
    committing: bool,
    /// How many reads asked for each piece and have not released it (see [`Self::release`]).
    readers: HashMap<u32, u32>,
    /// Per file: whether it is skipped (no space is reserved for a skipped file).
    skipped: Vec<bool>,
    /// Per file: whether its space was reserved, which happens before its first piece is
    /// written (see [`swarmfs_storage::RandomAccess::preallocate`]).
    preallocated: Vec<bool>,
    /// Hashes complete pieces and writes the good ones.
    verifier: Verifier,
    /// Bytes of the pieces handed to the verifier and not reported back yet; at the engine's
    /// `max_unwritten_bytes` no more blocks are requested.
    unwritten: u64,
}

impl Download {
    pub(super) fn set_file_priority(
        &mut self,
        file: usize,
        priority: Priority,
    ) -> Result<(), TorrentError> {
        let count = self.picker.geometry().file_count();
        self.picker
            .set_file_priority(file, priority)
            .map_err(|_| TorrentError::NoSuchFile { index: file, count })?;
        if let Some(s) = self.skipped.get_mut(file) {
            *s = priority.is_skip();
        }
        self.done_reported &= self.picker.is_done();
        Ok(())
    }

    /// The files of `piece` whose space is to be reserved before it is written: those not
    /// skipped and not reserved yet (they count as reserved from now on).
    fn files_to_preallocate(&mut self, piece: PieceIndex) -> Vec<usize> {
        let g = self.picker.geometry();
        let mut out = Vec::new();
        for span in g.spans(piece, 0, g.piece_len(piece)) {
            let f = span.file_index;
            if !self.skipped.get(f).copied().unwrap_or(true)
                && self.preallocated.get(f) == Some(&false)
            {
                self.preallocated[f] = true;
                out.push(f);
            }
        }
        out
    }

    /// `(verified pieces, pieces, verified wanted bytes, wanted bytes)`.
    pub(super) fn progress(&self) -> (u32, u32, u64, u64) {
        let g = self.picker.geometry();
        let (mut have, mut wanted) = (0u64, 0u64);
        for piece in g.pieces() {
            let len = u64::from(g.piece_len(piece));
            let got = self.picker.have().get(piece.get());
            if got || !self.picker.priority(piece).is_skip() {
                wanted += len;
                if got {
                    have += len;
                }
            }
        }
        (
            self.picker.have().count_ones(),
            g.piece_count(),
            have,
            wanted,
        )
    }
}

impl Torrent {
    /// Opens the piece store for `info`, marks what is already there, and starts downloading.
    pub(super) async fn start_download(&mut self, info: Info) -> Result<(), AddError> {
        let ready = open_ready(info, self.factory.clone(), &self.options).await?;
        let mut picker = Picker::new(ready.info.geometry(), self.rng.next_u64());
        // Priorities given at add time hold before the first request can go out.
        let files = ready.info.geometry().file_count();
        let mut skipped = Vec::with_capacity(files);
        for f in 0..files {
            let p = self
                .options
                .file_priorities
                .get(f)
                .copied()
                .unwrap_or(self.options.default_file_priority);
            skipped.push(p.is_skip());
            if p != Priority::NORMAL {
                // In range: `f` < file_count.
                let _ = picker.set_file_priority(f, p);
            }
        }
        for p in ready.store.verified().ones() {
            if let Some(piece) = ready.info.geometry().piece(p) {
                let _ = picker.mark_have(piece);
            }
        }
        let mut cc = ChokerConfig::default();
        cc.regular_slots = self.engine.config.unchoke_slots;
        self.dl = Some(Download {
            picker,
            choker: Choker::new(cc),
            bufs: HashMap::new(),
            pool: self.shared.piece_pool.clone(),
            senders: HashMap::new(),
            failed: HashMap::new(),
            done_reported: false,
            scratch: Vec::new(),
            uncommitted: Vec::new(),
            committing: false,
            readers: HashMap::new(),
            skipped,
            preallocated: vec![false; files],
            verifier: Verifier::start(
                ready.store.clone(),
                &self.engine.tasks,
                self.internal_tx.clone(),
                self.options.resume,
            ),
            unwritten: 0,
        });
        let have = ready.have.to_bitfield();
        if self.shared.ready.set(ready).is_err() {
            return Ok(()); // cannot happen: the torrent task sets it once
        }
        self.meta = None;
        self.shared.bump();
        self.emit(TorrentEvent::Metadata);
        // Peers that connected before the metadata: tell them what we have, replay theirs.
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            let Some(p) = self.peers.get_mut(&k) else {
                continue;
            };
            for i in have.ones() {
                p.send(Message::Have(i));
            }
            let early = std::mem::take(&mut p.early);
            for ev in early {
                self.on_availability(k, ev);
            }
        }
        self.check_done();
        self.choke_tick(Instant::now(), true);
        Ok(())
    }

    pub(super) fn on_block(&mut self, key: PeerKey, msg: BlockData) {
        let Some(dl) = self.dl.as_mut() else {
            return self.drop_peer(key, "block before metadata".into());
        };
        let g = dl.picker.geometry();
        let Some(piece) = g.piece(msg.index) else {
            return self.drop_peer(key, format!("block of piece {} out of range", msg.index));
        };
        let piece_len = g.piece_len(piece) as usize;
        let block = Block {
            piece,
            offset: msg.begin,
            len: msg.data.len() as u32,
        };
        let now = Instant::now();
        let outcome = match dl.picker.handle_block(key, block) {
            Ok(o) => o,
            Err(e) => return self.drop_peer(key, e.to_string()),
        };
        if let Some(p) = self.peers.get_mut(&key) {
            p.pipeline.handle_block(now, block);
        }
        if let BlockOutcome::Accepted { piece_complete } = outcome {
            self.dl_meter.add(now, u64::from(block.len));
            let pool = &dl.pool;
            let buf = dl
                .bufs
                .entry(msg.index)
                .or_insert_with(|| take_piece_buf(pool, piece_len));
            let start = msg.begin as usize;
            buf[start..start + msg.data.len()].copy_from_slice(&msg.data);
            let blocks = piece_len.div_ceil(BLOCK_SIZE as usize);
            if let Some(p) = self.peers.get(&key) {
                let senders = dl
                    .senders
                    .entry(msg.index)
                    .or_insert_with(|| vec![None; blocks]);
                if let Some(slot) = senders.get_mut(block.index() as usize) {
                    *slot = Some(p.peer_id);
                }
            }
            if piece_complete {
                let buf = dl.bufs.remove(&msg.index).unwrap_or_default();
                self.check_piece(piece, buf);
            }
        }
        self.send_cancels();
        self.fill(key);
    }

    /// A run of blocks of one piece from `key` (see [`BlockRun`]): each block is accounted as if
    /// it came alone; a run that is the whole piece, all of it new, is hashed in its own buffer.
    pub(super) fn on_run(&mut self, key: PeerKey, run: BlockRun) {
        let Some(dl) = self.dl.as_mut() else {
            return self.drop_peer(key, "block before metadata".into());
        };
        let g = dl.picker.geometry().clone();
        let Some(piece) = g.piece(run.index) else {
            return self.drop_peer(key, format!("block of piece {} out of range", run.index));
        };
        let piece_len = g.piece_len(piece);
        let now = Instant::now();
        let peer_id = self.peers.get(&key).map(|p| p.peer_id);
        let mut accepted: Vec<(u32, u32)> = Vec::new();
        let mut complete = false;
        let mut offset = run.begin;
        while offset < run.end {
            let len = BLOCK_SIZE.min(run.end - offset);
            let block = Block { piece, offset, len };
            let outcome = match dl.picker.handle_block(key, block) {
                Ok(o) => o,
                Err(e) => {
                    recycle(&dl.pool, run.buf);
                    return self.drop_peer(key, e.to_string());
                }
            };
            if let Some(p) = self.peers.get_mut(&key) {
                p.pipeline.handle_block(now, block);
            }
            if let BlockOutcome::Accepted { piece_complete } = outcome {
                self.dl_meter.add(now, u64::from(len));
                accepted.push((offset, len));
                complete |= piece_complete;
            }
            offset += len;
        }
        if !accepted.is_empty() {
            let blocks = piece_len.div_ceil(BLOCK_SIZE) as usize;
            let senders = dl
                .senders
                .entry(run.index)
                .or_insert_with(|| vec![None; blocks]);
            for &(o, _) in &accepted {
                if let Some(slot) = senders.get_mut((o / BLOCK_SIZE) as usize) {
                    *slot = peer_id;
                }
            }
        }
        let whole = run.begin == 0
            && run.end == piece_len
            && accepted.len() as u32 == piece_len.div_ceil(BLOCK_SIZE);
        if whole {
            // Every block of the piece came in this run: its buffer is the piece.
            if let Some(old) = dl.bufs.remove(&run.index) {
                recycle(&dl.pool, old);
            }
            if complete {
                self.check_piece(piece, run.buf);
            } else {
                dl.bufs.insert(run.index, run.buf);
            }
        } else {
            if !accepted.is_empty() {
                let pool = &dl.pool;
                let buf = dl
                    .bufs
                    .entry(run.index)
                    .or_insert_with(|| take_piece_buf(pool, piece_len as usize));
                for &(o, len) in &accepted {
                    let r = o as usize..(o + len) as usize;
                    buf[r.clone()].copy_from_slice(&run.buf[r]);
                }
            }
            recycle(&dl.pool, run.buf);
            if complete {
                if let Some(dl) = self.dl.as_mut() {
                    let buf = dl.bufs.remove(&run.index).unwrap_or_default();
                    self.check_piece(piece, buf);
                }
            }
        }
        self.send_cancels();
        self.fill(key);
    }

    pub(super) fn on_reject(&mut self, key: PeerKey, r: BlockRequest) {
        let Some(dl) = self.dl.as_mut() else {
            return;
        };
        let Some(piece) = dl.picker.geometry().piece(r.index) else {
            return;
        };
        let block = Block {
            piece,
            offset: r.begin,
            len: r.length,
        };
        if let Some(p) = self.peers.get_mut(&key) {
            if p.pipeline.handle_cancelled(block) {
                dl.picker.handle_request_failed(key, block);
            }
        }
    }

    fn send_cancels(&mut self) {
        let Some(dl) = self.dl.as_mut() else {
            return;
        };
        while let Some(a) = dl.picker.poll_action() {
            if let PickerAction::Cancel { peer, block } = a {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.pipeline.handle_cancelled(block);
                    p.send(Message::Cancel(BlockRequest {
                        index: block.piece.get(),
                        begin: block.offset,
                        length: block.len,
                    }));
                }
            }
        }
    }

    /// Tops up `key`'s request queue. Requests go out in batches: only once a quarter of the
    /// queue has drained (or it is empty), so that one socket write carries many of them.
    pub(super) fn fill(&mut self, key: PeerKey) {
        let (Some(dl), Some(p)) = (self.dl.as_mut(), self.peers.get_mut(&key)) else {
            return;
        };
        if p.peer_choking || !p.am_interested {
            return;
        }
        if dl.unwritten >= self.engine.config.max_unwritten_bytes {
            return; // storage is behind: `verdict_in` tops the queues up again
        }
        let now = Instant::now();
        let depth = p.pipeline.depth(now) as usize;
        let wants = p.pipeline.wants(now);
        if wants == 0 || (p.pipeline.outstanding() > 0 && wants < depth / 4) {
            return;
        }
        dl.scratch.clear();
        dl.picker.pick(key, wants, &mut dl.scratch);
        if dl.scratch.is_empty() {
            return;
        }
        let mut reqs = Vec::with_capacity(dl.scratch.len());
        for b in &dl.scratch {
            p.pipeline.handle_sent(now, *b);
            reqs.push(BlockRequest {
                index: b.piece.get(),
                begin: b.offset,
                length: b.len,
            });
        }
        let _ = p.tx.send(ToWriter::Requests(reqs));
    }

    pub(super) fn fill_all(&mut self) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.fill(k);
        }
    }

    pub(super) fn after_events(&mut self) {
        self.send_cancels();
    }

    /// Hands a complete piece to the hasher, which writes it if good and reports back.
    fn check_piece(&mut self, piece: PieceIndex, buf: Vec<u8>) {
        let Some(ready) = self.shared.ready.get() else {
            return;
        };
        let Some(expected) = ready.store.hashes().get(piece.get()).copied() else {
            return;
        };
        let Some(dl) = self.dl.as_mut() else {
            return;
        };
        let preallocate = dl.files_to_preallocate(piece);
        dl.unwritten += buf.len() as u64;
        dl.verifier.submit(Job {
            piece,
            buf,
            expected,
            preallocate,
        });
    }

    /// A piece of `len` bytes came back from the verifier: when that brings the torrent below its
    /// mark of unwritten bytes, the request queues are topped up again.
    pub(super) fn verdict_in(&mut self, len: usize) {
        let Some(dl) = self.dl.as_mut() else {
            return;
        };
        let mark = self.engine.config.max_unwritten_bytes;
        let was_full = dl.unwritten >= mark;
        dl.unwritten = dl.unwritten.saturating_sub(len as u64);
        if was_full && dl.unwritten < mark {
            self.fill_all();
        }
    }
}

/// Opens the piece store of `info` and, when asked, checks existing data.
async fn open_ready(
    info: Info,
    factory: Arc<dyn swarmfs_storage::StorageFactory>,
    options: &crate::config::TorrentOptions,
) -> Result<Ready, AddError> {
    let geometry = info.geometry().clone();
    let mut paths = Vec::with_capacity(info.files().len());
    for i in 0..info.files().len() {
        let safe = info.storage_path(i).ok_or_else(|| AddError::Path {
            index: i,
            reason: "no path".into(),
        })?;
        let path = StoragePath::new(safe.components()).map_err(|e| AddError::Path {
            index: i,
            reason: e.to_string(),
        })?;
        paths.push(path);
    }
    let hashes = PieceHashes::new(info.piece_hashes().to_vec(), &geometry)?;
    let mut store_options = PieceStoreOptions::default();
    if options.resume {
        let name = format!("{}.resume", info.info_hash().to_hex());
        if let Ok(meta) = swarmfs_storage::MetaName::new(&name) {
            store_options = PieceStoreOptions::with_resume(meta);
        }
    }
    let (store, _report) = PieceStore::open(factory, geometry, &paths, hashes, store_options)
        .await
        .map_err(AddError::Storage)?;
    if options.recheck {
        store.recheck(&mut |_| {}).await?;
    }
    let have = HaveBits::from_bitfield(&store.verified());
    let info_bytes = Bytes::copy_from_slice(info.as_bytes());
    Ok(Ready {
        info: Arc::new(info),
        info_bytes,
        store: Arc::new(store),
        have,
    })
}

/// Asks the backend to reserve the space of `files` (whole files), so that their pieces land in
/// allocated blocks: on ext4 that saves the delayed allocation of every written block, about a
/// tenth of the leecher's CPU time. A failure only costs the optimisation.
pub(super) async fn preallocate_files(store: &PieceStore, files: &[usize]) {
    for &i in files {
        let (Some(file), Some(len)) = (store.file(i), store.geometry().file_length(i)) else {
            continue;
        };
        if let Err(e) = file.preallocate(len).await {
            tracing::debug!(file = i, %e, "preallocate");
        }
    }
}
