//! Piece hashing on all cores: the pieces are split into one contiguous range per thread, and
//! each thread reads and hashes its range in order.
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
use crate::geometry::{FileSpan, Geometry};

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

/// Hashes pieces `start..end`.
fn hash_range(
    geometry: &Geometry,
    source: &Source<'_>,
    start: u32,
    end: u32,
    progress: Option<&AtomicU64>,
) -> Result<Vec<[u8; 20]>, BuildError> {
    let mut reader = Reader::default();
    let mut out = Vec::with_capacity((end - start) as usize);
    for index in start..end {
        let Some(piece) = geometry.piece(index) else {
            break;
        };
        let mut hasher = Sha1::new();
        for span in geometry.spans(piece, 0, geometry.piece_len(piece)) {
            match source {
                Source::Memory(files) => {
                    let data = files.get(span.file_index).copied().unwrap_or_default();
                    let from = span.file_offset as usize;
                    let bytes = data
                        .get(from..from + span.len as usize)
                        .ok_or(BuildError::Internal("span outside an in-memory file"))?;
                    hasher.update(bytes);
                }
                Source::Disk(paths) => {
                    hasher.update(reader.read(paths, &span)?);
                }
            }
        }
        out.push(hasher.finalize().into());
        if let Some(p) = progress {
            p.fetch_add(u64::from(geometry.piece_len(piece)), Ordering::Relaxed);
        }
    }
    Ok(out)
}

/// One thread's open file and read buffer.
#[derive(Default)]
struct Reader {
    open: Option<(usize, File, u64)>,
    buf: Vec<u8>,
}

impl Reader {
    /// Reads `span` of its file into the buffer.
    fn read(&mut self, paths: &[PathBuf], span: &FileSpan) -> Result<&[u8], BuildError> {
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
        let len = span.len as usize;
        self.buf.resize(len, 0);
        file.read_exact(&mut self.buf[..len]).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                BuildError::FileChanged { path: path.clone() }
            } else {
                io(e)
            }
        })?;
        *pos = span.file_offset + span.len as u64;
        Ok(&self.buf[..len])
    }
}
