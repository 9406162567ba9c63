//! A bounded least-recently-used set of open file descriptors.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use swarmfs_storage::{StorageError, StoragePath};

use crate::walk;

/// Open descriptors by path, at most `capacity` of them; evicted descriptors close once the
/// last in-flight operation using them ends.
#[derive(Debug)]
pub(crate) struct OpenFiles {
    capacity: usize,
    inner: Mutex<Lru>,
}

#[derive(Debug, Default)]
struct Lru {
    tick: u64,
    map: HashMap<StoragePath, (Arc<File>, u64)>,
}

impl OpenFiles {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Lru::default()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// The descriptor of `path`, opening (and with `create`, creating) it on a miss.
    pub(crate) fn get(
        &self,
        root: &Path,
        path: &StoragePath,
        create: bool,
    ) -> Result<Option<Arc<File>>, StorageError> {
        {
            let mut lru = self.lock();
            lru.tick += 1;
            let tick = lru.tick;
            if let Some((f, t)) = lru.map.get_mut(path) {
                *t = tick;
                return Ok(Some(f.clone()));
            }
        }
        let Some(file) = walk::open_file(root, path, create)? else {
            return Ok(None);
        };
        let mut lru = self.lock();
        lru.tick += 1;
        let tick = lru.tick;
        if let Some((f, t)) = lru.map.get_mut(path) {
            // Another caller opened it meanwhile: keep one descriptor.
            *t = tick;
            return Ok(Some(f.clone()));
        }
        while lru.map.len() >= self.capacity {
            let oldest = lru
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(p, _)| p.clone());
            match oldest {
                Some(p) => lru.map.remove(&p),
                None => break,
            };
        }
        let file = Arc::new(file);
        lru.map.insert(path.clone(), (file.clone(), tick));
        Ok(Some(file))
    }

    /// Drops the cached descriptor of `path`, if any.
    pub(crate) fn forget(&self, path: &StoragePath) {
        self.lock().map.remove(path);
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
