//! Building the torrent of a seed with progress: [`SeedProgress`] reports, and the piece
//! hashing behind [`Client::seed_with_progress`](crate::Client::seed_with_progress).
//!
//! The result is byte for byte what `swarmfs_metainfo::TorrentBuilder` builds for the same
//! files (same walk, same order, same automatic piece length, same info dictionary through
//! `Info::from_parts`); it is done here because the builder reports no progress. Pieces are
//! hashed on all cores, one contiguous range per thread.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha1::{Digest, Sha1};
use swarmfs_metainfo::{
    BuildError, FileSpan, Geometry, Info, MAX_PATH_DEPTH, PathError, SafePath, auto_piece_length,
};

use crate::error::SeedError;

/// How often progress is reported while a phase runs.
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// What a seed is doing when it reports [`SeedProgress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeedPhase {
    /// Hashing the files into a torrent (reported about every 100 ms).
    Hashing,
    /// The engine checking the data against the torrent before it seeds (reported when it
    /// starts and when it ends).
    Checking,
}

/// Progress of [`Client::seed_with_progress`](crate::Client::seed_with_progress) and
/// [`Client::seed_path_with_progress`](crate::Client::seed_path_with_progress).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeedProgress {
    /// The phase.
    pub phase: SeedPhase,
    /// Bytes of the phase done so far.
    pub done_bytes: u64,
    /// Bytes the phase covers (the torrent's total length).
    pub total_bytes: u64,
}

impl SeedProgress {
    pub(crate) fn new(phase: SeedPhase, done_bytes: u64, total_bytes: u64) -> Self {
        Self {
            phase,
            done_bytes,
            total_bytes,
        }
    }
}

/// The files of a torrent to build, in torrent order, and where their bytes are.
pub(crate) struct Plan {
    name: String,
    files: Vec<(SafePath, u64)>,
    single_file: bool,
    content: Content,
}

enum Content {
    Memory(Vec<Vec<u8>>),
    Disk(Vec<PathBuf>),
}

impl Plan {
    /// A multi-file torrent named `name` of in-memory files (sorted by path, as the builder's
    /// `build_entries` does).
    pub(crate) fn entries(name: &str, mut entries: Vec<(SafePath, Vec<u8>)>) -> Self {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let files = entries.iter().map(|e| (e.0.clone(), len(&e.1))).collect();
        Self {
            name: name.to_owned(),
            files,
            single_file: false,
            content: Content::Memory(entries.into_iter().map(|e| e.1).collect()),
        }
    }

    /// A file (a single-file torrent) or a directory (a multi-file torrent named after it,
    /// every regular file below it; symlinks to files followed, to directories skipped), as the
    /// builder's `build_path` does. Blocking.
    pub(crate) fn path(path: &Path) -> Result<Self, BuildError> {
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        let name = file_name(path)?;
        if meta.is_file() {
            return Ok(Self {
                files: vec![(name.clone(), meta.len())],
                name: name.as_str().to_owned(),
                single_file: true,
                content: Content::Disk(vec![path.to_path_buf()]),
            });
        }
        let mut found = Vec::new();
        walk(path, &mut Vec::new(), &mut found)?;
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self {
            name: name.as_str().to_owned(),
            files: found.iter().map(|f| (f.0.clone(), f.2)).collect(),
            single_file: false,
            content: Content::Disk(found.into_iter().map(|f| f.1).collect()),
        })
    }

    /// The torrent's total length.
    pub(crate) fn total(&self) -> u64 {
        self.files.iter().fold(0u64, |a, f| a.saturating_add(f.1))
    }

    /// Hashes every piece on a blocking pool, calling `progress` about every 100 ms and once at
    /// the end, and returns the info dictionary.
    pub(crate) async fn build(
        self,
        progress: &mut (dyn FnMut(SeedProgress) + Send),
    ) -> Result<Info, SeedError> {
        let total = self.total();
        if total == 0 {
            return Err(SeedError::Empty);
        }
        let piece_length = auto_piece_length(total);
        let lengths: Vec<u64> = self.files.iter().map(|f| f.1).collect();
        let geometry =
            Geometry::new(u64::from(piece_length), &lengths).map_err(BuildError::Geometry)?;
        let done = Arc::new(AtomicU64::new(0));
        progress(SeedProgress::new(SeedPhase::Hashing, 0, total));
        let counter = done.clone();
        let plan = Arc::new(self);
        let hashing_plan = plan.clone();
        let mut task = tokio::task::spawn_blocking(move || {
            hash_pieces(&geometry, &hashing_plan.content, &counter)
        });
        let pieces = loop {
            tokio::select! {
                joined = &mut task => break joined.map_err(|_| SeedError::Stopped)??,
                () = tokio::time::sleep(REPORT_EVERY) => {
                    let now = done.load(Ordering::Relaxed);
                    progress(SeedProgress::new(SeedPhase::Hashing, now, total));
                }
            }
        };
        progress(SeedProgress::new(SeedPhase::Hashing, total, total));
        let info = Info::from_parts(
            &plan.name,
            piece_length,
            &pieces,
            &plan.files,
            plan.single_file,
            false,
        )
        .map_err(BuildError::Info)?;
        Ok(info)
    }
}

fn len(data: &[u8]) -> u64 {
    data.len() as u64
}

/// SHA-1 of every piece, one contiguous range of pieces per thread; `done` counts bytes hashed.
fn hash_pieces(
    geometry: &Geometry,
    content: &Content,
    done: &AtomicU64,
) -> Result<Vec<[u8; 20]>, BuildError> {
    let count = geometry.piece_count();
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, count.max(1) as usize) as u32;
    let per = count.div_ceil(threads);
    let ranges: Vec<(u32, u32)> = (0..threads)
        .map(|t| ((t * per).min(count), ((t + 1) * per).min(count)))
        .filter(|(a, b)| a < b)
        .collect();
    let results: Vec<Result<Vec<[u8; 20]>, BuildError>> = std::thread::scope(|s| {
        let handles: Vec<_> = ranges
            .iter()
            .map(|&(a, b)| s.spawn(move || hash_range(geometry, content, a, b, done)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(BuildError::Internal("hashing thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(count as usize);
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

fn hash_range(
    geometry: &Geometry,
    content: &Content,
    start: u32,
    end: u32,
    done: &AtomicU64,
) -> Result<Vec<[u8; 20]>, BuildError> {
    let mut reader = DiskReader::default();
    let mut out = Vec::with_capacity((end - start) as usize);
    for index in start..end {
        let piece = geometry
            .piece(index)
            .ok_or(BuildError::Internal("piece index out of range"))?;
        let piece_len = geometry.piece_len(piece);
        let mut hasher = Sha1::new();
        for span in geometry.spans(piece, 0, piece_len) {
            match content {
                Content::Memory(files) => {
                    let from = span.file_offset as usize;
                    let bytes = files
                        .get(span.file_index)
                        .and_then(|d| d.get(from..from + span.len as usize))
                        .ok_or(BuildError::Internal("span outside an in-memory file"))?;
                    hasher.update(bytes);
                }
                Content::Disk(paths) => hasher.update(reader.read(paths, &span)?),
            }
        }
        out.push(hasher.finalize().into());
        done.fetch_add(u64::from(piece_len), Ordering::Relaxed);
    }
    Ok(out)
}

/// One thread's open file and read buffer.
#[derive(Default)]
struct DiskReader {
    open: Option<(usize, File, u64)>,
    buf: Vec<u8>,
}

impl DiskReader {
    fn read(&mut self, paths: &[PathBuf], span: &FileSpan) -> Result<&[u8], BuildError> {
        let path = paths
            .get(span.file_index)
            .ok_or(BuildError::Internal("span of an unknown file"))?;
        if self.open.as_ref().is_none_or(|o| o.0 != span.file_index) {
            let file = File::open(path).map_err(|e| io_error(path, e))?;
            self.open = Some((span.file_index, file, 0));
        }
        let Some((_, file, pos)) = self.open.as_mut() else {
            return Err(BuildError::Internal("file handle missing"));
        };
        if *pos != span.file_offset {
            file.seek(SeekFrom::Start(span.file_offset))
                .map_err(|e| io_error(path, e))?;
        }
        let n = span.len as usize;
        self.buf.resize(n, 0);
        file.read_exact(&mut self.buf[..n]).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                BuildError::FileChanged { path: path.clone() }
            } else {
                io_error(path, e)
            }
        })?;
        *pos = span.file_offset + u64::from(span.len);
        Ok(&self.buf[..n])
    }
}

fn io_error(path: &Path, e: std::io::Error) -> BuildError {
    BuildError::Io {
        path: path.to_path_buf(),
        source: Arc::new(e),
    }
}

/// The torrent name of `path`: its own name, or for `.`/`..` the directory's.
fn file_name(path: &Path) -> Result<SafePath, BuildError> {
    let full;
    let name = match path.file_name() {
        Some(name) => name,
        None => {
            full = std::fs::canonicalize(path).map_err(|e| io_error(path, e))?;
            full.file_name().ok_or(BuildError::Path(PathError::Empty))?
        }
    };
    let name = name.to_str().ok_or_else(|| BuildError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    SafePath::from_components([name]).map_err(BuildError::Path)
}

/// Collects `(path in torrent, path on disk, length)` for every regular file below `dir`.
fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<(SafePath, PathBuf, u64)>,
) -> Result<(), BuildError> {
    if prefix.len() >= MAX_PATH_DEPTH {
        return Err(BuildError::Path(PathError::TooDeep {
            depth: prefix.len() + 1,
            max: MAX_PATH_DEPTH,
        }));
    }
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| BuildError::NotUtf8 { path: path.clone() })?;
        let file_type = entry.file_type().map_err(|e| io_error(&path, e))?;
        prefix.push(name);
        if file_type.is_dir() {
            walk(&path, prefix, out)?;
        } else {
            // Symlinks to files are followed; symlinks to directories are not (no cycles).
            let meta = std::fs::metadata(&path).map_err(|e| io_error(&path, e))?;
            if meta.is_file() {
                let rel = SafePath::from_components(prefix.iter()).map_err(BuildError::Path)?;
                out.push((rel, path, meta.len()));
            }
        }
        prefix.pop();
    }
    Ok(())
}
