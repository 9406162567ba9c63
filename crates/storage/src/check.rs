//! Hashing pieces from storage: one piece inline, or many on all cores with reads overlapped with
//! hashing (one reader feeding a pool of hashing threads through a bounded set of buffers).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sha1::{Digest, Sha1};
use swarmfs_metainfo::{Geometry, PieceIndex};

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
/// With backends that read synchronously, each thread reads and hashes its own pieces in chunks
/// of up to 64 KiB (reads of one thread overlap the hashing of the others); otherwise one
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
/// Hashing straight from a memory map instead (no copy) was measured and is no better here: the
/// kernel's cost of mapping each page (MAP_POPULATE or fault-around, plus munmap) was 17.9-19.5%
/// of the samples against 18.3% for the pread copies, and CPU per GiB was equal or higher
/// (perf record, 1 GiB warm, 2026-11-30). Per core, hashing is 0.69 s per GiB of the ~0.82-0.95 s.
const CHUNK: usize = 64 * 1024;

/// Most bytes of consecutive pieces a worker claims at once. Each worker streams its own
/// contiguous run, so the kernel sees one long sequential read per worker (its read-ahead
/// grows to full size and crosses file ends once per run) instead of two workers taking
/// alternate pieces of the same files. Measured on cold 100 x 10 MiB, 2 workers (C model of
/// this loop, same reads): one piece at a time 790-1,010 MiB/s, 16 MiB runs 1,200-1,330,
/// 64 MiB runs 1,400-1,500; read-ahead hints (WILLNEED 16-32 MiB ahead) lowered every variant.
const MAX_RUN_BYTES: u64 = 64 << 20;

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
        'runs: while let Some(run) = self.claim_run() {
            for i in run {
                if self.stop.load(Ordering::Relaxed) {
                    break 'runs;
                }
                let piece = self.pieces[i];
                match self.hash_piece(piece, &mut buf) {
                    Ok(ok) => batch.push((i, ok)),
                    Err(e) => {
                        let _ = done.send_blocking(Verdict::Failed(e));
                        return;
                    }
                }
                batch_bytes += u64::from(self.geometry.piece_len(piece));
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
        }
        if !batch.is_empty() {
            let _ = done.send_blocking(Verdict::Pieces(batch));
        }
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
