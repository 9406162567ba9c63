//! [`ArchiveFile`]: one file of an archive as a tokio `AsyncRead + AsyncSeek`, fetched on demand.
//!
//! A read of a file that comes from the swarm waits (through the engine's `wait_range`, which
//! makes those pieces the most urgent) for the pieces under the read and no more; the next
//! [`READAHEAD`] bytes are asked for at the same time without being waited on. At most one
//! chunk of [`MAX_CHUNK`] bytes is buffered at a time: a file is never held whole in memory.

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
/// Bytes past a read asked for ahead of time.
pub const READAHEAD: u64 = 4 * 1024 * 1024;

type ChunkFuture = Pin<Box<dyn Future<Output = io::Result<Vec<u8>>> + Send>>;
type AheadFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where a file's bytes come from.
#[derive(Clone)]
pub(crate) enum Source {
    /// A draft's blob.
    Blob(Arc<dyn RandomAccess>),
    /// A span of a torrent's byte stream starting at `offset`.
    Torrent { handle: TorrentHandle, offset: u64 },
}

/// An open file of an [`Archive`](crate::Archive): `AsyncRead + AsyncSeek`.
pub struct ArchiveFile {
    source: Source,
    len: u64,
    pos: u64,
    reading: Option<ChunkFuture>,
    ahead: Option<AheadFuture>,
    /// Where the last readahead was asked from.
    ahead_from: Option<u64>,
}

impl ArchiveFile {
    pub(crate) fn new(source: Source, len: u64) -> Self {
        Self {
            source,
            len,
            pos: 0,
            reading: None,
            ahead: None,
            ahead_from: None,
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
        let len = READAHEAD.min(self.len.saturating_sub(from));
        let stale = self
            .ahead_from
            .is_none_or(|f| from < f || from >= f + READAHEAD / 2);
        if len > 0 && stale {
            let (h, start) = (handle.clone(), offset + from);
            self.ahead = Some(Box::pin(async move {
                let _ = h.wait_range(start, len).await;
            }));
            self.ahead_from = Some(from);
        }
        // Polling once sends the request; later polls only notice it is done.
        if let Some(f) = self.ahead.as_mut()
            && f.as_mut().poll(cx).is_ready()
        {
            self.ahead = None;
        }
    }
}

async fn read_chunk(source: Source, pos: u64, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    match source {
        Source::Blob(file) => file
            .read_at(pos, &mut buf)
            .await
            .map_err(io::Error::other)?,
        Source::Torrent { handle, offset } => {
            handle
                .wait_range(offset + pos, n as u64)
                .await
                .map_err(torrent_io)?;
            handle
                .read_range(offset + pos, &mut buf)
                .await
                .map_err(torrent_io)?;
        }
    }
    Ok(buf)
}

fn torrent_io(e: TorrentError) -> io::Error {
    let kind = match e {
        TorrentError::Removed => io::ErrorKind::BrokenPipe,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl AsyncRead for ArchiveFile {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.reading.is_none() {
            let left = this.len.saturating_sub(this.pos);
            let n = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(buf.remaining())
                .min(MAX_CHUNK);
            if n == 0 {
                return Poll::Ready(Ok(()));
            }
            this.reading = Some(Box::pin(read_chunk(this.source.clone(), this.pos, n)));
        }
        this.read_ahead(cx);
        let Some(reading) = this.reading.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let chunk = match reading.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        this.reading = None;
        let chunk = chunk?;
        // The chunk was sized to what `buf` had room for when it was started; a caller may
        // offer a smaller buffer on a later poll, and the rest is read again next time.
        let take = chunk.len().min(buf.remaining());
        buf.put_slice(&chunk[..take]);
        this.pos += take as u64;
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
