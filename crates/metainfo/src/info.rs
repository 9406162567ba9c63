//! The info dictionary (BEP 3): names, lengths and piece hashes of a torrent's files.
//!
//! The dictionary is kept exactly as received: the info-hash is the SHA-1 of those bytes, and a
//! peer asking for the metadata (BEP 9) gets them back unchanged.

use std::borrow::Cow;

use bendy::decoding::{DictDecoder as Dict, Object};

use crate::bencode::{self, Writer};
use crate::geometry::{Geometry, GeometryError, PieceIndex};
use crate::infohash::InfoHash;
use crate::path::{MAX_PATH_DEPTH, MAX_PATH_LEN, PathError, SafePath, check_unique};

/// Bounds applied while parsing; anything larger is refused before it costs memory or time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest bencoded info dictionary, in bytes.
    pub max_info_len: usize,
    /// Largest `.torrent` file, in bytes.
    pub max_torrent_len: usize,
    /// Most pieces.
    pub max_pieces: u32,
    /// Most files.
    pub max_files: usize,
}

impl Default for Limits {
    /// 64 MiB of info dictionary, 80 MiB of `.torrent`, 2^21 pieces (libtorrent's default) and
    /// 2^20 files.
    fn default() -> Self {
        Self {
            max_info_len: 64 << 20,
            max_torrent_len: 80 << 20,
            max_pieces: 1 << 21,
            max_files: 1 << 20,
        }
    }
}

/// Why an info dictionary was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InfoError {
    /// Larger than [`Limits::max_info_len`].
    #[error("info dictionary is {len} bytes, more than {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not well-formed bencode (including duplicate keys, or nesting too deep). Keys out of order
    /// are accepted, as other clients accept them; the info-hash is over the bytes as received.
    #[error("invalid bencode: {reason}")]
    Bencode {
        /// What the decoder said.
        reason: String,
    },
    /// The bytes are not a dictionary.
    #[error("info is not a dictionary")]
    NotADict,
    /// Bytes follow the dictionary.
    #[error("{extra} bytes follow the info dictionary")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A required key is absent.
    #[error("missing key {key:?}")]
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// A key holds a value of the wrong bencode type.
    #[error("key {key:?} has the wrong type")]
    WrongType {
        /// The key.
        key: &'static str,
    },
    /// An integer is negative or too large.
    #[error("key {key:?} holds an out-of-range integer {value}")]
    BadInteger {
        /// The key.
        key: &'static str,
        /// The integer as written.
        value: String,
    },
    /// `name` is not a valid single path component.
    #[error("invalid name: {0}")]
    BadName(#[source] PathError),
    /// `piece length` is not a power of two between 16 KiB and 64 MiB.
    #[error("invalid piece length {0}")]
    BadPieceLength(u64),
    /// `pieces` is not a whole number of 20-byte hashes.
    #[error("pieces is {len} bytes, not a multiple of 20")]
    BadPiecesLength {
        /// Its length.
        len: usize,
    },
    /// `pieces` holds a different number of hashes than the lengths need.
    #[error("pieces holds {actual} hashes, the lengths need {expected}")]
    PieceCountMismatch {
        /// Pieces the file lengths make.
        expected: u32,
        /// Hashes present.
        actual: usize,
    },
    /// More pieces than [`Limits::max_pieces`].
    #[error("{count} pieces, more than {max}")]
    TooManyPieces {
        /// Hashes present.
        count: usize,
        /// The limit.
        max: u32,
    },
    /// Both `length` and `files` are present.
    #[error("both length and files are present")]
    BothLengthAndFiles,
    /// Neither `length` nor `files` is present.
    #[error("neither length nor files is present")]
    NoLength,
    /// `files` is an empty list.
    #[error("files is empty")]
    NoFiles,
    /// More files than [`Limits::max_files`].
    #[error("more than {max} files")]
    TooManyFiles {
        /// The limit.
        max: usize,
    },
    /// A file's path is unsafe, or two paths collide.
    #[error("file {index}: {source}")]
    BadPath {
        /// Index of the file in `files`.
        index: usize,
        /// What is wrong.
        #[source]
        source: PathError,
    },
    /// Two files collide (same path, or one is a directory of the other).
    #[error("{0}")]
    PathCollision(#[source] PathError),
    /// The files hold no bytes at all.
    #[error("torrent holds zero bytes")]
    Empty,
    /// The lengths overflow the geometry.
    #[error("{0}")]
    Geometry(#[source] GeometryError),
}

/// One file of a torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    path: SafePath,
    length: u64,
    offset: u64,
    attr: String,
}

impl FileEntry {
    /// The path inside the torrent: the `path` list of a multi-file torrent (without the
    /// torrent's `name`), or `name` for a single-file torrent.
    pub fn path(&self) -> &SafePath {
        &self.path
    }

    /// Length in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Offset of the file's first byte in the torrent's concatenated byte stream.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// BEP 47 attribute letters (`p` pad, `x` executable, `h` hidden, `l` symlink), ASCII only.
    pub fn attr(&self) -> &str {
        &self.attr
    }

    /// Whether this is a BEP 47 pad file (zeros that are never written to disk).
    pub fn is_pad(&self) -> bool {
        self.attr.contains('p')
    }
}

/// A parsed info dictionary that keeps its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    raw: Vec<u8>,
    info_hash: InfoHash,
    name: String,
    private: bool,
    multi_file: bool,
    pieces: Vec<[u8; 20]>,
    files: Vec<FileEntry>,
    geometry: Geometry,
}

impl Info {
    /// Parses a bencoded info dictionary with the default [`Limits`].
    pub fn from_bytes(raw: &[u8]) -> Result<Self, InfoError> {
        Self::from_bytes_with_limits(raw, &Limits::default())
    }

    /// Parses a bencoded info dictionary; the whole of `raw` must be the dictionary.
    pub fn from_bytes_with_limits(raw: &[u8], limits: &Limits) -> Result<Self, InfoError> {
        if raw.len() > limits.max_info_len {
            return Err(InfoError::TooLarge {
                len: raw.len(),
                max: limits.max_info_len,
            });
        }
        // Keys out of order are parsed from a sorted copy; the info-hash stays that of `raw`.
        let sorted = bencode::sort_keys(raw);
        let mut decoder = bencode::decoder(&sorted);
        let mut info = match decoder.next_object().map_err(bencode_error)? {
            Some(Object::Dict(dict)) => Self::from_dict(dict, limits)?,
            _ => return Err(InfoError::NotADict),
        };
        if info.raw.len() != sorted.len() {
            return Err(InfoError::TrailingBytes {
                extra: sorted.len() - info.raw.len(),
            });
        }
        if let Cow::Owned(_) = sorted {
            info.raw = raw.to_vec();
            info.info_hash = InfoHash::of_info_bytes(raw);
        }
        Ok(info)
    }

    /// Parses a dictionary the decoder has just opened, in one pass, keeping its exact bytes.
    pub(crate) fn from_dict(mut dict: Dict<'_, '_>, limits: &Limits) -> Result<Self, InfoError> {
        let fields = Fields::parse(&mut dict, limits)?;
        let raw = dict.into_raw().map_err(bencode_error)?;
        if raw.len() > limits.max_info_len {
            return Err(InfoError::TooLarge {
                len: raw.len(),
                max: limits.max_info_len,
            });
        }
        fields.finish(raw, limits)
    }

    /// The info dictionary exactly as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The info dictionary exactly as received.
    pub fn into_bytes(self) -> Vec<u8> {
        self.raw
    }

    /// SHA-1 of [`Info::as_bytes`].
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// The suggested name: the file name of a single-file torrent, the directory name of a
    /// multi-file one. Always one safe path component.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `private` is set (BEP 27): peers come only from trackers, never from DHT or PEX.
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Whether the dictionary uses `files` (a directory) rather than `length` (one file).
    pub fn is_multi_file(&self) -> bool {
        self.multi_file
    }

    /// The files in torrent order.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// The path of file `index` relative to the directory a client saves into: `name/path` for a
    /// multi-file torrent, `name` for a single-file one. `Some` for every index in range.
    pub fn storage_path(&self, index: usize) -> Option<SafePath> {
        let file = self.files.get(index)?;
        if self.multi_file {
            SafePath::from_components(
                std::iter::once(self.name.as_str()).chain(file.path.components()),
            )
            .ok()
        } else {
            Some(file.path.clone())
        }
    }

    /// How the byte stream splits into pieces and files.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The nominal piece length.
    pub fn piece_length(&self) -> u32 {
        self.geometry.piece_length()
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.geometry.piece_count()
    }

    /// Sum of the file lengths.
    pub fn total_length(&self) -> u64 {
        self.geometry.total_length()
    }

    /// Length of the last piece (equal to the piece length when it divides the total).
    pub fn last_piece_length(&self) -> u32 {
        // A parsed info dict always holds at least one byte, so at least one piece.
        self.geometry
            .pieces()
            .last()
            .map_or(0, |p| self.geometry.piece_len(p))
    }

    /// The SHA-1 a piece must hash to.
    pub fn piece_hash(&self, piece: PieceIndex) -> Option<&[u8; 20]> {
        self.pieces.get(piece.get() as usize)
    }

    /// Every piece hash in order.
    pub fn piece_hashes(&self) -> &[[u8; 20]] {
        &self.pieces
    }

    /// Encodes a plain v1 info dictionary in canonical form (keys sorted; files in the order
    /// given) and parses it back, for callers that hashed the pieces themselves (the
    /// [`TorrentBuilder`](crate::TorrentBuilder), or a bridge streaming from HTTP).
    /// `single_file` takes the length of the one entry in `files`; its path is ignored.
    pub fn from_parts(
        name: &str,
        piece_length: u32,
        pieces: &[[u8; 20]],
        files: &[(SafePath, u64)],
        single_file: bool,
        private: bool,
    ) -> Result<Self, InfoError> {
        let mut w = Writer::new();
        w.begin_dict();
        if single_file {
            let length = files.first().map_or(0, |f| f.1);
            w.bytes(b"length").uint(length);
        } else {
            w.bytes(b"files").begin_list();
            for (path, length) in files {
                w.begin_dict().bytes(b"length").uint(*length);
                w.bytes(b"path").begin_list();
                for c in path.components() {
                    w.bytes(c.as_bytes());
                }
                w.end().end();
            }
            w.end();
        }
        w.bytes(b"name").bytes(name.as_bytes());
        w.bytes(b"piece length").uint(u64::from(piece_length));
        w.bytes(b"pieces").bytes(pieces.as_flattened());
        if private {
            w.bytes(b"private").int(1);
        }
        w.end();
        Self::from_bytes(&w.into_bytes())
    }
}

/// The fields of an info dict as read, before cross-checks.
#[derive(Default)]
struct Fields<'a> {
    name: Option<&'a [u8]>,
    piece_length: Option<u64>,
    pieces: Option<&'a [u8]>,
    length: Option<u64>,
    files: Option<Vec<RawFile<'a>>>,
    private: bool,
}

struct RawFile<'a> {
    path: Vec<&'a [u8]>,
    length: u64,
    attr: String,
}

impl<'s> Fields<'s> {
    fn parse(dict: &mut Dict<'_, 's>, limits: &Limits) -> Result<Self, InfoError> {
        let mut f = Fields::default();
        while let Some((key, value)) = dict.next_pair().map_err(bencode_error)? {
            match key {
                b"name" => f.name = Some(bytes(value, "name")?),
                b"piece length" => f.piece_length = Some(uint(value, "piece length")?),
                b"pieces" => f.pieces = Some(bytes(value, "pieces")?),
                b"length" => f.length = Some(uint(value, "length")?),
                b"private" => f.private = int(value, "private")? != 0,
                b"files" => match value {
                    Object::List(mut list) => {
                        let mut files = Vec::new();
                        while let Some(item) = list.next_object().map_err(bencode_error)? {
                            if files.len() == limits.max_files {
                                return Err(InfoError::TooManyFiles {
                                    max: limits.max_files,
                                });
                            }
                            files.push(RawFile::parse(files.len(), item)?);
                        }
                        f.files = Some(files);
                    }
                    _ => return Err(InfoError::WrongType { key: "files" }),
                },
                // Other keys (`name.utf-8`, `source`, `meta version`, ...) stay in the raw bytes;
                // dropping `value` skips it, and a syntax error in it is reported by the next call.
                _ => {}
            }
        }
        Ok(f)
    }

    fn finish(self, raw: &[u8], limits: &Limits) -> Result<Info, InfoError> {
        let name = self.name.ok_or(InfoError::MissingKey { key: "name" })?;
        let name_path = SafePath::from_byte_components([name]).map_err(InfoError::BadName)?;
        let name = name_path.as_str().to_owned();
        let piece_length = self.piece_length.ok_or(InfoError::MissingKey {
            key: "piece length",
        })?;
        let pieces = self.pieces.ok_or(InfoError::MissingKey { key: "pieces" })?;
        if pieces.len() % 20 != 0 {
            return Err(InfoError::BadPiecesLength { len: pieces.len() });
        }
        let count = pieces.len() / 20;
        if count > limits.max_pieces as usize {
            return Err(InfoError::TooManyPieces {
                count,
                max: limits.max_pieces,
            });
        }
        let (multi_file, files) = match (self.length, self.files) {
            (Some(_), Some(_)) => return Err(InfoError::BothLengthAndFiles),
            (None, None) => return Err(InfoError::NoLength),
            (Some(length), None) => (
                false,
                vec![FileEntry {
                    path: name_path,
                    length,
                    offset: 0,
                    attr: String::new(),
                }],
            ),
            (None, Some(raw_files)) => {
                if raw_files.is_empty() {
                    return Err(InfoError::NoFiles);
                }
                let mut files = Vec::with_capacity(raw_files.len());
                for (index, rf) in raw_files.into_iter().enumerate() {
                    let path = SafePath::from_byte_components(&rf.path)
                        .map_err(|source| InfoError::BadPath { index, source })?;
                    // `name/path` must be a SafePath too, so `storage_path` always exists.
                    let depth = rf.path.len() + 1;
                    let len = name.len() + 1 + path.as_str().len();
                    if depth > MAX_PATH_DEPTH {
                        let max = MAX_PATH_DEPTH;
                        let source = PathError::TooDeep { depth, max };
                        return Err(InfoError::BadPath { index, source });
                    }
                    if len > MAX_PATH_LEN {
                        let source = PathError::TooLong {
                            len,
                            max: MAX_PATH_LEN,
                        };
                        return Err(InfoError::BadPath { index, source });
                    }
                    files.push(FileEntry {
                        path,
                        length: rf.length,
                        offset: 0,
                        attr: rf.attr,
                    });
                }
                check_unique(files.iter().map(|f| (&f.path, f.is_pad())))
                    .map_err(InfoError::PathCollision)?;
                (true, files)
            }
        };
        let lengths: Vec<u64> = files.iter().map(|f| f.length).collect();
        let geometry = Geometry::new(piece_length, &lengths).map_err(|e| match e {
            GeometryError::BadPieceLength(l) => InfoError::BadPieceLength(l),
            other => InfoError::Geometry(other),
        })?;
        if geometry.total_length() == 0 {
            return Err(InfoError::Empty);
        }
        if geometry.piece_count() as usize != count {
            return Err(InfoError::PieceCountMismatch {
                expected: geometry.piece_count(),
                actual: count,
            });
        }
        let mut files = files;
        for (i, f) in files.iter_mut().enumerate() {
            f.offset = geometry.file_start(i).unwrap_or(0);
        }
        let pieces = pieces
            .chunks_exact(20)
            .map(|c| {
                let mut h = [0u8; 20];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Ok(Info {
            raw: raw.to_vec(),
            info_hash: InfoHash::of_info_bytes(raw),
            name,
            private: self.private,
            multi_file,
            pieces,
            files,
            geometry,
        })
    }
}

impl<'s> RawFile<'s> {
    fn parse(index: usize, item: Object<'_, 's>) -> Result<Self, InfoError> {
        let Object::Dict(mut dict) = item else {
            return Err(InfoError::WrongType { key: "files" });
        };
        let mut path = None;
        let mut length = None;
        let mut attr = String::new();
        while let Some((key, value)) = dict.next_pair().map_err(bencode_error)? {
            match key {
                b"length" => length = Some(uint(value, "length")?),
                b"attr" => {
                    attr = bytes(value, "attr")?
                        .iter()
                        .filter(|b| b.is_ascii_alphabetic())
                        .map(|&b| char::from(b))
                        .collect();
                }
                b"path" => {
                    let Object::List(mut list) = value else {
                        return Err(InfoError::WrongType { key: "path" });
                    };
                    let mut components = Vec::new();
                    while let Some(c) = list.next_object().map_err(bencode_error)? {
                        if components.len() == MAX_PATH_DEPTH {
                            return Err(InfoError::BadPath {
                                index,
                                source: PathError::TooDeep {
                                    depth: MAX_PATH_DEPTH + 1,
                                    max: MAX_PATH_DEPTH,
                                },
                            });
                        }
                        components.push(bytes(c, "path")?);
                    }
                    path = Some(components);
                }
                _ => {}
            }
        }
        Ok(RawFile {
            path: path.ok_or(InfoError::MissingKey { key: "path" })?,
            length: length.ok_or(InfoError::MissingKey { key: "length" })?,
            attr,
        })
    }
}

fn bencode_error(e: bendy::decoding::Error) -> InfoError {
    InfoError::Bencode {
        reason: e.to_string(),
    }
}

fn bytes<'s>(value: Object<'_, 's>, key: &'static str) -> Result<&'s [u8], InfoError> {
    match value {
        Object::Bytes(b) => Ok(b),
        _ => Err(InfoError::WrongType { key }),
    }
}

fn int(value: Object<'_, '_>, key: &'static str) -> Result<i64, InfoError> {
    match value {
        Object::Integer(i) => bencode::parse_i64(i).ok_or_else(|| InfoError::BadInteger {
            key,
            value: i.to_owned(),
        }),
        _ => Err(InfoError::WrongType { key }),
    }
}

fn uint(value: Object<'_, '_>, key: &'static str) -> Result<u64, InfoError> {
    match value {
        Object::Integer(i) => bencode::parse_u64(i).ok_or_else(|| InfoError::BadInteger {
            key,
            value: i.to_owned(),
        }),
        _ => Err(InfoError::WrongType { key }),
    }
}

#[cfg(test)]
mod tests;
