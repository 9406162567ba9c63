//! Walking a relative path under the root with `openat(O_NOFOLLOW)`, one component at a time.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{
    Advice, AtFlags, CWD, FileType, Mode, OFlags, fadvise, fstat, fsync, mkdirat, openat, statat,
};
use rustix::io::Errno;
use swarmfs_storage::{FileStamp, StorageError, StoragePath};

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

fn refused(path: &dyn std::fmt::Display, reason: &'static str) -> StorageError {
    StorageError::PathRefused {
        path: path.to_string(),
        reason,
    }
}

fn io(path: &dyn std::fmt::Display, e: Errno) -> StorageError {
    StorageError::io(path, e.into())
}

/// Opens the root directory (creating it when `create`); `None` when it is missing.
pub(crate) fn open_root(root: &Path, create: bool) -> Result<Option<OwnedFd>, StorageError> {
    if create {
        std::fs::create_dir_all(root).map_err(|e| StorageError::io(root.display(), e))?;
    }
    // The root itself is trusted and may be a symlink.
    match openat(
        CWD,
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) if !create => Ok(None),
        Err(e) => Err(io(&root.display(), e)),
    }
}

/// Opens directory `name` inside `dir` without following symlinks, creating it when `create`.
pub(crate) fn open_dir(
    dir: &OwnedFd,
    name: &str,
    create: bool,
    shown: &dyn std::fmt::Display,
) -> Result<Option<OwnedFd>, StorageError> {
    for _ in 0..2 {
        match openat(dir, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => return Ok(Some(fd)),
            Err(Errno::LOOP | Errno::NOTDIR) => {
                return Err(refused(shown, "a parent is a symlink or not a directory"));
            }
            Err(Errno::NOENT) if create => match mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => continue,
                Err(e) => return Err(io(shown, e)),
            },
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(io(shown, e)),
        }
    }
    Err(refused(shown, "directory keeps disappearing"))
}

/// Opens the directory that holds `path`'s file, `None` when some part is missing.
pub(crate) fn parent_dir(
    root: &Path,
    path: &StoragePath,
    create: bool,
) -> Result<Option<OwnedFd>, StorageError> {
    let Some(mut dir) = open_root(root, create)? else {
        return Ok(None);
    };
    for comp in path.parent() {
        match open_dir(&dir, comp, create, path)? {
            Some(next) => dir = next,
            None => return Ok(None),
        }
    }
    Ok(Some(dir))
}

/// Opens `path`'s regular file (read-write, or read-only where writing is not allowed and the
/// file exists); `None` when missing and not `create`.
pub(crate) fn open_file(
    root: &Path,
    path: &StoragePath,
    create: bool,
) -> Result<Option<File>, StorageError> {
    let opened = open_file_inner(root, path, create);
    if create {
        // Entries may have been added (after they exist, so that a directory fsync that read
        // the older count cannot be taken to cover them).
        CREATIONS.fetch_add(1, Ordering::AcqRel);
    }
    opened
}

fn open_file_inner(
    root: &Path,
    path: &StoragePath,
    create: bool,
) -> Result<Option<File>, StorageError> {
    let Some(dir) = parent_dir(root, path, create)? else {
        return Ok(None);
    };
    let base = OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let rw = if create {
        base | OFlags::RDWR | OFlags::CREATE
    } else {
        base | OFlags::RDWR
    };
    let fd = match openat(&dir, path.file_name(), rw, Mode::from_raw_mode(0o644)) {
        Ok(fd) => fd,
        Err(Errno::ACCESS | Errno::ROFS | Errno::PERM) if !create => {
            match openat(&dir, path.file_name(), base | OFlags::RDONLY, Mode::empty()) {
                Ok(fd) => fd,
                Err(e) => return Err(io(path, e)),
            }
        }
        Err(Errno::NOENT) if !create => return Ok(None),
        Err(Errno::LOOP) => return Err(refused(path, "the file is a symlink")),
        Err(Errno::ISDIR) => return Err(refused(path, "not a regular file")),
        Err(e) => return Err(io(path, e)),
    };
    let st = fstat(&fd).map_err(|e| io(path, e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(refused(path, "not a regular file"));
    }
    // Torrent data is mostly read in long runs (re-checks, seeding whole pieces): ask for the
    // larger read-ahead window. Advisory only, so a failure is ignored.
    let _ = fadvise(&fd, 0, None, Advice::Sequential);
    Ok(Some(File::from(fd)))
}

/// Size and modification time of `path`'s file without following symlinks.
pub(crate) fn stamp(root: &Path, path: &StoragePath) -> Result<Option<FileStamp>, StorageError> {
    let Some(dir) = parent_dir(root, path, false)? else {
        return Ok(None);
    };
    match statat(&dir, path.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => {
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                return Err(refused(path, "not a regular file"));
            }
            // The field types differ between platforms (i64 or u64): cast on all of them.
            #[allow(clippy::unnecessary_cast)]
            let modified = (st.st_mtime as u64)
                .wrapping_mul(1_000_000_000)
                .wrapping_add(st.st_mtime_nsec as u64);
            Ok(Some(FileStamp {
                len: st.st_size as u64,
                modified,
            }))
        }
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(io(path, e)),
    }
}

/// Fsyncs the root and every directory on `path`, so a newly created entry is durable.
pub(crate) fn sync_dirs(
    root: &Path,
    path: &StoragePath,
    synced: &SyncedDirs,
) -> Result<(), StorageError> {
    let Some(mut dir) = open_root(root, false)? else {
        return Ok(());
    };
    let parents = path.parent();
    for depth in 0..=parents.len() {
        if depth > 0 {
            match open_dir(&dir, &parents[depth - 1], false, path)? {
                Some(next) => dir = next,
                None => return Ok(()),
            }
        }
        let key = &parents[..depth];
        let generation = CREATIONS.load(Ordering::Acquire);
        if synced.is_current(key, generation) {
            continue;
        }
        fsync(&dir).map_err(|e| io(path, e))?;
        synced.mark(key, generation);
    }
    Ok(())
}

/// Bumped whenever this process may create a file or directory under any root: a directory
/// fsynced at an older count may have gained entries since.
static CREATIONS: AtomicU64 = AtomicU64::new(0);

/// Directories (as component prefixes under the root) fsynced since the last creation, so that
/// the files of one directory share its fsync: re-checking 100 files in one directory made 200
/// directory fsyncs before.
#[derive(Debug, Default)]
pub(crate) struct SyncedDirs(Mutex<HashMap<Vec<String>, u64>>);

impl SyncedDirs {
    fn is_current(&self, dir: &[String], generation: u64) -> bool {
        self.lock().get(dir) == Some(&generation)
    }

    fn mark(&self, dir: &[String], generation: u64) {
        self.lock().insert(dir.to_vec(), generation);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<String>, u64>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
