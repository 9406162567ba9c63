//! Response bodies: a whole buffer, or a byte range streamed from an archive file.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use swarmfs::{ArchiveFile, MAX_CHUNK};
use swarmfs_engine::TorrentHandle;
use tokio::io::{AsyncRead, ReadBuf};

/// How far ahead of what a response has sent its torrent's pieces are asked for, on top of
/// the archive reader's own readahead ([`swarmfs::READAHEAD`]): a long response keeps this
/// many bytes of requests in flight, so the swarm is not idle while one piece is verified.
pub(crate) const WINDOW: u64 = 32 * 1024 * 1024;

/// Asks a torrent for the bytes ahead of a response, [`WINDOW`] at most, in steps of half a
/// window (not before the first frame: the first byte comes first).
#[derive(Debug)]
pub(crate) struct Ahead {
    handle: TorrentHandle,
    /// Torrent offset of the file's first byte.
    file_start: u64,
    /// File offset of the next byte to send.
    pos: u64,
    /// File offset up to which pieces were asked for.
    asked: u64,
    /// File offset where the response ends.
    end: u64,
    /// Every torrent range asked for, released when the response ends.
    asks: Vec<(u64, u64)>,
}

impl Ahead {
    /// For a response of file bytes `start..end`; `file_start` is where the file begins in
    /// the torrent's byte stream.
    pub(crate) fn new(handle: TorrentHandle, file_start: u64, start: u64, end: u64) -> Self {
        Self {
            handle,
            file_start,
            pos: start,
            asked: start,
            end,
            asks: Vec::new(),
        }
    }

    /// `n` more bytes were sent; asks for the next half window when the asked part runs low.
    fn advance(&mut self, n: u64, cx: &mut Context<'_>) {
        self.pos += n;
        let target = self.pos.saturating_add(WINDOW).min(self.end);
        if self.asked >= target || self.asked - self.pos.min(self.asked) > WINDOW / 2 {
            return;
        }
        let from = self.asked.max(self.pos);
        // The first poll sends the request to the engine (pieces get a deadline); the
        // waiting itself is left to the archive reader, so the future is dropped at once.
        let mut ask = Box::pin(
            self.handle
                .wait_range(self.file_start + from, target - from),
        );
        let _ = ask.as_mut().poll(cx);
        self.asks.push((self.file_start + from, target - from));
        self.asked = target;
    }
}

impl Drop for Ahead {
    /// The response ended (sent, or the client went away): what it asked for loses its
    /// urgency, so on an on-demand torrent pieces past what was sent are not fetched for nobody
    /// (pieces another reader waits for keep theirs).
    fn drop(&mut self) {
        for &(offset, len) in &self.asks {
            self.handle.release_range(offset, len);
        }
    }
}

/// The body of every response.
#[derive(Debug)]
pub(crate) enum Body {
    /// A buffer sent at once (index pages, errors); `None` once sent.
    Full(Option<Bytes>),
    /// `remaining` bytes of `file`, from its current position, read as they are polled: hyper
    /// polls the next frame only once the previous one is written, so at most one chunk
    /// ([`MAX_CHUNK`]) per response is in memory and a slow client slows the reads down.
    File {
        /// The open file, positioned at the range start.
        file: Box<ArchiveFile>,
        /// Bytes still to send.
        remaining: u64,
        /// Requests ahead of the reader (a torrent's file; `None` for a draft).
        ahead: Option<Box<Ahead>>,
    },
}

impl Body {
    pub(crate) fn full(data: impl Into<Bytes>) -> Self {
        Self::Full(Some(data.into()))
    }

    pub(crate) fn empty() -> Self {
        Self::Full(None)
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Body::File {
                file,
                remaining,
                ahead,
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = usize::try_from(*remaining)
                    .unwrap_or(MAX_CHUNK)
                    .min(MAX_CHUNK);
                let mut buf = BytesMut::zeroed(want);
                let mut read = ReadBuf::new(&mut buf);
                match Pin::new(file.as_mut()).poll_read(cx, &mut read) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(())) => {
                        let n = read.filled().len();
                        if n == 0 {
                            return Poll::Ready(Some(Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "archive file ended before the range did",
                            ))));
                        }
                        *remaining -= n as u64;
                        if let Some(a) = ahead {
                            a.advance(n as u64, cx);
                        }
                        buf.truncate(n);
                        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(d) => d.is_none(),
            Body::File { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |d| d.len() as u64)),
            Body::File { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}
