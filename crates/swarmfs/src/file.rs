//! [`ArchiveFile`]: one file of an archive as a tokio `AsyncRead + AsyncSeek`, fetched on demand.
//!
//! A read of a file that comes from the swarm waits (through the engine's `wait_range`, which
//! makes those pieces the most urgent) for the pieces under the read and no more; the next
//! [`READAHEAD`] bytes are asked for at the same time without being waited on, a window that
//! doubles up to [`MAX_READAHEAD`] while the file is read sequentially. Once a readahead came
//! back, reads inside it go straight from storage into the caller's buffer. At most one chunk
//! of [`MAX_CHUNK`] bytes is buffered at a time: a file is never held whole in memory.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use swarmfs_engine::{TorrentError, TorrentHandle};
use swarmfs_storage::RandomAccess;
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};

/// Largest read done at once.
pub const MAX_CHUNK: usize = 256 * 1024;
/// Bytes past a read asked for ahead of time, right after an open or a seek.
pub const READAHEAD: u64 = 4 * 1024 * 1024;
/// The most the readahead grows to while a file is read sequentially (it doubles each time the
/// reader moved half a window on).
pub const MAX_READAHEAD: u64 = 64 * 1024 * 1024;

/// A chunk read into the file's own buffer: the buffer (handed back for reuse) and the result.
type ChunkFuture = Pin<Box<dyn Future<Output = (Vec<u8>, io::Result<()>)> + Send>>;
/// A readahead wait; `Ok` once its pieces are verified.
type AheadFuture = Pin<Box<dyn Future<Output = Result<(), TorrentError>> + Send>>;

/// Where a file's bytes come from.
#[derive(Clone)]
pub(crate) enum Source {
    /// A draft's blob.
    Blob(Arc<dyn RandomAccess>),
    /// A span of a torrent's byte stream starting at `offset`.
    Torrent { handle: TorrentHandle, offset: u64 },
}

/// An open file of an [`Archive`](crate::Archive): `AsyncRead + AsyncSeek`.
///
/// Reads of a range known to be verified (the readahead came back) go straight from the
/// storage into the caller's buffer; others wait for their pieces and go through one reused
/// buffer of at most [`MAX_CHUNK`] bytes.
pub struct ArchiveFile {
    source: Source,
    len: u64,
    pos: u64,
    /// A chunk being read into `buf` at `pending_at`, `pending_len` bytes.
    reading: Option<ChunkFuture>,
    pending_at: u64,
    pending_len: usize,
    /// The reused buffer (moved into `reading` while a read runs).
    buf: Vec<u8>,
    /// `buf[..buf_len]` holds the file's bytes from `buf_at`.
    buf_at: u64,
    buf_len: usize,
    /// File bytes before this offset are known verified (pieces never become unverified).
    verified_to: u64,
    /// Whether the storage answered a direct read at once; after the first time it did not,
    /// reads go through the buffer only.
    direct: bool,
    ahead: Option<AheadFuture>,
    /// Where the last readahead was asked from, and its end.
    ahead_from: Option<u64>,
    ahead_end: u64,
    /// The current readahead window.
    window: u64,
    /// Torrent ranges the readahead asked for, released when the file is dropped (the oldest
    /// beyond [`MAX_HELD_ASKS`] earlier) so that pieces nobody reads lose their urgency.
    asks: VecDeque<(u64, u64)>,
}

/// How many readahead asks a file holds before releasing the oldest.
const MAX_HELD_ASKS: usize = 32;

impl ArchiveFile {
    pub(crate) fn new(source: Source, len: u64) -> Self {
        Self {
            source,
            len,
            pos: 0,
            reading: None,
            pending_at: 0,
            pending_len: 0,
            buf: Vec::new(),
            buf_at: 0,
            buf_len: 0,
            verified_to: 0,
            direct: true,
            ahead: None,
            ahead_from: None,
            ahead_end: 0,
            window: READAHEAD,
            asks: VecDeque::new(),
        }
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn source(&self) -> &Source {
        &self.source
    }

    /// The current position.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Asks for the bytes after `pos` without waiting for them (a torrent only).
    fn read_ahead(&mut self, cx: &mut Context<'_>) {
        let Source::Torrent { handle, offset } = &self.source else {
            return;
        };
        let from = self.pos;
        let stale = match self.ahead_from {
            None => true,
            Some(f) if from < f || from >= f + self.window => {
                // Not a sequential reader: start small again.
                self.window = READAHEAD;
                true
            }
            Some(f) if from >= f + self.window / 2 => {
                self.window = (self.window * 2).min(MAX_READAHEAD);
                true
            }
            Some(_) => false,
        };
        let len = self.window.min(self.len.saturating_sub(from));
        if len > 0 && stale {
            let (h, start) = (handle.clone(), offset + from);
            self.ahead = Some(Box::pin(async move { h.wait_range(start, len).await }));
            self.ahead_from = Some(from);
            self.ahead_end = from + len;
            self.asks.push_back((start, len));
            if self.asks.len() > MAX_HELD_ASKS
                && let Some((o, l)) = self.asks.pop_front()
            {
                handle.release_range(o, l);
            }
        }
        // Polling once sends the request; later polls only notice it is done.
        if let Some(f) = self.ahead.as_mut()
            && let Poll::Ready(r) = f.as_mut().poll(cx)
        {
            self.ahead = None;
            if r.is_ok() {
                self.verified_to = self.verified_to.max(self.ahead_end);
            }
        }
    }

    /// Copies what the buffer holds at `pos` into `out`; whether it held anything.
    fn take_buffered(&mut self, out: &mut ReadBuf<'_>) -> bool {
        let held = self.buf_at..self.buf_at + self.buf_len as u64;
        if !held.contains(&self.pos) {
            return false;
        }
        let at = (self.pos - self.buf_at) as usize;
        let take = (self.buf_len - at).min(out.remaining());
        out.put_slice(&self.buf[at..at + take]);
        self.pos += take as u64;
        true
    }

    /// Reads `n` bytes at `pos` straight into `out` when they are known verified and the
    /// storage answers at once.
    fn direct_read(&mut self, cx: &mut Context<'_>, out: &mut ReadBuf<'_>, n: usize) -> bool {
        let Source::Torrent { handle, offset } = &self.source else {
            return false;
        };
        if !self.direct || self.pos + n as u64 > self.verified_to {
            return false;
        }
        let polled = {
            let dst = &mut out.initialize_unfilled()[..n];
            let mut read = std::pin::pin!(handle.read_range(offset + self.pos, dst));
            // Dropping it while pending is fine: the storage's future owns its buffers, so
            // nothing is written into `dst` afterwards.
            read.as_mut().poll(cx)
        };
        match polled {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return false,
            Poll::Pending => {
                self.direct = false;
                return false;
            }
        }
        out.advance(n);
        self.pos += n as u64;
        true
    }
}

async fn read_chunk(
    source: Source,
    pos: u64,
    n: usize,
    mut buf: Vec<u8>,
) -> (Vec<u8>, io::Result<()>) {
    if buf.len() < n {
        buf.resize(n, 0);
    }
    let r = match source {
        Source::Blob(file) => file
            .read_at(pos, &mut buf[..n])
            .await
            .map_err(io::Error::other),
        Source::Torrent { handle, offset } => {
            match handle.wait_range(offset + pos, n as u64).await {
                Ok(()) => handle
                    .read_range(offset + pos, &mut buf[..n])
                    .await
                    .map_err(torrent_io),
                Err(e) => Err(torrent_io(e)),
            }
        }
    };
    (buf, r)
}

fn torrent_io(e: TorrentError) -> io::Error {
    let kind = match e {
        TorrentError::Removed => io::ErrorKind::BrokenPipe,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl Drop for ArchiveFile {
    /// The pieces the readahead asked for lose their urgency (unless another reader holds
    /// them): closing a file, or a stream whose client went away, fetches nothing more for it.
    fn drop(&mut self) {
        if let Source::Torrent { handle, .. } = &self.source {
            for &(offset, len) in &self.asks {
                handle.release_range(offset, len);
            }
        }
    }
}

impl AsyncRead for ArchiveFile {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.reading.is_none() {
            if out.remaining() == 0 || this.take_buffered(out) {
                this.read_ahead(cx);
                return Poll::Ready(Ok(()));
            }
            let left = this.len.saturating_sub(this.pos);
            let n = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(out.remaining())
                .min(MAX_CHUNK);
            if n == 0 {
                return Poll::Ready(Ok(()));
            }
            if this.direct_read(cx, out, n) {
                this.read_ahead(cx);
                return Poll::Ready(Ok(()));
            }
            let buf = std::mem::take(&mut this.buf);
            this.buf_len = 0;
            this.pending_at = this.pos;
            this.pending_len = n;
            this.reading = Some(Box::pin(read_chunk(this.source.clone(), this.pos, n, buf)));
        }
        // The read under the cursor is asked for before the readahead (it is the more urgent).
        let polled = this.reading.as_mut().map(|r| r.as_mut().poll(cx));
        this.read_ahead(cx);
        let (buf, result) = match polled {
            Some(Poll::Ready(done)) => done,
            Some(Poll::Pending) => return Poll::Pending,
            None => return Poll::Ready(Ok(())),
        };
        this.reading = None;
        this.buf = buf;
        result?;
        // The chunk was sized to what `out` had room for when it was started.
        let n = this.pending_len;
        this.buf_at = this.pending_at;
        this.buf_len = n;
        if matches!(this.source, Source::Torrent { .. }) {
            this.verified_to = this.verified_to.max(this.pending_at + n as u64);
        }
        // A caller may offer a smaller buffer on a later poll: the rest stays buffered.
        this.take_buffered(out);
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for ArchiveFile {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        let target = match position {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => this.len.checked_add_signed(d),
            SeekFrom::Current(d) => this.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )
        })?;
        this.reading = None;
        this.pos = target;
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.pos))
    }
}

impl fmt::Debug for ArchiveFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArchiveFile")
            .field("len", &self.len)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}
