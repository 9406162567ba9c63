//! Piece hashing on all cores: the pieces are split into one contiguous range per thread, and
//! each thread reads and hashes its range in order, two pieces at a time ([`sha1_pair`]).
//!
//! SHA-1 comes from the `sha1` crate, which on x86/x86_64 detects the SHA extensions (SHA-NI)
//! at run time and uses them when the CPU has them: in sha1 0.10.7 (the version locked here)
//! `compress/x86.rs` checks `cpufeatures::new!(shani_cpuid, "sha", "sse2", "ssse3", "sse4.1")`
//! on every call; no cargo feature is needed (only `force-soft` would turn it off). The bench
//! prints whether the CPU has the extensions, and a profile shows `compress::x86::digest_blocks`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use sha1::{Digest, Sha1};

use crate::builder::BuildError;
use crate::geometry::{FileSpan, Geometry, PieceIndex};
use crate::sha1_pair::sha1_pair;

/// Where the bytes of each file come from.
pub(crate) enum Source<'a> {
    /// In memory, one slice per file.
    Memory(&'a [&'a [u8]]),
    /// On disk, one path per file, read with per-thread handles.
    Disk(&'a [PathBuf]),
}

/// SHA-1 of every piece of `geometry`, in order, using up to `threads` threads.
pub(crate) fn hash_pieces(
    geometry: &Geometry,
    source: &Source<'_>,
    threads: usize,
    progress: Option<&AtomicU64>,
) -> Result<Vec<[u8; 20]>, BuildError> {
    let count = geometry.piece_count() as usize;
    let threads = threads.clamp(1, count.max(1));
    let per = count.div_ceil(threads);
    let ranges: Vec<(u32, u32)> = (0..threads)
        .map(|t| {
            (
                (t * per).min(count) as u32,
                ((t + 1) * per).min(count) as u32,
            )
        })
        .filter(|(a, b)| a < b)
        .collect();
    let results: Vec<Result<Vec<[u8; 20]>, BuildError>> = if ranges.len() <= 1 {
        ranges
            .iter()
            .map(|&(a, b)| hash_range(geometry, source, a, b, progress))
            .collect()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = ranges
                .iter()
                .map(|&(a, b)| s.spawn(move || hash_range(geometry, source, a, b, progress)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or(Err(BuildError::Internal("hashing thread panicked")))
                })
                .collect()
        })
    };
    let mut out = Vec::with_capacity(count);
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// Hashes pieces `start..end`, two at a time ([`sha1_pair`]).
fn hash_range(
    geometry: &Geometry,
    source: &Source<'_>,
    start: u32,
    end: u32,
    progress: Option<&AtomicU64>,
) -> Result<Vec<[u8; 20]>, BuildError> {
    let mut reader = Reader::default();
    let (mut buf_a, mut buf_b) = (Vec::new(), Vec::new());
    let mut out = Vec::with_capacity((end - start) as usize);
    let mut index = start;
    while index < end {
        let Some(a) = geometry.piece(index) else {
            break;
        };
        let bytes_a = piece_bytes(geometry, source, a, &mut reader, &mut buf_a)?;
        let mut len = u64::from(geometry.piece_len(a));
        match geometry.piece(index + 1).filter(|_| index + 1 < end) {
            Some(b) => {
                let bytes_b = piece_bytes(geometry, source, b, &mut reader, &mut buf_b)?;
                let (da, db) = sha1_pair(bytes_a, bytes_b);
                out.extend([da, db]);
                len += u64::from(geometry.piece_len(b));
                index += 2;
            }
            None => {
                out.push(Sha1::digest(bytes_a).into());
                index += 1;
            }
        }
        if let Some(p) = progress {
            p.fetch_add(len, Ordering::Relaxed);
        }
    }
    Ok(out)
}

/// The bytes of `piece`: in place when they lie in one in-memory file, else assembled in `buf`.
fn piece_bytes<'x>(
    geometry: &Geometry,
    source: &'x Source<'_>,
    piece: PieceIndex,
    reader: &mut Reader,
    buf: &'x mut Vec<u8>,
) -> Result<&'x [u8], BuildError> {
    let len = geometry.piece_len(piece) as usize;
    // Zero-filled only when it grows: the same buffer serves every piece of the range.
    buf.resize(len, 0);
    let mut at = 0;
    for span in geometry.spans(piece, 0, len as u32) {
        let dst = &mut buf[at..at + span.len as usize];
        match source {
            Source::Memory(files) => {
                let data: &'x [u8] = files.get(span.file_index).copied().unwrap_or_default();
                let from = span.file_offset as usize;
                let bytes = data
                    .get(from..from + dst.len())
                    .ok_or(BuildError::Internal("span outside an in-memory file"))?;
                if bytes.len() == len {
                    return Ok(bytes);
                }
                dst.copy_from_slice(bytes);
            }
            Source::Disk(paths) => reader.read(paths, &span, dst)?,
        }
        at += dst.len();
    }
    Ok(&buf[..len])
}

/// One thread's open file.
#[derive(Default)]
struct Reader {
    open: Option<(usize, File, u64)>,
}

impl Reader {
    /// Reads `span` of its file into `dst` (`span.len` bytes).
    fn read(
        &mut self,
        paths: &[PathBuf],
        span: &FileSpan,
        dst: &mut [u8],
    ) -> Result<(), BuildError> {
        let path = paths
            .get(span.file_index)
            .ok_or(BuildError::Internal("span of an unknown file"))?;
        let io = |source| BuildError::Io {
            path: path.clone(),
            source: std::sync::Arc::new(source),
        };
        if self.open.as_ref().is_none_or(|o| o.0 != span.file_index) {
            self.open = Some((span.file_index, File::open(path).map_err(io)?, 0));
        }
        let Some((_, file, pos)) = self.open.as_mut() else {
            return Err(BuildError::Internal("file handle missing"));
        };
        if *pos != span.file_offset {
            file.seek(SeekFrom::Start(span.file_offset)).map_err(io)?;
        }
        file.read_exact(dst).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                BuildError::FileChanged { path: path.clone() }
            } else {
                io(e)
            }
        })?;
        *pos = span.file_offset + span.len as u64;
        Ok(())
    }
}
