//! The torrent record every backend reports, and the diff between two records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One file of a torrent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Path inside the torrent, `/`-separated.
    pub path: String,
    /// Length in bytes.
    pub length: u64,
}

/// A torrent as a backend reports it (dTorrent's record, typed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TorrentRecord {
    /// Info-hash, 40 lowercase hex digits.
    pub hash: String,
    /// Display name.
    pub name: String,
    /// Whether the torrent is started (not paused/stopped).
    pub active: bool,
    /// Bytes verified and held.
    pub downloaded: u64,
    /// Bytes uploaded.
    pub uploaded: u64,
    /// Total size in bytes.
    pub length: u64,
    /// Where the torrent came from or lives (the .torrent file name or data path).
    pub path: String,
    /// `downloaded / length`, 0.0 to 1.0.
    pub progress: f64,
    /// `uploaded / length`.
    pub ratio: f64,
    /// Whether every wanted byte is held.
    pub finished: bool,
    /// Whether bytes are moving (uploading or downloading) right now.
    pub playing: bool,
    /// The torrent's files.
    pub files: Vec<FileRecord>,
    /// Backend-specific fields.
    pub extra: BTreeMap<String, String>,
}

impl TorrentRecord {
    /// A record with the computed fields (`progress`, `ratio`, `finished`) derived from
    /// `downloaded`, `uploaded` and `length`.
    pub fn computed(mut self) -> Self {
        if self.length > 0 {
            self.progress = (self.downloaded as f64 / self.length as f64).clamp(0.0, 1.0);
            self.ratio = self.uploaded as f64 / self.length as f64;
        }
        self.finished = self.length > 0 && self.downloaded >= self.length;
        self
    }

    /// The changes from `self` to `new`, empty when they are equal.
    pub fn diff(&self, new: &Self) -> Diff {
        let mut c = Vec::new();
        macro_rules! field {
            ($f:ident, $v:ident) => {
                if self.$f != new.$f {
                    c.push(Change::$v(Delta {
                        from: self.$f.clone(),
                        to: new.$f.clone(),
                    }));
                }
            };
        }
        macro_rules! float {
            ($f:ident, $v:ident) => {
                if self.$f.to_bits() != new.$f.to_bits() {
                    c.push(Change::$v(Delta {
                        from: self.$f,
                        to: new.$f,
                    }));
                }
            };
        }
        field!(hash, Hash);
        field!(name, Name);
        field!(active, Active);
        field!(downloaded, Downloaded);
        field!(uploaded, Uploaded);
        field!(length, Length);
        field!(path, Path);
        float!(progress, Progress);
        float!(ratio, Ratio);
        field!(finished, Finished);
        field!(playing, Playing);
        field!(files, Files);
        field!(extra, Extra);
        Diff(c)
    }

    /// Applies `diff` (sets every changed field to its new value).
    pub fn apply(&mut self, diff: &Diff) {
        for c in &diff.0 {
            match c {
                Change::Hash(d) => self.hash.clone_from(&d.to),
                Change::Name(d) => self.name.clone_from(&d.to),
                Change::Active(d) => self.active = d.to,
                Change::Downloaded(d) => self.downloaded = d.to,
                Change::Uploaded(d) => self.uploaded = d.to,
                Change::Length(d) => self.length = d.to,
                Change::Path(d) => self.path.clone_from(&d.to),
                Change::Progress(d) => self.progress = d.to,
                Change::Ratio(d) => self.ratio = d.to,
                Change::Finished(d) => self.finished = d.to,
                Change::Playing(d) => self.playing = d.to,
                Change::Files(d) => self.files.clone_from(&d.to),
                Change::Extra(d) => self.extra.clone_from(&d.to),
            }
        }
    }
}

/// A field's old and new value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delta<T> {
    /// The value before.
    pub from: T,
    /// The value after.
    pub to: T,
}

/// One changed field of a [`TorrentRecord`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "snake_case")]
#[non_exhaustive]
#[allow(missing_docs)] // one variant per field of TorrentRecord, same names
pub enum Change {
    Hash(Delta<String>),
    Name(Delta<String>),
    Active(Delta<bool>),
    Downloaded(Delta<u64>),
    Uploaded(Delta<u64>),
    Length(Delta<u64>),
    Path(Delta<String>),
    Progress(Delta<f64>),
    Ratio(Delta<f64>),
    Finished(Delta<bool>),
    Playing(Delta<bool>),
    Files(Delta<Vec<FileRecord>>),
    Extra(Delta<BTreeMap<String, String>>),
}

impl Change {
    /// The record field this change names.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Hash(_) => "hash",
            Self::Name(_) => "name",
            Self::Active(_) => "active",
            Self::Downloaded(_) => "downloaded",
            Self::Uploaded(_) => "uploaded",
            Self::Length(_) => "length",
            Self::Path(_) => "path",
            Self::Progress(_) => "progress",
            Self::Ratio(_) => "ratio",
            Self::Finished(_) => "finished",
            Self::Playing(_) => "playing",
            Self::Files(_) => "files",
            Self::Extra(_) => "extra",
        }
    }
}

/// The changed fields between two records, in field order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Diff(pub Vec<Change>);

impl Diff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The changes.
    pub fn changes(&self) -> &[Change] {
        &self.0
    }

    /// The names of the changed fields.
    pub fn fields(&self) -> Vec<&'static str> {
        self.0.iter().map(Change::field).collect()
    }

    /// The change of `field`, if it changed.
    pub fn get(&self, field: &str) -> Option<&Change> {
        self.0.iter().find(|c| c.field() == field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Exactly representable in JSON text (serde_json's default float parsing may be off by an ulp).
    fn dyadic() -> impl Strategy<Value = f64> {
        (0u32..1_000_000).prop_map(|x| f64::from(x) / 1024.0)
    }

    fn record() -> impl Strategy<Value = TorrentRecord> {
        (
            (
                "[0-9a-f]{4}",
                ".{0,8}",
                any::<bool>(),
                any::<u64>(),
                any::<u64>(),
            ),
            (any::<u64>(), ".{0,6}", dyadic(), dyadic(), any::<bool>()),
            any::<bool>(),
            prop::collection::vec(("[a-z/]{1,6}", any::<u64>()), 0..3),
            prop::collection::btree_map("[a-z]{1,3}", "[a-z]{0,3}", 0..3),
        )
            .prop_map(|((h, n, a, d, u), (l, p, pr, r, f), pl, files, extra)| {
                TorrentRecord {
                    hash: h,
                    name: n,
                    active: a,
                    downloaded: d,
                    uploaded: u,
                    length: l,
                    path: p,
                    progress: pr,
                    ratio: r,
                    finished: f,
                    playing: pl,
                    files: files
                        .into_iter()
                        .map(|(path, length)| FileRecord { path, length })
                        .collect(),
                    extra,
                }
            })
    }

    proptest! {
        #[test]
        fn applying_the_diff_reproduces_the_new_record(a in record(), b in record()) {
            let d = a.diff(&b);
            let mut x = a.clone();
            x.apply(&d);
            prop_assert_eq!(&x, &b);
            prop_assert_eq!(d.is_empty(), a == b);
            // A diff survives its JSON form.
            let back: Diff = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
            prop_assert_eq!(back, d);
        }

        #[test]
        fn equal_records_have_no_diff(a in record()) {
            prop_assert!(a.diff(&a.clone()).is_empty());
        }
    }

    #[test]
    fn diff_names_exactly_the_changed_fields() {
        let a = TorrentRecord {
            hash: "ab".into(),
            name: "n".into(),
            active: true,
            downloaded: 0,
            uploaded: 0,
            length: 100,
            path: String::new(),
            progress: 0.0,
            ratio: 0.0,
            finished: false,
            playing: false,
            files: vec![],
            extra: BTreeMap::new(),
        };
        let mut b = a.clone();
        b.downloaded = 100;
        let b = b.computed();
        let d = a.diff(&b);
        assert_eq!(d.fields(), ["downloaded", "progress", "finished"]);
        assert_eq!(
            d.get("finished"),
            Some(&Change::Finished(Delta {
                from: false,
                to: true
            }))
        );
    }
}
