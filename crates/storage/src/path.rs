//! Validated names: relative file paths inside a storage root, and metadata blob names.
//!
//! Every backend receives paths that can only hold safe relative components; backends that touch a
//! real filesystem still check again at open time (symlinks), so a path that slipped past the
//! metainfo sanitiser still cannot leave the root.

use std::fmt;

/// Longest accepted path component, in bytes (the common filesystem limit).
pub const MAX_COMPONENT_LEN: usize = 255;
/// Most components accepted in one path.
pub const MAX_COMPONENTS: usize = 64;

/// Why a path or name is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path has no components.
    #[error("empty path")]
    Empty,
    /// The path has more than [`MAX_COMPONENTS`] components.
    #[error("path has {count} components, more than {max}", max = MAX_COMPONENTS)]
    TooDeep {
        /// Number of components.
        count: usize,
    },
    /// A component is invalid.
    #[error("invalid path component {component:?}: {reason}")]
    BadComponent {
        /// The component (lossy for display).
        component: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A metadata name is invalid.
    #[error("invalid metadata name {name:?}")]
    BadMetaName {
        /// The name.
        name: String,
    },
}

/// A relative path inside a storage root, made only of plain components.
///
/// A component is never empty, `.` or `..`, never contains `/`, `\` or NUL and is at most
/// [`MAX_COMPONENT_LEN`] bytes, so joining the components under a root can never name anything
/// outside it (symlinks aside, which backends check).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoragePath {
    components: Vec<String>,
}

impl StoragePath {
    /// Builds a path from its components, in order.
    pub fn new<I, S>(components: I) -> Result<Self, PathError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for c in components {
            let c = c.as_ref();
            check_component(c)?;
            if out.len() == MAX_COMPONENTS {
                return Err(PathError::TooDeep {
                    count: MAX_COMPONENTS + 1,
                });
            }
            out.push(c.to_owned());
        }
        if out.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(Self { components: out })
    }

    /// Parses a `/`-separated relative path such as `dir/file.bin`.
    pub fn parse(path: &str) -> Result<Self, PathError> {
        if path.starts_with('/') {
            return Err(PathError::BadComponent {
                component: path.to_owned(),
                reason: "absolute path",
            });
        }
        Self::new(path.split('/'))
    }

    /// The components, in order.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The directory components (all but the last).
    pub fn parent(&self) -> &[String] {
        &self.components[..self.components.len() - 1]
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        // Invariant: `new` refuses empty paths.
        &self.components[self.components.len() - 1]
    }
}

impl fmt::Display for StoragePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.components.join("/"))
    }
}

impl fmt::Debug for StoragePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoragePath({self})")
    }
}

fn check_component(c: &str) -> Result<(), PathError> {
    let reason = if c.is_empty() {
        "empty"
    } else if c == "." || c == ".." {
        "dot component"
    } else if c.contains(['/', '\\']) {
        "contains a separator"
    } else if c.contains('\0') {
        "contains NUL"
    } else if c.len() > MAX_COMPONENT_LEN {
        "too long"
    } else {
        return Ok(());
    };
    Err(PathError::BadComponent {
        component: c.chars().take(80).collect(),
        reason,
    })
}

/// The name of a metadata blob a factory keeps beside the data (such as a resume file):
/// 1 to 128 characters of `[A-Za-z0-9_.-]`, not starting with `.`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MetaName(String);

impl MetaName {
    /// Validates a metadata name.
    pub fn new(name: &str) -> Result<Self, PathError> {
        let ok = !name.is_empty()
            && name.len() <= 128
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(PathError::BadMetaName {
                name: name.chars().take(80).collect(),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MetaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MetaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MetaName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_components() {
        let p = StoragePath::parse("dir/sub/file.bin").unwrap();
        assert_eq!(p.components(), ["dir", "sub", "file.bin"]);
        assert_eq!(p.parent(), ["dir", "sub"]);
        assert_eq!(p.file_name(), "file.bin");
        assert_eq!(p.to_string(), "dir/sub/file.bin");
        assert!(
            StoragePath::new(["..."]).is_ok(),
            "three dots is a plain name"
        );
    }

    #[test]
    fn refuses_escapes() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            ".",
            "a//b",
            "a/./b",
            "a\\..\\b",
            "a\0b",
        ] {
            assert!(StoragePath::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(StoragePath::new(["a/b"]).is_err());
        assert!(StoragePath::new(Vec::<String>::new()).is_err());
        assert!(StoragePath::new(["x".repeat(256)]).is_err());
        assert!(StoragePath::new(vec!["d"; 65]).is_err());
        assert!(StoragePath::new(vec!["d"; 64]).is_ok());
    }

    #[test]
    fn meta_names() {
        assert!(MetaName::new("resume-abc.v1").is_ok());
        for bad in ["", ".hidden", "a/b", "..", "a b", &"x".repeat(129)] {
            assert!(MetaName::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
