//! Hashing pieces from storage: one piece inline, or many on all cores with reads overlapped with
//! hashing (one reader feeding a pool of hashing threads through a bounded set of buffers).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sha1::{Digest, Sha1};
use swarmfs_metainfo::{Geometry, PieceIndex, sha1_pair};

use crate::{PieceHashes, RandomAccess, StorageError};

/// Progress of a multi-piece check, reported once per piece (on all cores, in batches of a few
/// MiB of pieces, not necessarily in piece order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecheckProgress {
    /// Pieces checked so far.
    pub checked: u32,
    /// Pieces to check in all.
    pub total: u32,
    /// Pieces found valid so far.
    pub valid: u32,
    /// Bytes checked so far.
    pub bytes: u64,
}

/// Reads all of `piece` into `buf`; `Ok(false)` when some of it is missing (a short read).
pub(crate) async fn read_piece(
    geometry: &Geometry,
    files: &[Arc<dyn RandomAccess>],
    piece: PieceIndex,
    buf: &mut Vec<u8>,
) -> Result<bool, StorageError> {
    let len = geometry.piece_len(piece);
    buf.resize(len as usize, 0);
    for span in geometry.spans(piece, 0, len) {
        let at = span.piece_offset as usize;
        let part = &mut buf[at..at + span.len as usize];
        match files[span.file_index].read_at(span.file_offset, part).await {
            Ok(()) => {}
            Err(e) if e.is_out_of_bounds() => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Hashes one piece on the calling task.
pub(crate) async fn check_one(
    geometry: &Geometry,
    hashes: &PieceHashes,
    files: &[Arc<dyn RandomAccess>],
    piece: PieceIndex,
) -> Result<bool, StorageError> {
    let mut buf = Vec::new();
    if !read_piece(geometry, files, piece, &mut buf).await? {
        return Ok(false);
    }
    Ok(hashes.get(piece.get()) == Some(&Sha1::digest(&buf).into()))
}

type Job = (usize, [u8; 20], Vec<u8>);
type Done = (usize, bool, Vec<u8>);

/// Hashes `pieces` on `threads` hashing threads; returns one verdict per entry of `pieces`.
///
/// With backends that read synchronously, each thread hashes its own runs of consecutive pieces,
/// in place when the backend hands bytes over without a copy, else read in chunks of up to
/// 64 KiB (reads of one thread overlap the hashing of the others); otherwise one
/// reader on the calling task feeds whole pieces to the hashing threads.
pub(crate) async fn check_many(
    geometry: &Geometry,
    hashes: &PieceHashes,
    files: &[Arc<dyn RandomAccess>],
    pieces: &[PieceIndex],
    threads: usize,
    progress: &mut (dyn FnMut(RecheckProgress) + Send),
) -> Result<Vec<bool>, StorageError> {
    let total = pieces.len() as u32;
    let mut state = RecheckProgress {
        total,
        ..RecheckProgress::default()
    };
    let mut verdicts = vec![false; pieces.len()];
    if pieces.is_empty() {
        return Ok(verdicts);
    }
    let threads = threads.clamp(1, pieces.len());
    if files
        .iter()
        .all(|f| f.read_at_blocking(0, &mut []).is_some())
    {
        return check_on_workers(geometry, hashes, files, pieces, threads, progress).await;
    }
    let (job_tx, job_rx) = async_channel::bounded::<Job>(threads * 2);
    let (done_tx, done_rx) = async_channel::unbounded::<Done>();
    for _ in 0..threads {
        let job_rx = job_rx.clone();
        let done_tx = done_tx.clone();
        std::thread::Builder::new()
            .name("swarmfs-hash".into())
            .spawn(move || {
                while let Ok((i, expected, buf)) = job_rx.recv_blocking() {
                    let ok = Sha1::digest(&buf).as_slice() == expected;
                    if done_tx.send_blocking((i, ok, buf)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| StorageError::io("hashing thread", e))?;
    }
    drop((job_rx, done_tx));

    let mut record = |state: &mut RecheckProgress, i: usize, ok: bool| {
        verdicts[i] = ok;
        state.checked += 1;
        state.valid += u32::from(ok);
        state.bytes += u64::from(geometry.piece_len(pieces[i]));
        progress(*state);
    };
    let ended = || StorageError::io("hashing thread", io::Error::other("hashing thread ended"));
    let mut free: Vec<Vec<u8>> = (0..threads * 2 + 2).map(|_| Vec::new()).collect();
    let mut outstanding = 0usize;
    for (i, &piece) in pieces.iter().enumerate() {
        let mut buf = match free.pop() {
            Some(b) => b,
            None => {
                let (j, ok, b) = done_rx.recv().await.map_err(|_| ended())?;
                outstanding -= 1;
                record(&mut state, j, ok);
                b
            }
        };
        if read_piece(geometry, files, piece, &mut buf).await? {
            let Some(expected) = hashes.get(piece.get()) else {
                record(&mut state, i, false);
                free.push(buf);
                continue;
            };
            job_tx
                .send((i, *expected, buf))
                .await
                .map_err(|_| ended())?;
            outstanding += 1;
        } else {
            record(&mut state, i, false);
            free.push(buf);
        }
    }
    drop(job_tx);
    while outstanding > 0 {
        let (j, ok, _) = done_rx.recv().await.map_err(|_| ended())?;
        outstanding -= 1;
        record(&mut state, j, ok);
    }
    Ok(verdicts)
}

/// Size of the chunks a worker reads and hashes. Measured on 1 GiB warm (system CPU of the
/// copies out of the page cache): 16 KiB 0.23-0.27 s, 64 KiB 0.18-0.27 s, 256 KiB 0.54-0.66 s;
/// a 64 KiB destination stays in the core's cache.
///
/// Backends that can hand cached bytes over in place ([`RandomAccess::visit_blocking`], the
/// file backend's memory maps) skip this copy: an earlier try that mapped piece by piece cost as
/// much as the copy; windows of whole runs (see [`MAX_VISIT`]) cost 0.02-0.07 s per GiB.
const CHUNK: usize = 64 * 1024;

/// Most bytes of consecutive pieces a worker claims at once. Each worker streams its own
/// contiguous run, so the kernel sees one long sequential read per worker (its read-ahead
/// grows to full size and crosses file ends once per run) instead of two workers taking
/// alternate pieces of the same files. Measured on cold 100 x 10 MiB, 2 workers (C model of
/// this loop, same reads): one piece at a time 790-1,010 MiB/s, 16 MiB runs 1,200-1,330,
/// 64 MiB runs 1,400-1,500; read-ahead hints (WILLNEED 16-32 MiB ahead) lowered every variant.
const MAX_RUN_BYTES: u64 = 64 << 20;

/// Most bytes of one file a worker hands to one [`RandomAccess::visit_blocking`] call (for the
/// file backend: one memory-mapped window; 8-64 MiB windows measured alike).
const MAX_VISIT: u64 = 16 << 20;

/// Cuts a stream of consecutive pieces' bytes at piece ends and checks each piece's hash.
struct Splitter<'a> {
    geometry: &'a Geometry,
    hashes: &'a PieceHashes,
    pieces: &'a [PieceIndex],
    hasher: Sha1,
    /// Bytes still missing from the piece being hashed (`pieces[verdicts.len()]`).
    left: u32,
    verdicts: Vec<bool>,
}

impl Splitter<'_> {
    fn update(&mut self, mut bytes: &[u8]) {
        loop {
            bytes = self.pairs(bytes);
            if bytes.is_empty() {
                return;
            }
            let Some(&piece) = self.pieces.get(self.verdicts.len()) else {
                // More bytes than pieces: cannot happen with spans of these pieces; the length
                // check at the end of the run rejects it.
                self.verdicts.push(false);
                return;
            };
            let n = bytes.len().min(self.left as usize);
            self.hasher.update(&bytes[..n]);
            bytes = &bytes[n..];
            self.left -= n as u32;
            if self.left == 0 {
                let digest: [u8; 20] = std::mem::take(&mut self.hasher).finalize().into();
                self.verdicts
                    .push(self.hashes.get(piece.get()) == Some(&digest));
                if let Some(&next) = self.pieces.get(self.verdicts.len()) {
                    self.left = self.geometry.piece_len(next);
                }
            }
        }
    }

    /// Checks the whole pieces at the start of `bytes` two at a time
    /// ([`swarmfs_metainfo::sha1_pair`], nearly twice as fast with the SHA extensions) when no
    /// piece is half hashed; returns the bytes left. A window the backend hands over in place
    /// (up to [`MAX_VISIT`] bytes) holds dozens of whole pieces.
    fn pairs<'b>(&mut self, mut bytes: &'b [u8]) -> &'b [u8] {
        loop {
            let next = self.verdicts.len();
            let (Some(&a), Some(&b)) = (self.pieces.get(next), self.pieces.get(next + 1)) else {
                return bytes;
            };
            let (la, lb) = (
                self.geometry.piece_len(a) as usize,
                self.geometry.piece_len(b) as usize,
            );
            if self.left as usize != la || bytes.len() < la + lb {
                return bytes;
            }
            let (da, db) = sha1_pair(&bytes[..la], &bytes[la..la + lb]);
            self.verdicts.push(self.hashes.get(a.get()) == Some(&da));
            self.verdicts.push(self.hashes.get(b.get()) == Some(&db));
            bytes = &bytes[la + lb..];
            self.left = self
                .pieces
                .get(next + 2)
                .map_or(0, |&after| self.geometry.piece_len(after));
        }
    }
}

/// A worker reports its verdicts in batches of about this many bytes (or at its last piece), so
/// that the task collecting them is woken a few hundred times per GiB instead of once per piece:
/// on 1 GiB of 256 KiB pieces, one wake-up per piece cost ~10,000 context switches and ~12,500
/// futex calls.
const REPORT_BYTES: u64 = 4 << 20;

enum Verdict {
    /// `(index into pieces, valid)` for consecutive checks of one worker.
    Pieces(Vec<(usize, bool)>),
    Failed(StorageError),
}

/// Read-and-hash on `threads` worker threads (synchronous reads), pieces handed out in order as
/// runs of consecutive pieces (guided: a share of what is left, at most [`MAX_RUN_BYTES`], so
/// the last runs are short and the threads end together).
async fn check_on_workers(
    geometry: &Geometry,
    hashes: &PieceHashes,
    files: &[Arc<dyn RandomAccess>],
    pieces: &[PieceIndex],
    threads: usize,
    progress: &mut (dyn FnMut(RecheckProgress) + Send),
) -> Result<Vec<bool>, StorageError> {
    let shared = Arc::new(WorkerShared {
        geometry: geometry.clone(),
        hashes: hashes.clone(),
        files: files.to_vec(),
        pieces: pieces.to_vec(),
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        threads,
    });
    let (done_tx, done_rx) = async_channel::unbounded::<Verdict>();
    for _ in 0..threads {
        let shared = shared.clone();
        let done_tx = done_tx.clone();
        std::thread::Builder::new()
            .name("swarmfs-hash".into())
            .spawn(move || shared.work(&done_tx))
            .map_err(|e| StorageError::io("hashing thread", e))?;
    }
    drop(done_tx);
    let mut state = RecheckProgress {
        total: pieces.len() as u32,
        ..RecheckProgress::default()
    };
    let mut verdicts = vec![false; pieces.len()];
    while state.checked < state.total {
        match done_rx.recv().await {
            Ok(Verdict::Pieces(batch)) => {
                for (i, ok) in batch {
                    verdicts[i] = ok;
                    state.checked += 1;
                    state.valid += u32::from(ok);
                    state.bytes += u64::from(geometry.piece_len(pieces[i]));
                    progress(state);
                }
            }
            Ok(Verdict::Failed(e)) => {
                shared.stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
            Err(_) => {
                return Err(StorageError::io(
                    "hashing thread",
                    io::Error::other("hashing thread ended"),
                ));
            }
        }
    }
    Ok(verdicts)
}

struct WorkerShared {
    geometry: Geometry,
    hashes: PieceHashes,
    files: Vec<Arc<dyn RandomAccess>>,
    pieces: Vec<PieceIndex>,
    next: AtomicUsize,
    stop: AtomicBool,
    threads: usize,
}

impl WorkerShared {
    fn work(&self, done: &async_channel::Sender<Verdict>) {
        let mut buf = vec![0u8; CHUNK];
        let mut batch = Vec::new();
        let mut batch_bytes = 0u64;
        while let Some(run) = self.claim_run() {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let verdicts = match self.hash_run(run.clone(), &mut buf) {
                Ok(v) => v,
                Err(e) => {
                    let _ = done.send_blocking(Verdict::Failed(e));
                    return;
                }
            };
            for (i, ok) in run.zip(verdicts) {
                batch.push((i, ok));
                batch_bytes += u64::from(self.geometry.piece_len(self.pieces[i]));
            }
            if batch_bytes >= REPORT_BYTES {
                batch_bytes = 0;
                if done
                    .send_blocking(Verdict::Pieces(std::mem::take(&mut batch)))
                    .is_err()
                {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = done.send_blocking(Verdict::Pieces(batch));
        }
    }

    /// One verdict per entry of `run`: streamed through the backend in windows of whole file
    /// spans when the run's pieces are consecutive, else (or when streaming fails anywhere, e.g.
    /// a file is short) piece by piece, which tells each piece's fate exactly.
    fn hash_run(
        &self,
        run: std::ops::Range<usize>,
        buf: &mut [u8],
    ) -> Result<Vec<bool>, StorageError> {
        let pieces = &self.pieces[run];
        let consecutive = pieces.windows(2).all(|w| w[1].get() == w[0].get() + 1);
        if consecutive && let Some(verdicts) = self.stream_run(pieces, buf) {
            return Ok(verdicts);
        }
        pieces.iter().map(|&p| self.hash_piece(p, buf)).collect()
    }

    /// Hashes consecutive `pieces` from one pass over their bytes: adjacent spans of a file are
    /// merged into windows of up to [`MAX_VISIT`] bytes that the backend hands over in place
    /// ([`RandomAccess::visit_blocking`]) or that are read in [`CHUNK`]s. `None` on any error.
    fn stream_run(&self, pieces: &[PieceIndex], buf: &mut [u8]) -> Option<Vec<bool>> {
        let mut split = Splitter {
            geometry: &self.geometry,
            hashes: &self.hashes,
            pieces,
            hasher: Sha1::new(),
            left: self.geometry.piece_len(*pieces.first()?),
            verdicts: Vec::with_capacity(pieces.len()),
        };
        let mut window: Option<(usize, u64, u64)> = None;
        for &piece in pieces {
            for span in self
                .geometry
                .spans(piece, 0, self.geometry.piece_len(piece))
            {
                let len = u64::from(span.len);
                if let Some((f, off, wlen)) = &mut window
                    && *f == span.file_index
                    && *off + *wlen == span.file_offset
                    && *wlen + len <= MAX_VISIT
                {
                    *wlen += len;
                    continue;
                }
                if let Some(w) = window.take() {
                    self.stream_window(w, &mut split, buf)?;
                }
                window = Some((span.file_index, span.file_offset, len));
            }
        }
        if let Some(w) = window {
            self.stream_window(w, &mut split, buf)?;
        }
        (split.verdicts.len() == pieces.len()).then_some(split.verdicts)
    }

    fn stream_window(
        &self,
        (file, offset, len): (usize, u64, u64),
        split: &mut Splitter<'_>,
        buf: &mut [u8],
    ) -> Option<()> {
        let file = &self.files[file];
        match file.visit_blocking(offset, len, &mut |bytes| split.update(bytes)) {
            Some(Ok(())) => return Some(()),
            Some(Err(_)) => return None,
            None => {}
        }
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(CHUNK as u64) as usize;
            let part = &mut buf[..n];
            file.read_at_blocking(offset + done, part)?.ok()?;
            split.update(part);
            done += n as u64;
        }
        Some(())
    }

    /// The next run of entries of `pieces` for one worker: a `1 / (2 * threads)` share of the
    /// entries left, between one piece and [`MAX_RUN_BYTES`]; `None` when all are claimed.
    fn claim_run(&self) -> Option<std::ops::Range<usize>> {
        let total = self.pieces.len();
        let max = (MAX_RUN_BYTES / u64::from(self.geometry.piece_length()).max(1)).max(1) as usize;
        let mut start = self.next.load(Ordering::Relaxed);
        loop {
            if start >= total {
                return None;
            }
            let len = ((total - start) / (2 * self.threads)).clamp(1, max);
            match self.next.compare_exchange_weak(
                start,
                start + len,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(start..start + len),
                Err(now) => start = now,
            }
        }
    }

    /// `Ok(false)` for a mismatch or missing bytes.
    fn hash_piece(&self, piece: PieceIndex, buf: &mut [u8]) -> Result<bool, StorageError> {
        let mut h = Sha1::new();
        let len = self.geometry.piece_len(piece);
        for span in self.geometry.spans(piece, 0, len) {
            let file = &self.files[span.file_index];
            let mut done = 0u64;
            while done < u64::from(span.len) {
                let n = (u64::from(span.len) - done).min(CHUNK as u64) as usize;
                let part = &mut buf[..n];
                match file.read_at_blocking(span.file_offset + done, part) {
                    Some(Ok(())) => h.update(&*part),
                    Some(Err(e)) if e.is_out_of_bounds() => return Ok(false),
                    Some(Err(e)) => return Err(e),
                    None => {
                        return Err(StorageError::io(
                            "hashing thread",
                            io::Error::other("backend stopped reading synchronously"),
                        ));
                    }
                }
                done += n as u64;
            }
        }
        Ok(self.hashes.get(piece.get()) == Some(&h.finalize().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds the stream of `pieces` to a splitter in chunks of `chunk` bytes; returns its
    /// verdicts (`None` when it made a wrong number of them).
    fn split(
        geometry: &Geometry,
        hashes: &PieceHashes,
        pieces: &[PieceIndex],
        stream: &[u8],
        chunk: usize,
    ) -> Option<Vec<bool>> {
        let mut s = Splitter {
            geometry,
            hashes,
            pieces,
            hasher: Sha1::new(),
            left: geometry.piece_len(pieces[0]),
            verdicts: Vec::new(),
        };
        stream.chunks(chunk).for_each(|c| s.update(c));
        (s.verdicts.len() == pieces.len()).then_some(s.verdicts)
    }

    #[test]
    fn splitter_verdicts_do_not_depend_on_how_the_stream_is_cut() {
        // Nine 64 KiB pieces and a short last one; pieces 3 and 8 are corrupt on disk.
        let len = 9 * 65536 + 1000;
        let data: Vec<u8> = (0..len as u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let geometry = Geometry::new(65536, &[len as u64]).expect("geometry");
        let digests = data.chunks(65536).map(|c| Sha1::digest(c).into()).collect();
        let hashes = PieceHashes::new(digests, &geometry).expect("hashes");
        let mut disk = data.clone();
        disk[3 * 65536 + 17] ^= 1;
        disk[8 * 65536 + 65535] ^= 1;
        let want: Vec<bool> = (0..10).map(|p| p != 3 && p != 8).collect();
        let all: Vec<PieceIndex> = geometry.pieces().collect();
        // Whole stream (pairs), piece-sized, odd and tiny chunks (no pairs, or pairs after a
        // half-hashed piece).
        for chunk in [len, 2 * 65536, 65536, 3 * 65536 + 5, 100_000, 4096, 777] {
            assert_eq!(
                split(&geometry, &hashes, &all, &disk, chunk),
                Some(want.clone()),
                "chunk {chunk}"
            );
        }
        // A run from the middle, and a run of one piece.
        let mid = &all[2..7];
        let bytes = &disk[2 * 65536..7 * 65536];
        for chunk in [bytes.len(), 65536 + 1] {
            assert_eq!(
                split(&geometry, &hashes, mid, bytes, chunk),
                Some(want[2..7].to_vec()),
                "chunk {chunk}"
            );
        }
        let one = &disk[9 * 65536..];
        assert_eq!(
            split(&geometry, &hashes, &all[9..], one, 1 << 20),
            Some(vec![true])
        );
    }
}
