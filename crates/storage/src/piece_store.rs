//! The piece store: pieces and blocks mapped onto file spans, verification from storage, and a
//! completion bitfield that is persisted only after the data it vouches for is durable.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use swarmfs_metainfo::{Bitfield, Geometry, PieceIndex};

mod hashed;

use crate::check::{check_many, check_one};
use crate::resume::{ResumeData, ResumeError};
use crate::{
    FileStamp, MetaName, PieceHashes, RandomAccess, RecheckProgress, StorageError, StorageFactory,
    StoragePath,
};

/// Why a piece store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PieceStoreError {
    /// The backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The number of file paths differs from the geometry's file count.
    #[error("{paths} file paths for {files} files")]
    PathCountMismatch {
        /// Paths given.
        paths: usize,
        /// Files in the geometry.
        files: usize,
    },
    /// The piece hashes do not match the geometry.
    #[error("{hashes} piece hashes for {pieces} pieces")]
    HashCountMismatch {
        /// Hashes given.
        hashes: usize,
        /// Pieces in the geometry.
        pieces: u32,
    },
    /// The range is empty or does not lie inside the piece.
    #[error("range of {len} bytes at {offset} is outside piece {piece} ({piece_len} bytes)")]
    OutOfPiece {
        /// The piece.
        piece: u32,
        /// Offset inside the piece.
        offset: u32,
        /// Length of the range.
        len: usize,
        /// Length of the piece.
        piece_len: u32,
    },
    /// The range does not lie inside the torrent.
    #[error("range of {len} bytes at {offset} is outside the torrent ({total} bytes)")]
    OutOfTorrent {
        /// Stream offset.
        offset: u64,
        /// Length of the range.
        len: usize,
        /// Total length of the torrent.
        total: u64,
    },
    /// The piece index is out of range for this torrent (it came from another geometry).
    #[error("no piece {piece} in a torrent of {count} pieces")]
    NoSuchPiece {
        /// The piece.
        piece: u32,
        /// Pieces in the torrent.
        count: u32,
    },
    /// The piece hashed correctly but syncing its data failed (in this or a concurrent
    /// verification), so it was not marked verified.
    #[error("piece {piece} matched but its data could not be made durable")]
    NotCommitted {
        /// The piece.
        piece: u32,
    },
    /// A write into a piece that is already verified (invalidate it first).
    #[error("piece {piece} is verified; invalidate it before writing")]
    AlreadyVerified {
        /// The piece.
        piece: u32,
    },
    /// The piece is being verified, or written while a verification was asked for.
    #[error("piece {piece} is busy with a concurrent write or verification")]
    Busy {
        /// The piece.
        piece: u32,
    },
}

/// Options of [`PieceStore::open`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PieceStoreOptions {
    /// Name of the resume blob the factory keeps beside the data; `None` keeps the completion
    /// bitfield in memory only.
    pub resume: Option<MetaName>,
    /// Threads that hash during multi-piece checks (default: available parallelism).
    pub hashing_threads: usize,
}

impl Default for PieceStoreOptions {
    fn default() -> Self {
        Self {
            resume: None,
            hashing_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

impl PieceStoreOptions {
    /// Options that persist the completion bitfield under `name`.
    pub fn with_resume(name: MetaName) -> Self {
        Self {
            resume: Some(name),
            ..Self::default()
        }
    }
}

/// What happened to the resume data when a store was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumeState {
    /// No resume data was asked for.
    Disabled,
    /// No resume blob was found: nothing is verified.
    Missing,
    /// The resume blob was rejected (damaged, foreign): nothing is verified.
    Rejected(ResumeError),
    /// The resume blob was loaded.
    Loaded,
}

/// What [`PieceStore::open`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenReport {
    /// What happened to the resume data.
    pub resume: ResumeState,
    /// Files whose size or modification time differ from the resume data (changed, truncated or
    /// deleted behind the store's back, or written after the last persist).
    pub changed_files: Vec<usize>,
    /// Verified pieces trusted without hashing (their files are unchanged).
    pub trusted: u32,
    /// Verified pieces in changed files that were hashed again and still match.
    pub reverified: u32,
    /// Verified pieces in changed files that no longer match and were dropped.
    pub dropped: u32,
}

/// The outcome of [`PieceStore::recheck`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecheckReport {
    /// Pieces valid after the check.
    pub verified: Bitfield,
    /// Pieces that were marked verified before and failed the check.
    pub dropped: u32,
}

/// Pieces and blocks of one torrent over a storage backend.
///
/// Completion rule: a piece is marked verified only after its bytes hashed to the expected SHA-1
/// *from storage* (or were written whole from memory that the caller hashed, with
/// [`PieceStore::write_hashed_piece`]) and the files holding it were synced; the resume blob is
/// written (atomically) after that.
///
/// Two write paths:
/// - blocks ([`PieceStore::write_block`]) then [`PieceStore::verify_piece`] /
///   [`PieceStore::verify_pieces`], which read the piece back and hash it;
/// - for a caller that assembles pieces in memory (the engine): hash the piece, then
///   [`PieceStore::write_hashed_piece`] (no read-back, no second hash), and every so often
///   [`PieceStore::commit_hashed`] (group commit: one sync per file and one resume write for all
///   the pieces written since the last commit).
///
/// Verified pieces refuse writes until [`PieceStore::invalidate`] is called, so the
/// persisted bitfield never vouches for bytes that changed under it.
#[derive(Debug)]
pub struct PieceStore {
    factory: Arc<dyn StorageFactory>,
    geometry: Geometry,
    hashes: PieceHashes,
    files: Vec<Arc<dyn RandomAccess>>,
    options: PieceStoreOptions,
    state: Mutex<State>,
    persist_lock: async_lock::Mutex<()>,
}

#[derive(Debug)]
struct State {
    verified: Bitfield,
    /// Pieces being verified: writes are refused meanwhile.
    busy: Bitfield,
    /// Writes in flight per piece: verification is refused meanwhile.
    writing: HashMap<u32, u32>,
    stamps: Vec<Option<FileStamp>>,
    /// Bumped by every change that must reach the resume blob.
    generation: u64,
    /// The generation the resume blob holds.
    persisted: u64,
    /// Files to stamp again at the next persist.
    restamp: BTreeSet<usize>,
    /// Pieces that hashed correctly and wait for the next commit to be synced and marked.
    pending: Vec<PieceIndex>,
    /// Files the next commit syncs.
    pending_sync: BTreeSet<usize>,
    /// Pieces written whole by [`PieceStore::write_hashed_piece`] that wait for
    /// [`PieceStore::commit_hashed`] (they are `busy` meanwhile).
    hashed: Vec<PieceIndex>,
}

impl PieceStore {
    /// Opens the store of a torrent: one file per path (in geometry order) from `factory`.
    ///
    /// With a resume name, loads the bitfield; pieces that touch a file whose stamp (size and
    /// modification time) changed since it was persisted are hashed again and dropped if they no
    /// longer match. Nothing else is hashed: use [`PieceStore::recheck`] for a full check.
    pub async fn open(
        factory: Arc<dyn StorageFactory>,
        geometry: Geometry,
        paths: &[StoragePath],
        hashes: PieceHashes,
        options: PieceStoreOptions,
    ) -> Result<(Self, OpenReport), PieceStoreError> {
        if paths.len() != geometry.file_count() {
            return Err(PieceStoreError::PathCountMismatch {
                paths: paths.len(),
                files: geometry.file_count(),
            });
        }
        if hashes.as_slice().len() != geometry.piece_count() as usize {
            return Err(PieceStoreError::HashCountMismatch {
                hashes: hashes.as_slice().len(),
                pieces: geometry.piece_count(),
            });
        }
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            files.push(factory.open(p).await?);
        }
        let n = geometry.piece_count();
        let store = Self {
            factory,
            state: Mutex::new(State {
                verified: Bitfield::new(n),
                busy: Bitfield::new(n),
                writing: HashMap::new(),
                stamps: vec![None; files.len()],
                generation: 0,
                persisted: 0,
                restamp: BTreeSet::new(),
                pending: Vec::new(),
                pending_sync: BTreeSet::new(),
                hashed: Vec::new(),
            }),
            geometry,
            hashes,
            files,
            options,
            persist_lock: async_lock::Mutex::new(()),
        };
        let report = store.load_resume().await?;
        Ok((store, report))
    }

    /// The torrent geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The expected piece hashes.
    pub fn hashes(&self) -> &PieceHashes {
        &self.hashes
    }

    /// The storage of file `index`.
    pub fn file(&self, index: usize) -> Option<&Arc<dyn RandomAccess>> {
        self.files.get(index)
    }

    /// A copy of the completion bitfield.
    pub fn verified(&self) -> Bitfield {
        self.lock().verified.clone()
    }

    /// Whether `piece` is verified.
    pub fn is_verified(&self, piece: PieceIndex) -> bool {
        self.lock().verified.get(piece.get())
    }

    /// Writes `data` at `offset` inside `piece` (typically one 16 KiB block), across files as
    /// needed: one backend write per file span.
    pub async fn write_block(
        &self,
        piece: PieceIndex,
        offset: u32,
        data: &[u8],
    ) -> Result<(), PieceStoreError> {
        self.check_range(piece, offset, data.len())?;
        let _guard = self.begin_write(piece)?;
        for span in self.geometry.spans(piece, offset, data.len() as u32) {
            let at = (span.piece_offset - offset) as usize;
            self.files[span.file_index]
                .write_at(span.file_offset, &data[at..at + span.len as usize])
                .await?;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at `offset` inside `piece`, verified or not.
    pub async fn read(
        &self,
        piece: PieceIndex,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<(), PieceStoreError> {
        self.check_range(piece, offset, buf.len())?;
        let len = buf.len() as u32;
        for span in self.geometry.spans(piece, offset, len) {
            let at = (span.piece_offset - offset) as usize;
            self.files[span.file_index]
                .read_at(span.file_offset, &mut buf[at..at + span.len as usize])
                .await?;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at `offset` of the torrent's concatenated stream, across pieces.
    pub async fn read_range(&self, offset: u64, buf: &mut [u8]) -> Result<(), PieceStoreError> {
        let total = self.geometry.total_length();
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > total)
        {
            return Err(PieceStoreError::OutOfTorrent {
                offset,
                len: buf.len(),
                total,
            });
        }
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let Some(piece) = self.geometry.piece_at(pos) else {
                break;
            };
            let in_piece = (pos - self.geometry.piece_start(piece)) as u32;
            let take = ((self.geometry.piece_len(piece) - in_piece) as usize).min(buf.len() - done);
            self.read(piece, in_piece, &mut buf[done..done + take])
                .await?;
            done += take;
        }
        Ok(())
    }

    /// Hashes `piece` from storage; when it matches, syncs its files, marks it verified and
    /// persists the bitfield. Returns whether it matched (a piece with missing bytes does not).
    pub async fn verify_piece(&self, piece: PieceIndex) -> Result<bool, PieceStoreError> {
        Ok(self.verify_pieces(&[piece]).await?[0])
    }

    /// Like [`PieceStore::verify_piece`] for many pieces, hashed on all cores, with one sync per
    /// file and one persist for the batch. Pieces already verified report `true` without being
    /// hashed again; a piece listed twice is hashed once.
    pub async fn verify_pieces(&self, pieces: &[PieceIndex]) -> Result<Vec<bool>, PieceStoreError> {
        for &p in pieces {
            self.check_piece(p)?;
        }
        let mut verdicts = vec![false; pieces.len()];
        let mut todo: Vec<(usize, PieceIndex)> = Vec::new();
        let mut repeats = Vec::new();
        {
            let mut st = self.lock();
            for (i, &p) in pieces.iter().enumerate() {
                if st.verified.get(p.get()) {
                    verdicts[i] = true;
                } else if todo.iter().any(|&(_, q)| q == p) {
                    repeats.push((i, p));
                } else if st.busy.get(p.get()) || st.writing.contains_key(&p.get()) {
                    for &(_, q) in &todo {
                        st.busy.set(PieceIndex::get(q), false);
                    }
                    return Err(PieceStoreError::Busy { piece: p.get() });
                } else {
                    st.busy.set(p.get(), true);
                    todo.push((i, p));
                }
            }
        }
        let _release = BusyGuard {
            store: self,
            pieces: todo.iter().map(|&(_, p)| p.get()).collect(),
        };
        let list: Vec<PieceIndex> = todo.iter().map(|&(_, p)| p).collect();
        let ok = match list.len() {
            0 => Vec::new(),
            1 => vec![check_one(&self.geometry, &self.hashes, &self.files, list[0]).await?],
            _ => {
                check_many(
                    &self.geometry,
                    &self.hashes,
                    &self.files,
                    &list,
                    self.options.hashing_threads,
                    &mut |_| {},
                )
                .await?
            }
        };
        let good: Vec<PieceIndex> = list
            .iter()
            .zip(&ok)
            .filter(|(_, ok)| **ok)
            .map(|(p, _)| *p)
            .collect();
        self.mark_durably(&good).await?;
        for ((i, _), ok) in todo.iter().zip(ok) {
            verdicts[*i] = ok;
        }
        for (i, p) in repeats {
            verdicts[i] = good.contains(&p);
        }
        Ok(verdicts)
    }

    /// Unmarks `piece` (and persists that) so that it can be written again.
    pub async fn invalidate(&self, piece: PieceIndex) -> Result<(), PieceStoreError> {
        self.check_piece(piece)?;
        {
            let mut st = self.lock();
            if st.busy.get(piece.get()) {
                return Err(PieceStoreError::Busy { piece: piece.get() });
            }
            if !st.verified.set(piece.get(), false) {
                return Ok(());
            }
        }
        self.persist_stamping(&[]).await?;
        Ok(())
    }

    /// Hashes every piece from storage on all cores (reads overlapped with hashing), reporting
    /// progress for each piece (delivered in batches of a few MiB), then replaces the bitfield
    /// with the result (syncing the files first) and persists it. Fails with [`PieceStoreError::Busy`] while writes are in flight.
    pub async fn recheck(
        &self,
        progress: &mut (dyn FnMut(RecheckProgress) + Send),
    ) -> Result<RecheckReport, PieceStoreError> {
        let all: Vec<PieceIndex> = self.geometry.pieces().collect();
        {
            let mut st = self.lock();
            if let Some((&p, _)) = st.writing.iter().next() {
                return Err(PieceStoreError::Busy { piece: p });
            }
            if let Some(p) = st.busy.ones().next() {
                return Err(PieceStoreError::Busy { piece: p });
            }
            st.busy = Bitfield::full(self.geometry.piece_count());
        }
        let _release = BusyGuard {
            store: self,
            pieces: all.iter().map(|p| p.get()).collect(),
        };
        let ok = check_many(
            &self.geometry,
            &self.hashes,
            &self.files,
            &all,
            self.options.hashing_threads,
            progress,
        )
        .await?;
        let mut verified = Bitfield::new(self.geometry.piece_count());
        for (p, ok) in all.iter().zip(&ok) {
            verified.set(p.get(), *ok);
        }
        // The bitfield about to be persisted vouches for these bytes, which may so far live only
        // in the page cache. Without resume data nothing is persisted, and the syncs (one per
        // file plus its directories: 300 calls and ~0.6 s for 100 files on a busy filesystem
        // here) would buy nothing.
        if self.options.resume.is_some() {
            for f in &self.files {
                if f.stamp().await?.is_some() {
                    f.sync().await?;
                }
            }
        }
        let dropped = {
            let mut st = self.lock();
            let dropped = st.verified.ones().filter(|&p| !verified.get(p)).count() as u32;
            st.verified = verified.clone();
            dropped
        };
        let every: Vec<usize> = (0..self.files.len()).collect();
        self.persist_stamping(&every).await?;
        Ok(RecheckReport { verified, dropped })
    }

    /// Persists the bitfield with fresh stamps of every file (for example before closing, so the
    /// next open trusts the files without hashing).
    pub async fn persist(&self) -> Result<(), PieceStoreError> {
        let every: Vec<usize> = (0..self.files.len()).collect();
        self.persist_stamping(&every).await
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_range(
        &self,
        piece: PieceIndex,
        offset: u32,
        len: usize,
    ) -> Result<(), PieceStoreError> {
        self.check_piece(piece)?;
        let ok = u32::try_from(len).is_ok_and(|l| self.geometry.contains(piece, offset, l));
        if ok {
            Ok(())
        } else {
            Err(PieceStoreError::OutOfPiece {
                piece: piece.get(),
                offset,
                len,
                piece_len: self.geometry.piece_len(piece),
            })
        }
    }

    /// A [`PieceIndex`] from another torrent's geometry may be out of range here.
    fn check_piece(&self, piece: PieceIndex) -> Result<(), PieceStoreError> {
        if piece.get() < self.geometry.piece_count() {
            Ok(())
        } else {
            Err(PieceStoreError::NoSuchPiece {
                piece: piece.get(),
                count: self.geometry.piece_count(),
            })
        }
    }

    fn begin_write(&self, piece: PieceIndex) -> Result<WriteGuard<'_>, PieceStoreError> {
        let mut st = self.lock();
        if st.verified.get(piece.get()) {
            return Err(PieceStoreError::AlreadyVerified { piece: piece.get() });
        }
        if st.busy.get(piece.get()) {
            return Err(PieceStoreError::Busy { piece: piece.get() });
        }
        *st.writing.entry(piece.get()).or_insert(0) += 1;
        Ok(WriteGuard {
            store: self,
            piece: piece.get(),
        })
    }

    fn files_of(&self, pieces: &[PieceIndex]) -> Vec<usize> {
        let set: BTreeSet<usize> = pieces
            .iter()
            .flat_map(|&p| {
                self.geometry
                    .spans(p, 0, self.geometry.piece_len(p))
                    .map(|s| s.file_index)
            })
            .collect();
        set.into_iter().collect()
    }

    /// Syncs the files of `good`, then marks them, then persists: the order that makes the
    /// persisted bitfield never claim data that a crash could lose.
    async fn mark_durably(&self, good: &[PieceIndex]) -> Result<(), PieceStoreError> {
        if good.is_empty() {
            return Ok(());
        }
        let touched = self.files_of(good);
        self.commit(good, &touched).await?;
        // Another caller's commit may have taken these pieces and failed to sync them.
        let st = self.lock();
        match good.iter().find(|p| !st.verified.get(p.get())) {
            Some(p) => Err(PieceStoreError::NotCommitted { piece: p.get() }),
            None => Ok(()),
        }
    }

    /// Persists the bitfield, stamping `restamp` files again.
    async fn persist_stamping(&self, restamp: &[usize]) -> Result<(), PieceStoreError> {
        self.commit(&[], restamp).await
    }

    /// Group commit. Queues `good` (pieces that hashed correctly; their files in `sync`) and
    /// waits for a commit that covers them: the first caller to get the commit lock syncs every
    /// queued file, then marks every queued piece, then persists the bitfield once (stamping the
    /// synced and `sync` files). Concurrent verifications thus share syncs and resume writes; a
    /// caller whose change an earlier commit already covered returns at once.
    async fn commit(&self, good: &[PieceIndex], sync: &[usize]) -> Result<(), PieceStoreError> {
        let mine = {
            let mut st = self.lock();
            st.pending.extend_from_slice(good);
            if !good.is_empty() {
                st.pending_sync.extend(sync.iter().copied());
            }
            st.restamp.extend(sync.iter().copied());
            st.generation += 1;
            st.generation
        };
        let _serial = self.persist_lock.lock().await;
        let (pieces, to_sync, generation) = {
            let mut st = self.lock();
            if st.persisted >= mine {
                return Ok(());
            }
            (
                std::mem::take(&mut st.pending),
                std::mem::take(&mut st.pending_sync),
                st.generation,
            )
        };
        for &f in &to_sync {
            // On failure the batch is dropped unmarked: its callers (this one and those whose
            // pieces this commit took) report an error, and may rewrite and verify again.
            self.files[f].sync().await?;
        }
        {
            let mut st = self.lock();
            for p in &pieces {
                st.verified.set(p.get(), true);
            }
        }
        let Some(name) = &self.options.resume else {
            self.lock().persisted = generation;
            return Ok(());
        };
        let files: Vec<usize> = std::mem::take(&mut self.lock().restamp)
            .into_iter()
            .collect();
        let mut fresh = Vec::with_capacity(files.len());
        for &f in &files {
            match self.files[f].stamp().await {
                Ok(s) => fresh.push((f, s)),
                Err(e) => {
                    self.lock().restamp.extend(files);
                    return Err(e.into());
                }
            }
        }
        let bytes = {
            let mut st = self.lock();
            for (f, s) in fresh {
                st.stamps[f] = s;
            }
            ResumeData {
                stamps: st.stamps.clone(),
                verified: st.verified.clone(),
            }
            .encode(&self.geometry, &self.hashes)
        };
        if let Err(e) = self.factory.store_meta(name, &bytes).await {
            // The pieces stay marked in memory (their data is durable); the next commit
            // persists them.
            self.lock().restamp.extend(files);
            return Err(e.into());
        }
        self.lock().persisted = generation;
        Ok(())
    }

    async fn load_resume(&self) -> Result<OpenReport, PieceStoreError> {
        let mut report = OpenReport {
            resume: ResumeState::Disabled,
            changed_files: Vec::new(),
            trusted: 0,
            reverified: 0,
            dropped: 0,
        };
        let Some(name) = &self.options.resume else {
            return Ok(report);
        };
        let max = ResumeData::encoded_len(&self.geometry);
        let data = match self.factory.load_meta(name, max).await {
            Ok(None) => {
                report.resume = ResumeState::Missing;
                return Ok(report);
            }
            Ok(Some(bytes)) => match ResumeData::decode(&bytes, &self.geometry, &self.hashes) {
                Ok(d) => d,
                Err(e) => {
                    report.resume = ResumeState::Rejected(e);
                    return Ok(report);
                }
            },
            Err(StorageError::MetaTooLarge { len, .. }) => {
                report.resume = ResumeState::Rejected(ResumeError::BadLength {
                    len: usize::try_from(len).unwrap_or(usize::MAX),
                    expected: max,
                });
                return Ok(report);
            }
            Err(e) => return Err(e.into()),
        };
        report.resume = ResumeState::Loaded;
        let mut current = Vec::with_capacity(self.files.len());
        for f in &self.files {
            current.push(f.stamp().await?);
        }
        report.changed_files = (0..self.files.len())
            .filter(|&i| current[i] != data.stamps[i])
            .collect();
        let mut verified = data.verified;
        let suspects: Vec<PieceIndex> = verified
            .ones()
            .filter_map(|p| self.geometry.piece(p))
            .filter(|&p| {
                self.geometry
                    .spans(p, 0, self.geometry.piece_len(p))
                    .any(|s| report.changed_files.contains(&s.file_index))
            })
            .collect();
        let ok = check_many(
            &self.geometry,
            &self.hashes,
            &self.files,
            &suspects,
            self.options.hashing_threads,
            &mut |_| {},
        )
        .await?;
        for (p, ok) in suspects.iter().zip(&ok) {
            if *ok {
                report.reverified += 1;
            } else {
                report.dropped += 1;
                verified.set(p.get(), false);
            }
        }
        report.trusted = verified.count_ones() - report.reverified;
        let kept: Vec<PieceIndex> = suspects
            .iter()
            .zip(&ok)
            .filter(|(_, ok)| **ok)
            .map(|(p, _)| *p)
            .collect();
        // Re-verified bytes may so far live only in the page cache: make them durable before
        // the bitfield that vouches for them is persisted again.
        for f in self.files_of(&kept) {
            self.files[f].sync().await?;
        }
        {
            let mut st = self.lock();
            st.verified = verified;
            st.stamps = data.stamps;
        }
        if !report.changed_files.is_empty() {
            let changed = report.changed_files.clone();
            self.persist_stamping(&changed).await?;
        }
        Ok(report)
    }
}

struct WriteGuard<'a> {
    store: &'a PieceStore,
    piece: u32,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.store.lock();
        if let Some(n) = st.writing.get_mut(&self.piece) {
            *n -= 1;
            if *n == 0 {
                st.writing.remove(&self.piece);
            }
        }
    }
}

struct BusyGuard<'a> {
    store: &'a PieceStore,
    pieces: Vec<u32>,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.store.lock();
        for &p in &self.pieces {
            st.busy.set(p, false);
        }
    }
}
