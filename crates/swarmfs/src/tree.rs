//! An archive's directory tree: user paths checked through [`SafePath`], files by path, and the
//! directories they imply.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use swarmfs_metainfo::SafePath;

use crate::error::ArchiveError;

/// One entry of [`Archive::read_dir`](crate::Archive::read_dir).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirEntry {
    /// The entry's name (one path component).
    pub name: String,
    /// A file's length; for a directory, the bytes of every file below it.
    pub len: u64,
    /// Whether the entry is a directory.
    pub is_dir: bool,
}

/// What [`Archive::metadata`](crate::Archive::metadata) reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metadata {
    /// A file's length; for a directory, the bytes of every file below it.
    pub len: u64,
    /// Whether the path is a directory.
    pub is_dir: bool,
}

/// Parses a `/`-separated path from the archive root: a leading and a trailing `/` are optional,
/// `""` and `"/"` are the root (`None`). `..`, `.`, empty components and NUL are refused.
pub(crate) fn parse_path(path: &str) -> Result<Option<SafePath>, ArchiveError> {
    let inner = path.strip_prefix('/').unwrap_or(path);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if inner.is_empty() {
        return Ok(None);
    }
    SafePath::parse(inner)
        .map(Some)
        .map_err(|source| ArchiveError::InvalidPath {
            path: path.to_owned(),
            source,
        })
}

/// Like [`parse_path`], but the root is refused (it is not a file).
pub(crate) fn parse_file_path(path: &str) -> Result<SafePath, ArchiveError> {
    parse_path(path)?.ok_or_else(|| ArchiveError::IsDirectory {
        path: path.to_owned(),
    })
}

/// A file of a tree: its length and where its bytes live.
#[derive(Clone, Debug)]
pub(crate) struct Node<T> {
    pub(crate) len: u64,
    pub(crate) data: T,
}

/// What a path names.
pub(crate) enum Found<'a, T> {
    File(&'a Node<T>),
    Dir(u64),
}

/// Files by path, plus directories created explicitly (drafts).
#[derive(Clone, Debug)]
pub(crate) struct Tree<T> {
    files: BTreeMap<SafePath, Node<T>>,
    dirs: BTreeSet<SafePath>,
}

impl<T> Default for Tree<T> {
    fn default() -> Self {
        Self {
            files: BTreeMap::new(),
            dirs: BTreeSet::new(),
        }
    }
}

impl<T> Tree<T> {
    pub(crate) fn files(&self) -> impl Iterator<Item = (&SafePath, &Node<T>)> {
        self.files.iter()
    }

    /// Files strictly below `dir` (every file for the root), in path order.
    fn below<'a>(
        &'a self,
        dir: Option<&'a SafePath>,
    ) -> impl Iterator<Item = (&'a SafePath, &'a Node<T>)> + 'a {
        let start = dir.map_or(Bound::Unbounded, Bound::Excluded);
        self.files
            .range((start, Bound::Unbounded))
            .take_while(move |(p, _)| dir.is_none_or(|d| d.is_ancestor_of(p)))
    }

    fn has_dir(&self, dir: &SafePath) -> bool {
        self.dirs.contains(dir)
            || self.below(Some(dir)).next().is_some()
            || self
                .dirs
                .range((Bound::Excluded(dir), Bound::Unbounded))
                .next()
                .is_some_and(|d| dir.is_ancestor_of(d))
    }

    /// What `path` names (`None`: the root, always a directory).
    pub(crate) fn find(&self, path: Option<&SafePath>) -> Option<Found<'_, T>> {
        if let Some(p) = path
            && let Some(node) = self.files.get(p)
        {
            return Some(Found::File(node));
        }
        if path.is_none_or(|p| self.has_dir(p)) {
            return Some(Found::Dir(self.below(path).map(|(_, n)| n.len).sum()));
        }
        None
    }

    /// The entries directly inside `dir`, sorted by name; `None` when `dir` is not a directory.
    pub(crate) fn list(&self, dir: Option<&SafePath>) -> Option<Vec<DirEntry>> {
        if !matches!(self.find(dir), Some(Found::Dir(_))) {
            return None;
        }
        let depth = dir.map_or(0, SafePath::depth);
        let mut out: BTreeMap<String, DirEntry> = BTreeMap::new();
        let child = |p: &SafePath| p.components().nth(depth).map(str::to_owned);
        for (path, node) in self.below(dir) {
            let Some(name) = child(path) else { continue };
            let is_dir = path.depth() > depth + 1;
            let e = out.entry(name.clone()).or_insert(DirEntry {
                name,
                len: 0,
                is_dir,
            });
            e.len += node.len;
        }
        for d in &self.dirs {
            if dir.is_none_or(|p| p.is_ancestor_of(d))
                && let Some(name) = child(d)
            {
                out.entry(name.clone()).or_insert(DirEntry {
                    name,
                    len: 0,
                    is_dir: true,
                });
            }
        }
        Some(out.into_values().collect())
    }

    /// Adds or replaces a file; its ancestors must not be files.
    pub(crate) fn insert(
        &mut self,
        path: SafePath,
        node: Node<T>,
    ) -> Result<Option<T>, ArchiveError> {
        self.check_parents(&path)?;
        if self.has_dir(&path) {
            return Err(ArchiveError::IsDirectory {
                path: path.to_string(),
            });
        }
        Ok(self.files.insert(path, node).map(|n| n.data))
    }

    /// Creates a directory (and its parents).
    pub(crate) fn mkdir(&mut self, path: SafePath) -> Result<(), ArchiveError> {
        self.check_parents(&path)?;
        if self.files.contains_key(&path) {
            return Err(ArchiveError::NotDirectory {
                path: path.to_string(),
            });
        }
        self.dirs.insert(path);
        Ok(())
    }

    /// Removes a file, or a directory with everything below it; returns the removed files.
    pub(crate) fn remove(&mut self, path: &SafePath) -> Result<Vec<T>, ArchiveError> {
        if let Some(node) = self.files.remove(path) {
            return Ok(vec![node.data]);
        }
        if !self.has_dir(path) {
            return Err(ArchiveError::NotFound {
                path: path.to_string(),
            });
        }
        let doomed: Vec<SafePath> = self.below(Some(path)).map(|(p, _)| p.clone()).collect();
        let removed = doomed
            .iter()
            .filter_map(|p| self.files.remove(p).map(|n| n.data))
            .collect();
        self.dirs.retain(|d| d != path && !path.is_ancestor_of(d));
        Ok(removed)
    }

    /// Fails when `path` or one of its ancestors is a file.
    fn check_parents(&self, path: &SafePath) -> Result<(), ArchiveError> {
        let parts: Vec<&str> = path.components().collect();
        for i in 1..parts.len() {
            if let Ok(prefix) = SafePath::from_components(&parts[..i])
                && self.files.contains_key(&prefix)
            {
                return Err(ArchiveError::NotDirectory {
                    path: prefix.to_string(),
                });
            }
        }
        Ok(())
    }
}

impl<T> FromIterator<(SafePath, Node<T>)> for Tree<T> {
    fn from_iter<I: IntoIterator<Item = (SafePath, Node<T>)>>(iter: I) -> Self {
        Self {
            files: iter.into_iter().collect(),
            dirs: BTreeSet::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> SafePath {
        SafePath::parse(s).unwrap()
    }

    fn tree() -> Tree<()> {
        [("a/b.txt", 3), ("a/c/d.bin", 5), ("a.b", 7), ("top", 1)]
            .into_iter()
            .map(|(s, len)| (p(s), Node { len, data: () }))
            .collect()
    }

    #[test]
    fn paths_are_rooted_and_safe() {
        assert!(parse_path("/").unwrap().is_none());
        assert!(parse_path("").unwrap().is_none());
        assert_eq!(parse_path("/a/b/").unwrap().unwrap().as_str(), "a/b");
        for bad in ["/../etc/passwd", "/a/../../b", "a//b", "/./a", "/a\0b"] {
            assert!(
                matches!(parse_path(bad), Err(ArchiveError::InvalidPath { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn lists_children_with_sizes() {
        let t = tree();
        let root = t.list(None).unwrap();
        let names: Vec<(&str, u64, bool)> = root
            .iter()
            .map(|e| (e.name.as_str(), e.len, e.is_dir))
            .collect();
        assert_eq!(
            names,
            [("a", 8, true), ("a.b", 7, false), ("top", 1, false)]
        );
        let a = t.list(Some(&p("a"))).unwrap();
        assert_eq!(a.len(), 2);
        assert!(a[1].is_dir && a[1].name == "c" && a[1].len == 5);
        assert!(t.list(Some(&p("top"))).is_none());
        assert!(t.list(Some(&p("nope"))).is_none());
    }

    #[test]
    fn insert_mkdir_remove() {
        let mut t = tree();
        assert!(matches!(
            t.insert(p("top/x"), Node { len: 1, data: () }),
            Err(ArchiveError::NotDirectory { .. })
        ));
        assert!(matches!(
            t.insert(p("a/c"), Node { len: 1, data: () }),
            Err(ArchiveError::IsDirectory { .. })
        ));
        t.mkdir(p("empty/inner")).unwrap();
        assert!(matches!(t.find(Some(&p("empty"))), Some(Found::Dir(0))));
        assert_eq!(t.remove(&p("a")).unwrap().len(), 2);
        assert!(t.find(Some(&p("a/b.txt"))).is_none());
        assert!(matches!(
            t.remove(&p("a")),
            Err(ArchiveError::NotFound { .. })
        ));
        t.remove(&p("empty")).unwrap();
        assert!(t.find(Some(&p("empty/inner"))).is_none());
    }
}
