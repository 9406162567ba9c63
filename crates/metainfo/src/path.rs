//! File paths named by a torrent, sanitised so that they can never leave the storage root.
//!
//! A torrent names its files with lists of path components chosen by whoever made it. Anything
//! that could climb out of the root directory or mean different things on different systems is
//! rejected here, once, with a typed error; the rest of swarmfs only ever sees a [`SafePath`].

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Longest component accepted, in bytes.
pub const MAX_COMPONENT_LEN: usize = 1024;
/// Most components accepted in one path.
pub const MAX_PATH_DEPTH: usize = 64;
/// Longest path accepted, in bytes, counting one separator between components.
pub const MAX_PATH_LEN: usize = 4096;

/// A relative path that stays inside its root: one or more components, none of them empty, `.`,
/// `..`, a Windows drive prefix, or containing NUL, `/` or `\`.
///
/// Ordered component by component, comparing each component's bytes (the order of a BEP 52 file
/// tree), so `a/b` sorts before `a.b`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafePath {
    /// Components joined with `/`; no component contains `/`.
    joined: String,
}

/// Why a path was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path has no components.
    #[error("path is empty")]
    Empty,
    /// The path starts at the filesystem root.
    #[error("path is absolute")]
    Absolute,
    /// A component is the empty string.
    #[error("path component {index} is empty")]
    EmptyComponent {
        /// Index of the component.
        index: usize,
    },
    /// A component is `.`.
    #[error("path component {index} is '.'")]
    CurrentDir {
        /// Index of the component.
        index: usize,
    },
    /// A component is `..`.
    #[error("path component {index} is '..'")]
    ParentDir {
        /// Index of the component.
        index: usize,
    },
    /// A component contains a NUL byte.
    #[error("path component {index} contains NUL")]
    Nul {
        /// Index of the component.
        index: usize,
    },
    /// A component contains `/` or `\`.
    #[error("path component {index} contains a path separator")]
    Separator {
        /// Index of the component.
        index: usize,
    },
    /// A component starts with a Windows drive prefix such as `C:`.
    #[error("path component {index} starts with a drive prefix")]
    DrivePrefix {
        /// Index of the component.
        index: usize,
    },
    /// A component is not valid UTF-8.
    #[error("path component {index} is not utf-8")]
    NotUtf8 {
        /// Index of the component.
        index: usize,
    },
    /// A component is longer than [`MAX_COMPONENT_LEN`].
    #[error("path component {index} is {len} bytes long, more than {max}")]
    ComponentTooLong {
        /// Index of the component.
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_PATH_DEPTH`] components.
    #[error("path has {depth} components, more than {max}")]
    TooDeep {
        /// Number of components.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// Longer than [`MAX_PATH_LEN`].
    #[error("path is {len} bytes long, more than {max}")]
    TooLong {
        /// Length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Two files have the same path.
    #[error("duplicate file path {path}")]
    Duplicate {
        /// The path named twice.
        path: String,
    },
    /// A file's path is a directory of another file's path.
    #[error("file {file} is also a directory of {other}")]
    FileIsDirectory {
        /// The file used as a directory.
        file: String,
        /// The file below it.
        other: String,
    },
}

impl SafePath {
    /// Parses a `/`-separated relative path such as `dir/file.txt`.
    pub fn parse(s: &str) -> Result<Self, PathError> {
        if s.starts_with('/') {
            return Err(PathError::Absolute);
        }
        Self::from_components(s.split('/'))
    }

    /// Builds a path from its components, each checked.
    pub fn from_components<I, S>(components: I) -> Result<Self, PathError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut joined = String::new();
        let mut depth = 0;
        for (index, c) in components.into_iter().enumerate() {
            push_component(&mut joined, index, c.as_ref())?;
            depth = index + 1;
        }
        if depth == 0 {
            return Err(PathError::Empty);
        }
        Ok(Self { joined })
    }

    /// Builds a path from byte-string components as a torrent carries them (UTF-8 required).
    pub fn from_byte_components<I, B>(components: I) -> Result<Self, PathError>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        let mut joined = String::new();
        let mut depth = 0;
        for (index, c) in components.into_iter().enumerate() {
            let c = std::str::from_utf8(c.as_ref()).map_err(|_| PathError::NotUtf8 { index })?;
            push_component(&mut joined, index, c)?;
            depth = index + 1;
        }
        if depth == 0 {
            return Err(PathError::Empty);
        }
        Ok(Self { joined })
    }

    /// The components in order.
    pub fn components(&self) -> impl Iterator<Item = &str> + '_ {
        self.joined.split('/')
    }

    /// Number of components (at least one).
    pub fn depth(&self) -> usize {
        self.components().count()
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.joined.rsplit('/').next().unwrap_or(&self.joined)
    }

    /// The components joined with `/`.
    pub fn as_str(&self) -> &str {
        &self.joined
    }

    /// `self` followed by `other`.
    pub fn join(&self, other: &SafePath) -> Result<SafePath, PathError> {
        Self::from_components(self.components().chain(other.components()))
    }

    /// The native path of this file under `root`; always below `root`.
    pub fn to_path(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        p.extend(self.components());
        p
    }

    /// Whether `self` is a strict directory prefix of `other` (`a/b` of `a/b/c`, not of `a/bc`).
    pub fn is_ancestor_of(&self, other: &SafePath) -> bool {
        other.joined.len() > self.joined.len()
            && other.joined.starts_with(&self.joined)
            && other.joined.as_bytes()[self.joined.len()] == b'/'
    }
}

/// Checks component `index` and appends it to `joined`, enforcing the depth and length limits.
fn push_component(joined: &mut String, index: usize, c: &str) -> Result<(), PathError> {
    if index >= MAX_PATH_DEPTH {
        return Err(PathError::TooDeep {
            depth: index + 1,
            max: MAX_PATH_DEPTH,
        });
    }
    check_component(index, c)?;
    if index > 0 {
        joined.push('/');
    }
    joined.push_str(c);
    if joined.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong {
            len: joined.len(),
            max: MAX_PATH_LEN,
        });
    }
    Ok(())
}

fn check_component(index: usize, c: &str) -> Result<(), PathError> {
    match c {
        "" => return Err(PathError::EmptyComponent { index }),
        "." => return Err(PathError::CurrentDir { index }),
        ".." => return Err(PathError::ParentDir { index }),
        _ => {}
    }
    if c.len() > MAX_COMPONENT_LEN {
        return Err(PathError::ComponentTooLong {
            index,
            len: c.len(),
            max: MAX_COMPONENT_LEN,
        });
    }
    if c.contains('\0') {
        return Err(PathError::Nul { index });
    }
    if c.contains(['/', '\\']) {
        return Err(PathError::Separator { index });
    }
    let b = c.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(PathError::DrivePrefix { index });
    }
    Ok(())
}

/// Rejects duplicate paths and a file path that is a directory of another, over `paths` in any
/// order. Pairs where `exempt` holds for both (pad files, which are never written) may repeat.
pub(crate) fn check_unique<'a>(
    paths: impl IntoIterator<Item = (&'a SafePath, bool)>,
) -> Result<(), PathError> {
    let mut sorted: Vec<(&SafePath, bool)> = paths.into_iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    // In component order, every path below `p` directly follows `p` or a path equal to it.
    for pair in sorted.windows(2) {
        let [(a, a_exempt), (b, b_exempt)] = pair else {
            continue;
        };
        if a == b {
            if !(*a_exempt && *b_exempt) {
                return Err(PathError::Duplicate {
                    path: a.joined.clone(),
                });
            }
        } else if a.is_ancestor_of(b) {
            return Err(PathError::FileIsDirectory {
                file: a.joined.clone(),
                other: b.joined.clone(),
            });
        }
    }
    Ok(())
}

impl Ord for SafePath {
    fn cmp(&self, other: &Self) -> Ordering {
        // Component-wise order is byte order with the separator below every other byte; no
        // component holds `/` or NUL, so mapping `/` to 0 gives exactly that.
        let key = |b: &u8| if *b == b'/' { 0 } else { *b };
        self.joined
            .as_bytes()
            .iter()
            .map(key)
            .cmp(other.joined.as_bytes().iter().map(key))
    }
}

impl PartialOrd for SafePath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for SafePath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for SafePath {
    fn as_ref(&self) -> &str {
        &self.joined
    }
}

impl fmt::Display for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.joined)
    }
}

impl fmt::Debug for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafePath({:?})", self.joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> SafePath {
        SafePath::parse(s).unwrap()
    }

    #[test]
    fn accepts_plain_relative_paths() {
        let path = p("dir/sub/file.txt");
        assert_eq!(
            path.components().collect::<Vec<_>>(),
            ["dir", "sub", "file.txt"]
        );
        assert_eq!(path.depth(), 3);
        assert_eq!(path.file_name(), "file.txt");
        assert_eq!(path.to_string(), "dir/sub/file.txt");
        assert_eq!(
            path.to_path(Path::new("/root")),
            PathBuf::from("/root/dir/sub/file.txt")
        );
        // Dots inside names, leading dots and ':' after the second byte are fine.
        assert!(SafePath::parse("...").is_ok());
        assert!(SafePath::parse(".hidden/a..b").is_ok());
        assert!(SafePath::parse("ab:c").is_ok());
        assert_eq!(p("a").join(&p("b/c")).unwrap(), p("a/b/c"));
    }

    #[test]
    fn rejects_each_bad_form_with_its_error() {
        use PathError::*;
        let cases: &[(&str, PathError)] = &[
            ("", EmptyComponent { index: 0 }),
            ("/etc/passwd", Absolute),
            ("a//b", EmptyComponent { index: 1 }),
            ("a/", EmptyComponent { index: 1 }),
            ("./a", CurrentDir { index: 0 }),
            ("a/../../b", ParentDir { index: 1 }),
            ("..", ParentDir { index: 0 }),
            ("a/b\0c", Nul { index: 1 }),
            ("a\\..\\b", Separator { index: 0 }),
            ("\\\\server\\share", Separator { index: 0 }),
            ("C:", DrivePrefix { index: 0 }),
            ("c:evil", DrivePrefix { index: 0 }),
            ("x/D:", DrivePrefix { index: 1 }),
        ];
        for (input, want) in cases {
            assert_eq!(SafePath::parse(input).as_ref(), Err(want), "{input:?}");
        }
        assert_eq!(SafePath::from_components(Vec::<String>::new()), Err(Empty));
        assert_eq!(
            SafePath::from_components(["a/b"]),
            Err(Separator { index: 0 })
        );
        assert_eq!(
            SafePath::from_byte_components([&b"ok"[..], b"\xff"]),
            Err(NotUtf8 { index: 1 })
        );
    }

    #[test]
    fn enforces_size_limits() {
        let long = "x".repeat(MAX_COMPONENT_LEN + 1);
        assert_eq!(
            SafePath::parse(&long),
            Err(PathError::ComponentTooLong {
                index: 0,
                len: MAX_COMPONENT_LEN + 1,
                max: MAX_COMPONENT_LEN
            })
        );
        let deep = vec!["d"; MAX_PATH_DEPTH + 1];
        assert!(matches!(
            SafePath::from_components(&deep),
            Err(PathError::TooDeep { .. })
        ));
        assert!(matches!(
            SafePath::from_byte_components(vec![&b"d"[..]; MAX_PATH_DEPTH + 1]),
            Err(PathError::TooDeep { .. })
        ));
        assert!(SafePath::from_components(vec!["d"; MAX_PATH_DEPTH]).is_ok());
        let c = "y".repeat(1000);
        assert!(matches!(
            SafePath::from_components(vec![c.as_str(); 5]),
            Err(PathError::TooLong { .. })
        ));
    }

    #[test]
    fn orders_component_wise() {
        let mut v = [p("a.b"), p("a/b"), p("B"), p("a"), p("a-1/x")];
        v.sort();
        let s: Vec<_> = v.iter().map(SafePath::as_str).collect();
        assert_eq!(s, ["B", "a", "a/b", "a-1/x", "a.b"]);
    }

    #[test]
    fn ancestor_is_component_wise() {
        assert!(p("a/b").is_ancestor_of(&p("a/b/c")));
        assert!(!p("a/b").is_ancestor_of(&p("a/bc")));
        assert!(!p("a/b").is_ancestor_of(&p("a/b")));
    }

    #[test]
    fn duplicates_and_file_directories_are_rejected() {
        let a = p("x/a");
        let b = p("x/b");
        let a2 = p("x/a");
        assert_eq!(check_unique([(&a, false), (&b, false)]), Ok(()));
        assert_eq!(
            check_unique([(&a, false), (&b, false), (&a2, false)]),
            Err(PathError::Duplicate { path: "x/a".into() })
        );
        // Pad files may share a name with each other, never with a real file.
        assert_eq!(check_unique([(&a, true), (&a2, true)]), Ok(()));
        assert!(check_unique([(&a, true), (&a2, false)]).is_err());
        let dir = p("x");
        let under = p("x/a.b/c");
        let sibling = p("x/a.b");
        assert_eq!(
            check_unique([(&under, false), (&dir, false)]),
            Err(PathError::FileIsDirectory {
                file: "x".into(),
                other: "x/a.b/c".into()
            })
        );
        // `x/a.b` and `x/a.b/c` are separated by nothing in component order.
        assert!(matches!(
            check_unique([(&a, false), (&under, false), (&sibling, false)]),
            Err(PathError::FileIsDirectory { .. })
        ));
    }
}
