//! Metadata blobs under `<root>/.swarmfs/`, replaced atomically and durably.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Dir, Mode, OFlags, fsync, openat, renameat, unlinkat};
use rustix::io::Errno;
use swarmfs_storage::{MetaName, StorageError};

use crate::META_DIR;
use crate::walk::{open_dir, open_root};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Reads blob `name`, refusing more than `max_len` bytes.
pub(crate) fn load(
    root: &Path,
    name: &MetaName,
    max_len: usize,
) -> Result<Option<Vec<u8>>, StorageError> {
    let shown = format!("{META_DIR}/{name}");
    let Some(root_fd) = open_root(root, false)? else {
        return Ok(None);
    };
    let Some(dir) = open_dir(&root_fd, META_DIR, false, &shown)? else {
        return Ok(None);
    };
    remove_stale_temporaries(&dir, name);
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match openat(&dir, name.as_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => {
            return Err(StorageError::PathRefused {
                path: shown,
                reason: "the file is a symlink",
            });
        }
        Err(e) => return Err(StorageError::io(&shown, e.into())),
    };
    let mut file = File::from(fd);
    let len = file
        .metadata()
        .map_err(|e| StorageError::io(&shown, e))?
        .len();
    if len > max_len as u64 {
        return Err(StorageError::MetaTooLarge {
            name: name.to_string(),
            len,
            max: max_len,
        });
    }
    let mut out = Vec::with_capacity(len as usize);
    (&mut file)
        .take(max_len as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| StorageError::io(&shown, e))?;
    if out.len() > max_len {
        return Err(StorageError::MetaTooLarge {
            name: name.to_string(),
            len: out.len() as u64,
            max: max_len,
        });
    }
    Ok(Some(out))
}

/// Replaces blob `name`: write a temporary file, fsync it, rename it over the old one, fsync
/// the directory. A crash leaves either the old or the new blob.
pub(crate) fn store(root: &Path, name: &MetaName, data: &[u8]) -> Result<(), StorageError> {
    let shown = format!("{META_DIR}/{name}");
    let root_fd = open_root(root, true)?
        .ok_or_else(|| StorageError::io(root.display(), std::io::ErrorKind::NotFound.into()))?;
    let dir = open_dir(&root_fd, META_DIR, true, &shown)?
        .ok_or_else(|| StorageError::io(&shown, std::io::ErrorKind::NotFound.into()))?;
    let tmp = format!(
        "{name}.tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = openat(&dir, tmp.as_str(), flags, Mode::from_raw_mode(0o644))
        .map_err(|e| StorageError::io(&shown, e.into()))?;
    let mut file = File::from(fd);
    let written = file.write_all(data).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        return Err(StorageError::io(&shown, e));
    }
    if let Err(e) = renameat(&dir, tmp.as_str(), &dir, name.as_str()) {
        let _ = unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        return Err(StorageError::io(&shown, e.into()));
    }
    fsync(&dir).map_err(|e| StorageError::io(&shown, e.into()))
}

/// Removes `<name>.tmp-*` files a crash left between creating and renaming them (best effort:
/// a store that loads its blob is the only writer of that name).
fn remove_stale_temporaries(dir: &OwnedFd, name: &MetaName) {
    let prefix = format!("{name}.tmp-");
    let Ok(entries) = Dir::read_from(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_bytes();
        if file.starts_with(prefix.as_bytes()) {
            let _ = unlinkat(dir, entry.file_name(), AtFlags::empty());
        }
    }
}
