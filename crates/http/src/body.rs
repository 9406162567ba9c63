//! Response bodies: a whole buffer, or a byte range streamed from an archive file.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use swarmfs::{ArchiveFile, MAX_CHUNK};
use tokio::io::{AsyncRead, ReadBuf};

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
            Body::File { file, remaining } => {
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
