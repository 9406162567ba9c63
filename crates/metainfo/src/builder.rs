//! Building a torrent from files on disk or in memory.
//!
//! The output is a plain v1 torrent, byte-for-byte what other tools (libtorrent with `v1_only`,
//! mktorrent) write for the same files in the same order with the same piece length: files are
//! sorted component by component by their path bytes, no pad files and no attributes are added.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::geometry::{BLOCK_SIZE, Geometry, GeometryError};
use crate::hashing::{Source, hash_pieces};
use crate::info::{Info, InfoError};
use crate::path::{MAX_PATH_DEPTH, PathError, SafePath, check_unique};
use crate::torrent::Torrent;

/// Smallest piece length [`auto_piece_length`] picks (16 KiB).
pub const MIN_AUTO_PIECE_LENGTH: u32 = BLOCK_SIZE;
/// Largest piece length [`auto_piece_length`] picks (16 MiB).
pub const MAX_AUTO_PIECE_LENGTH: u32 = 16 << 20;
/// [`auto_piece_length`] picks the smallest piece length giving at most this many pieces.
pub const TARGET_MAX_PIECES: u64 = 2000;

/// A piece length for `total` bytes: the smallest power of two that makes at most 2000 pieces
/// (so between 1000 and 2000 unless clamped), clamped to 16 KiB..=16 MiB.
pub fn auto_piece_length(total: u64) -> u32 {
    let mut p = MIN_AUTO_PIECE_LENGTH;
    while p < MAX_AUTO_PIECE_LENGTH && total.div_ceil(u64::from(p)) > TARGET_MAX_PIECES {
        p *= 2;
    }
    p
}

/// Why a torrent could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Reading a file or directory failed.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A file or directory name is not UTF-8.
    #[error("{path}: name is not utf-8", path = path.display())]
    NotUtf8 {
        /// The file or directory.
        path: PathBuf,
    },
    /// A file shrank while it was being hashed.
    #[error("{path}: file changed while hashing", path = path.display())]
    FileChanged {
        /// The file.
        path: PathBuf,
    },
    /// A name or path is not a safe torrent path, or two paths collide.
    #[error("{0}")]
    Path(#[source] PathError),
    /// There are no files, or they hold zero bytes.
    #[error("nothing to put in the torrent")]
    Empty,
    /// The piece length is invalid or the files are too large.
    #[error("{0}")]
    Geometry(#[source] GeometryError),
    /// The generated info dictionary did not parse (a bug).
    #[error("generated info dictionary is invalid: {0}")]
    Info(#[source] InfoError),
    /// An invariant broke (a bug).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// Options for building a torrent; the data source is given to a `build_*` method.
#[derive(Clone, Debug, Default)]
pub struct TorrentBuilder {
    piece_length: Option<u32>,
    private: bool,
    threads: Option<usize>,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    announce: Option<String>,
    progress: Option<Arc<AtomicU64>>,
}

impl TorrentBuilder {
    /// Defaults: automatic piece length, not private, all cores, no optional keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fixed piece length (a multiple of 16 KiB up to 64 MiB; powers of two are usual) instead of [`auto_piece_length`].
    pub fn piece_length(&mut self, piece_length: u32) -> &mut Self {
        self.piece_length = Some(piece_length);
        self
    }

    /// Sets `private` (BEP 27).
    pub fn private(&mut self, private: bool) -> &mut Self {
        self.private = private;
        self
    }

    /// Number of hashing threads (default: the available parallelism).
    pub fn threads(&mut self, threads: usize) -> &mut Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// Adds a top-level `comment`.
    pub fn comment(&mut self, comment: &str) -> &mut Self {
        self.comment = Some(comment.to_owned());
        self
    }

    /// Adds a top-level `created by`.
    pub fn created_by(&mut self, created_by: &str) -> &mut Self {
        self.created_by = Some(created_by.to_owned());
        self
    }

    /// Adds a top-level `creation date` (seconds since the Unix epoch).
    pub fn creation_date(&mut self, secs: i64) -> &mut Self {
        self.creation_date = Some(secs);
        self
    }

    /// Adds a top-level `announce` URL.
    pub fn announce(&mut self, url: &str) -> &mut Self {
        self.announce = Some(url.to_owned());
        self
    }

    /// A counter the hashing threads add each hashed piece's length to, for a progress display
    /// read from another thread.
    pub fn progress(&mut self, hashed_bytes: Arc<AtomicU64>) -> &mut Self {
        self.progress = Some(hashed_bytes);
        self
    }

    /// Builds from a file (a single-file torrent) or a directory (a multi-file torrent named
    /// after the directory, with every regular file below it; symlinks to files are followed,
    /// symlinks to directories are skipped).
    pub fn build_path(&self, path: &Path) -> Result<Torrent, BuildError> {
        self.build_plan(&PathPlan::new(path)?)
    }

    /// Builds from the files a [`PathPlan`] found.
    pub fn build_plan(&self, plan: &PathPlan) -> Result<Torrent, BuildError> {
        self.finish(
            &plan.name,
            &plan.files,
            plan.single_file,
            &Source::Disk(&plan.paths),
        )
    }

    /// Builds a multi-file torrent named `name` from in-memory files, sorted by path.
    pub fn build_entries<D: AsRef<[u8]>>(
        &self,
        name: &str,
        entries: &[(SafePath, D)],
    ) -> Result<Torrent, BuildError> {
        let name = SafePath::from_components([name]).map_err(BuildError::Path)?;
        let mut sorted: Vec<(&SafePath, &[u8])> =
            entries.iter().map(|(p, d)| (p, d.as_ref())).collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let files: Vec<(SafePath, u64)> = sorted
            .iter()
            .map(|(p, d)| ((*p).clone(), d.len() as u64))
            .collect();
        let data: Vec<&[u8]> = sorted.iter().map(|e| e.1).collect();
        self.finish(&name, &files, false, &Source::Memory(&data))
    }

    /// Builds a single-file torrent named `name` from bytes in memory.
    pub fn build_single(&self, name: &str, data: &[u8]) -> Result<Torrent, BuildError> {
        let name = SafePath::from_components([name]).map_err(BuildError::Path)?;
        let files = [(name.clone(), data.len() as u64)];
        self.finish(&name, &files, true, &Source::Memory(&[data]))
    }

    fn finish(
        &self,
        name: &SafePath,
        files: &[(SafePath, u64)],
        single_file: bool,
        source: &Source<'_>,
    ) -> Result<Torrent, BuildError> {
        check_unique(files.iter().map(|f| (&f.0, false))).map_err(BuildError::Path)?;
        let lengths: Vec<u64> = files.iter().map(|f| f.1).collect();
        let total: u64 = lengths.iter().fold(0u64, |a, &l| a.saturating_add(l));
        if total == 0 {
            return Err(BuildError::Empty);
        }
        let piece_length = self
            .piece_length
            .unwrap_or_else(|| auto_piece_length(total));
        let geometry =
            Geometry::new(u64::from(piece_length), &lengths).map_err(BuildError::Geometry)?;
        let threads = self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let pieces = hash_pieces(&geometry, source, threads, self.progress.as_deref())?;
        let info = Info::from_parts(
            name.as_str(),
            piece_length,
            &pieces,
            files,
            single_file,
            self.private,
        )
        .map_err(BuildError::Info)?;
        let mut torrent = Torrent::new(info);
        torrent.set_announce(self.announce.as_deref());
        torrent.set_comment(self.comment.as_deref());
        torrent.set_created_by(self.created_by.as_deref());
        torrent.set_creation_date(self.creation_date);
        Ok(torrent)
    }
}

/// The files [`TorrentBuilder::build_path`] would hash, found before any byte is read, so that
/// a caller knows the total (for progress) first.
#[derive(Clone, Debug)]
pub struct PathPlan {
    name: SafePath,
    files: Vec<(SafePath, u64)>,
    paths: Vec<PathBuf>,
    single_file: bool,
}

impl PathPlan {
    /// A file (a single-file torrent) or a directory (a multi-file torrent named after the
    /// directory, with every regular file below it in path order; symlinks to files are
    /// followed, symlinks to directories are skipped).
    pub fn new(path: &Path) -> Result<Self, BuildError> {
        let meta = fs::metadata(path).map_err(|e| io_error(path, e))?;
        let name = file_name(path)?;
        if meta.is_file() {
            return Ok(Self {
                files: vec![(name.clone(), meta.len())],
                name,
                paths: vec![path.to_path_buf()],
                single_file: true,
            });
        }
        let mut found = Vec::new();
        walk(path, &mut Vec::new(), &mut found)?;
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self {
            name,
            files: found.iter().map(|f| (f.0.clone(), f.2)).collect(),
            paths: found.into_iter().map(|f| f.1).collect(),
            single_file: false,
        })
    }

    /// The bytes to hash: every file's length added up.
    pub fn total_length(&self) -> u64 {
        self.files.iter().fold(0u64, |a, f| a.saturating_add(f.1))
    }
}

fn io_error(path: &Path, e: std::io::Error) -> BuildError {
    BuildError::Io {
        path: path.to_path_buf(),
        source: Arc::new(e),
    }
}

fn file_name(path: &Path) -> Result<SafePath, BuildError> {
    // The name as given (a symlink keeps its own name); `.` and `..` have none, so they take the
    // name of the directory they resolve to.
    let full;
    let name = match path.file_name() {
        Some(name) => name,
        None => {
            full = fs::canonicalize(path).map_err(|e| io_error(path, e))?;
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
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
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
            // Symlinks to files are followed (as libtorrent's add_files does); symlinks to
            // directories are not, so a link cycle cannot make the walk explode.
            let meta = fs::metadata(&path).map_err(|e| io_error(&path, e))?;
            if meta.is_file() {
                let rel = SafePath::from_components(prefix.iter()).map_err(BuildError::Path)?;
                out.push((rel, path, meta.len()));
            }
        }
        prefix.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
