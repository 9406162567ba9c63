//! The write path for pieces hashed in memory: whole-piece writes, then group commits that sync
//! each file once for many pieces and persist the bitfield once, after the data is durable.

use sha1::{Digest, Sha1};
use swarmfs_metainfo::PieceIndex;

use super::{BusyGuard, PieceStore, PieceStoreError};

impl PieceStore {
    /// Writes all of `piece` from `data`, which the caller assembled and hashed in memory
    /// (`digest` is the SHA-1 of `data`), and queues it for the next
    /// [`PieceStore::commit_hashed`]; nothing is read back or hashed again.
    ///
    /// Returns `Ok(false)` and writes nothing when `digest` is not the piece's expected hash.
    /// `data` must be exactly the piece's length. From this call until the commit that covers it
    /// the piece is busy: writes, verifications, invalidation and re-checks of it fail with
    /// [`PieceStoreError::Busy`], and it is not yet [verified](PieceStore::is_verified). A piece
    /// written but not committed when the process dies is not marked (its bytes may be on disk;
    /// a re-check finds them).
    ///
    /// The caller vouches that `digest` is the SHA-1 of `data` (debug builds check it).
    ///
    /// ```
    /// use sha1::{Digest, Sha1};
    /// use swarmfs_metainfo::PieceIndex;
    /// use swarmfs_storage::{PieceStore, PieceStoreError};
    ///
    /// /// Called when every block of `piece` has arrived in `data`.
    /// async fn piece_assembled(
    ///     store: &PieceStore,
    ///     piece: PieceIndex,
    ///     data: &[u8],
    /// ) -> Result<bool, PieceStoreError> {
    ///     let digest: [u8; 20] = Sha1::digest(data).into();
    ///     // `false`: the piece is corrupt; nothing was written.
    ///     store.write_hashed_piece(piece, data, &digest).await
    /// }
    ///
    /// /// Called every few hundred milliseconds, or after every N pieces: one sync per file and
    /// /// one resume write for every piece written since the last call.
    /// async fn flush(store: &PieceStore) -> Result<u32, PieceStoreError> {
    ///     store.commit_hashed().await
    /// }
    /// ```
    pub async fn write_hashed_piece(
        &self,
        piece: PieceIndex,
        data: &[u8],
        digest: &[u8; 20],
    ) -> Result<bool, PieceStoreError> {
        self.check_piece(piece)?;
        let len = self.geometry.piece_len(piece);
        if data.len() != len as usize {
            return Err(PieceStoreError::OutOfPiece {
                piece: piece.get(),
                offset: 0,
                len: data.len(),
                piece_len: len,
            });
        }
        debug_assert!(
            Sha1::digest(data).as_slice() == digest,
            "write_hashed_piece: digest is not the SHA-1 of data"
        );
        if self.hashes.get(piece.get()) != Some(digest) {
            return Ok(false);
        }
        {
            let mut st = self.lock();
            if st.verified.get(piece.get()) {
                return Err(PieceStoreError::AlreadyVerified { piece: piece.get() });
            }
            if st.busy.get(piece.get()) || st.writing.contains_key(&piece.get()) {
                return Err(PieceStoreError::Busy { piece: piece.get() });
            }
            st.busy.set(piece.get(), true);
        }
        for span in self.geometry.spans(piece, 0, len) {
            let at = span.piece_offset as usize;
            let written = self.files[span.file_index]
                .write_at(span.file_offset, &data[at..at + span.len as usize])
                .await;
            if let Err(e) = written {
                self.lock().busy.set(piece.get(), false);
                return Err(e.into());
            }
        }
        self.lock().hashed.push(piece);
        Ok(true)
    }

    /// Makes every piece written by [`PieceStore::write_hashed_piece`] so far durable and marks
    /// it verified, in one group commit: each file holding one of them is synced once, then the
    /// pieces are marked, then the bitfield is persisted once. Returns how many pieces it marked.
    ///
    /// A kill at any moment leaves each of these pieces either unmarked or marked with its data
    /// durable; once this returns they survive a crash. On error none of them is marked (and
    /// they are no longer queued): write them again, or [verify](PieceStore::verify_pieces)
    /// them from storage.
    pub async fn commit_hashed(&self) -> Result<u32, PieceStoreError> {
        let pieces = std::mem::take(&mut self.lock().hashed);
        if pieces.is_empty() {
            return Ok(0);
        }
        let _release = BusyGuard {
            store: self,
            pieces: pieces.iter().map(|p| p.get()).collect(),
        };
        self.mark_durably(&pieces).await?;
        Ok(pieces.len() as u32)
    }

    /// Pieces written by [`PieceStore::write_hashed_piece`] that wait for
    /// [`PieceStore::commit_hashed`].
    pub fn uncommitted(&self) -> u32 {
        self.lock().hashed.len() as u32
    }
}
