//! [`TorrentHandle`]: what upper layers hold to watch and steer one torrent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use swarmfs_metainfo::{Bitfield, Info, InfoHash};
use swarmfs_proto::Priority;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::error::TorrentError;
use crate::event::{TorrentEvent, TorrentStats};
use crate::shared::TorrentShared;
use crate::torrent::Command;

/// A handle to one torrent of an [`Engine`](crate::Engine); cheap to clone.
#[derive(Clone, Debug)]
pub struct TorrentHandle {
    cmd: mpsc::UnboundedSender<Command>,
    shared: Arc<TorrentShared>,
    events: broadcast::Sender<TorrentEvent>,
    /// A receiver subscribed when the torrent was added, for the first [`TorrentHandle::events`]
    /// call on any copy, so that a caller subscribing right after `add_*` misses nothing.
    first_events: Arc<Mutex<Option<broadcast::Receiver<TorrentEvent>>>>,
}

impl TorrentHandle {
    pub(crate) fn new(
        cmd: mpsc::UnboundedSender<Command>,
        shared: Arc<TorrentShared>,
        events: broadcast::Sender<TorrentEvent>,
    ) -> Self {
        let first = events.subscribe();
        Self {
            cmd,
            shared,
            events,
            first_events: Arc::new(Mutex::new(Some(first))),
        }
    }

    pub(crate) fn send(&self, c: Command) -> bool {
        self.cmd.send(c).is_ok()
    }

    /// The torrent's info-hash.
    pub fn info_hash(&self) -> InfoHash {
        self.shared.info_hash
    }

    /// The info dictionary, once known.
    pub fn info(&self) -> Option<Arc<Info>> {
        self.shared.ready.get().map(|r| r.info.clone())
    }

    /// The verified pieces, once the metadata is known.
    pub fn verified(&self) -> Option<Bitfield> {
        self.shared.ready.get().map(|r| r.have.to_bitfield())
    }

    /// Events from now on; the first call on any copy of the handle gets every event since the
    /// torrent was added (so subscribing right after `add_*` misses none, not even an early
    /// [`TorrentEvent::Metadata`] or `Done`). A receiver that falls more than 4096 events behind
    /// loses the oldest.
    pub fn events(&self) -> broadcast::Receiver<TorrentEvent> {
        let first = match self.first_events.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        first.unwrap_or_else(|| self.events.subscribe())
    }

    /// A snapshot of the statistics.
    pub async fn stats(&self) -> Result<TorrentStats, TorrentError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::Stats(tx)) {
            return Err(TorrentError::Removed);
        }
        rx.await.map_err(|_| TorrentError::Removed)
    }

    /// Connects to a peer (and keeps reconnecting to it while it is wanted).
    pub fn add_peer(&self, addr: SocketAddr) -> Result<(), TorrentError> {
        self.send(Command::AddPeer(addr))
            .then_some(())
            .ok_or(TorrentError::Removed)
    }

    /// Disconnects every peer and stops connecting until [`TorrentHandle::resume`].
    pub fn pause(&self) -> Result<(), TorrentError> {
        self.send(Command::Pause)
            .then_some(())
            .ok_or(TorrentError::Removed)
    }

    /// Connects again after [`TorrentHandle::pause`].
    pub fn resume(&self) -> Result<(), TorrentError> {
        self.send(Command::Resume)
            .then_some(())
            .ok_or(TorrentError::Removed)
    }

    /// Removes the torrent from the engine, ending its connections; with `delete_data` its
    /// files are truncated to nothing first.
    pub async fn remove(&self, delete_data: bool) -> Result<(), TorrentError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::Remove {
            delete: delete_data,
            reply: tx,
        }) {
            return Err(TorrentError::Removed);
        }
        rx.await.map_err(|_| TorrentError::Removed)
    }

    /// Sets the download priority of file `file` ([`Priority::SKIP`] skips it).
    pub async fn set_file_priority(
        &self,
        file: usize,
        priority: Priority,
    ) -> Result<(), TorrentError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::FilePriority {
            file,
            priority,
            reply: tx,
        }) {
            return Err(TorrentError::Removed);
        }
        rx.await.map_err(|_| TorrentError::Removed)?
    }

    /// Gives the torrent the bytes of piece `index` from outside the swarm (a BEP 19 web seed, a
    /// local copy). They are hashed; when they match they are written, the piece counts as
    /// verified exactly like a downloaded one (durably with [`TorrentOptions::resume`]), `have`
    /// goes to every peer, requests still out for its blocks are cancelled and
    /// [`TorrentEvent::PieceVerified`] is emitted. Returns `Ok(false)` when the hash does not
    /// match (nothing is written), `Ok(true)` when the piece is verified (also when it already
    /// was).
    ///
    /// [`TorrentOptions::resume`]: crate::TorrentOptions::resume
    pub async fn put_piece(&self, index: u32, data: Vec<u8>) -> Result<bool, TorrentError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::PutPiece {
            index,
            data,
            reply: tx,
        }) {
            return Err(TorrentError::Removed);
        }
        rx.await.map_err(|_| TorrentError::Removed)?
    }

    /// The pieces still wanted: neither verified nor skipped (by file or piece priority). A
    /// web-seed driver fetches from these. Fails with [`TorrentError::NoMetadata`] before the
    /// info dictionary is known.
    pub async fn wanted_pieces(&self) -> Result<Bitfield, TorrentError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::Wanted(tx)) {
            return Err(TorrentError::Removed);
        }
        rx.await
            .map_err(|_| TorrentError::Removed)?
            .ok_or(TorrentError::NoMetadata)
    }

    /// Waits until the info dictionary is known.
    pub async fn wait_metadata(&self) -> Result<Arc<Info>, TorrentError> {
        let mut rx = self.shared.progress.subscribe();
        loop {
            if let Some(info) = self.info() {
                return Ok(info);
            }
            self.shared.check_failed()?;
            rx.changed().await.map_err(|_| TorrentError::Removed)?;
        }
    }

    /// Waits until every piece holding bytes `offset..offset + len` is verified, making those
    /// pieces the most urgent to download meanwhile. Waits for the metadata first.
    pub async fn wait_range(&self, offset: u64, len: u64) -> Result<(), TorrentError> {
        let info = self.wait_metadata().await?;
        let g = info.geometry();
        let total = g.total_length();
        if offset.checked_add(len).is_none_or(|end| end > total) {
            return Err(TorrentError::OutOfRange { offset, len, total });
        }
        if len == 0 {
            return Ok(());
        }
        let (Some(first), Some(last)) = (g.piece_at(offset), g.piece_at(offset + len - 1)) else {
            return Err(TorrentError::OutOfRange { offset, len, total });
        };
        let mut rx = self.shared.progress.subscribe();
        let mut asked = false;
        loop {
            let ready = self.shared.ready.get().ok_or(TorrentError::NoMetadata)?;
            if (first.get()..=last.get()).all(|p| ready.have.get(p)) {
                return Ok(());
            }
            self.shared.check_failed()?;
            if !asked {
                asked = true;
                if !self.send(Command::ReadAt { offset, len }) {
                    return Err(TorrentError::Removed);
                }
            }
            rx.changed().await.map_err(|_| TorrentError::Removed)?;
        }
    }

    /// Gives back a range this caller asked for with [`Self::wait_range`] and no longer waits
    /// for (a reader or a stream went away). Each piece counts the reads that asked for it; when
    /// the last one is released the piece loses its urgency, and a piece fetched only for
    /// readers (its files are skipped) is skipped again. A `wait_range` that is never released
    /// keeps its pieces urgent until they are verified. Does nothing before the metadata.
    pub fn release_range(&self, offset: u64, len: u64) {
        let _ = self.send(Command::Release { offset, len });
    }

    /// Waits until every wanted piece is verified. Like the other waits, returns
    /// [`TorrentError::Failed`] when the torrent cannot go on.
    pub async fn wait_done(&self) -> Result<(), TorrentError> {
        let mut events = self.events.subscribe();
        let mut check = true;
        loop {
            // Statistics cost a pass over the pieces: ask only at the start and after a gap
            // in the events, not once per event.
            if check && self.stats().await?.done {
                return Ok(());
            }
            self.shared.check_failed()?;
            check = false;
            match events.recv().await {
                Ok(TorrentEvent::Done) => return Ok(()),
                Ok(TorrentEvent::Error(_)) => self.shared.check_failed()?,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => check = true,
                Err(broadcast::error::RecvError::Closed) => return Err(TorrentError::Removed),
            }
        }
    }

    /// Reads `buf.len()` bytes at `offset` of the torrent's byte stream, verified or not (use
    /// [`TorrentHandle::wait_range`] first).
    pub async fn read_range(&self, offset: u64, buf: &mut [u8]) -> Result<(), TorrentError> {
        let ready = self.shared.ready.get().ok_or(TorrentError::NoMetadata)?;
        Ok(ready.store.read_range(offset, buf).await?)
    }
}
