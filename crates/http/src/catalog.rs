//! The archives a server serves, and which of them a request path names.
//!
//! Every archive is reachable at `/<key>/<path>`, where the key is its info-hash in lowercase
//! hex (a draft, which has none, gets `draft-<n>`, its position in the list). When the server
//! serves a single archive, its files are also at `/<path>` and `/` is that archive's index;
//! with several, `/` is an index of every archive.

use swarmfs::Archive;

/// The archives of one server, in the order they were given.
#[derive(Debug)]
pub(crate) struct Catalog {
    entries: Vec<Entry>,
}

#[derive(Debug)]
pub(crate) struct Entry {
    /// First path component of the archive's files.
    pub(crate) key: String,
    pub(crate) archive: Archive,
}

/// Where a request path leads.
#[derive(Debug)]
pub(crate) enum Route<'a> {
    /// `/` of a server with several archives (or none): the index of all of them.
    Root,
    /// A path inside one archive.
    Archive {
        entry: &'a Entry,
        /// Prefix of the archive's links: `""` for the single archive's root paths, else
        /// `/<key>`.
        base: String,
        /// The archive path, starting with `/`.
        path: String,
    },
    /// Nothing is there.
    NotFound,
}

impl Catalog {
    /// The catalog of `archives`; an archive whose info-hash is already listed is dropped.
    pub(crate) fn new(archives: impl IntoIterator<Item = Archive>) -> Self {
        let mut entries: Vec<Entry> = Vec::new();
        for (i, archive) in archives.into_iter().enumerate() {
            let key = archive
                .info_hash()
                .map_or_else(|| format!("draft-{i}"), |h| h.to_hex());
            if entries.iter().all(|e| e.key != key) {
                entries.push(Entry { key, archive });
            }
        }
        Self { entries }
    }

    /// Every archive, in order.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Where the decoded request `path` (starting with `/`) leads.
    pub(crate) fn route(&self, path: &str) -> Route<'_> {
        let rest = path.strip_prefix('/').unwrap_or(path);
        let (first, tail) = match rest.split_once('/') {
            Some((first, tail)) => (first, Some(tail)),
            None => (rest, None),
        };
        if let Some(entry) = self.entries.iter().find(|e| e.key == first) {
            return Route::Archive {
                entry,
                base: entry.base(),
                path: format!("/{}", tail.unwrap_or("")),
            };
        }
        match self.entries.as_slice() {
            [only] => Route::Archive {
                entry: only,
                base: String::new(),
                path: path.to_owned(),
            },
            _ if rest.is_empty() => Route::Root,
            _ => Route::NotFound,
        }
    }
}

impl Entry {
    /// `/<key>`.
    pub(crate) fn base(&self) -> String {
        format!("/{}", self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmfs_memory::MemoryStorage;

    #[test]
    fn single_archive_answers_root_paths_and_its_key() {
        let c = Catalog::new([Archive::new(MemoryStorage::factory())]);
        match c.route("/a/b.txt") {
            Route::Archive { base, path, .. } => {
                assert_eq!(base, "");
                assert_eq!(path, "/a/b.txt");
            }
            r => panic!("{r:?}"),
        }
        match c.route("/draft-0/a") {
            Route::Archive { base, path, .. } => {
                assert_eq!(base, "/draft-0");
                assert_eq!(path, "/a");
            }
            r => panic!("{r:?}"),
        }
        assert!(matches!(c.route("/draft-0"), Route::Archive { path, .. } if path == "/"));
    }

    #[test]
    fn several_archives_need_their_key() {
        let c = Catalog::new([
            Archive::new(MemoryStorage::factory()),
            Archive::new(MemoryStorage::factory()),
        ]);
        assert_eq!(c.entries().len(), 2);
        assert!(matches!(c.route("/"), Route::Root));
        assert!(matches!(c.route("/a.txt"), Route::NotFound));
        assert!(matches!(c.route("/draft-2/a.txt"), Route::NotFound));
        match c.route("/draft-1/x/y") {
            Route::Archive { entry, path, .. } => {
                assert_eq!(entry.key, "draft-1");
                assert_eq!(path, "/x/y");
            }
            r => panic!("{r:?}"),
        }
        assert!(matches!(Catalog::new([]).route("/"), Route::Root));
    }
}
