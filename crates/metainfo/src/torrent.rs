//! `.torrent` files (BEP 3 metainfo): the info dictionary plus optional top-level keys.
//!
//! swarmfs is trackerless, so nothing outside `info` is required. Every other top-level key
//! (`announce`, `url-list`, `creation date`, `comment`, `nodes`, ...) is kept as its raw bencoded
//! value, so reading then writing a file gives back the same bytes; typed accessors read and write
//! the common ones.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bendy::decoding::Object;

use crate::bencode::{self, Writer};
use crate::info::{Info, InfoError, Limits};
use crate::infohash::InfoHash;

/// A `.torrent` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torrent {
    info: Info,
    /// Top-level keys other than `info`, with their raw bencoded values, in key order.
    fields: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Why a `.torrent` file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TorrentError {
    /// Larger than [`Limits::max_torrent_len`].
    #[error("torrent file is {len} bytes, more than {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not well-formed bencode (including unsorted or duplicate keys, or nesting too deep).
    #[error("invalid bencode: {reason}")]
    Bencode {
        /// What the decoder said.
        reason: String,
    },
    /// Not a bencoded dictionary, or bytes follow it.
    #[error("not a bencoded dictionary")]
    NotADict,
    /// No `info` key.
    #[error("missing info dictionary")]
    MissingInfo,
    /// `info` is not a dictionary.
    #[error("info is not a dictionary")]
    InfoNotADict,
    /// The info dictionary is invalid.
    #[error("info: {0}")]
    Info(#[source] InfoError),
    /// A value given to [`Torrent::set_field`] is not exactly one bencoded value, or the key is
    /// `info`.
    #[error("invalid raw field {key:?}")]
    BadField {
        /// The key, lossily decoded.
        key: String,
    },
}

impl From<InfoError> for TorrentError {
    fn from(e: InfoError) -> Self {
        TorrentError::Info(e)
    }
}

impl Torrent {
    /// A torrent holding only `info`.
    pub fn new(info: Info) -> Self {
        Self {
            info,
            fields: BTreeMap::new(),
        }
    }

    /// Parses a `.torrent` file with the default [`Limits`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TorrentError> {
        Self::from_bytes_with_limits(bytes, &Limits::default())
    }

    /// Parses a `.torrent` file. Bencode must be well-formed with no trailing bytes; dictionary
    /// keys out of order are accepted (the info-hash is over the info bytes as written).
    pub fn from_bytes_with_limits(bytes: &[u8], limits: &Limits) -> Result<Self, TorrentError> {
        if bytes.len() > limits.max_torrent_len {
            return Err(TorrentError::TooLarge {
                len: bytes.len(),
                max: limits.max_torrent_len,
            });
        }
        let sorted = bencode::sort_keys(bytes);
        let mut decoder = bencode::decoder(&sorted);
        let mut parsed_info: Option<Info> = None;
        let mut fields = BTreeMap::new();
        let used = match decoder.next_object() {
            Ok(Some(Object::Dict(mut dict))) => {
                while let Some((key, value)) = dict.next_pair().map_err(bad_bencode)? {
                    if key == b"info" {
                        let Object::Dict(info) = value else {
                            return Err(TorrentError::InfoNotADict);
                        };
                        // Parsed in place, keeping the exact bytes of the value: the info-hash is
                        // their SHA-1.
                        parsed_info = Some(Info::from_dict(info, limits)?);
                    } else {
                        let raw = bencode::raw_value(value).map_err(bad_bencode)?;
                        fields.insert(key.to_vec(), raw);
                    }
                }
                dict.into_raw().map_err(bad_bencode)?.len()
            }
            Ok(_) => return Err(TorrentError::NotADict),
            Err(e) => return Err(bad_bencode(e)),
        };
        if used != sorted.len() {
            return Err(TorrentError::NotADict);
        }
        let mut info = parsed_info.ok_or(TorrentError::MissingInfo)?;
        if let Cow::Owned(_) = sorted {
            // Some keys were out of order: the info-hash is that of the info bytes as written.
            let span = bencode::dict_value_span(bytes, b"info").ok_or(TorrentError::MissingInfo)?;
            info = Info::from_bytes_with_limits(&bytes[span], limits)?;
        }
        Ok(Self { info, fields })
    }

    /// The bencoded file: keys in order, `info` as its original bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.begin_dict();
        let mut info_written = false;
        for (key, raw) in &self.fields {
            if !info_written && key.as_slice() > b"info".as_slice() {
                w.bytes(b"info").raw(self.info.as_bytes());
                info_written = true;
            }
            w.bytes(key).raw(raw);
        }
        if !info_written {
            w.bytes(b"info").raw(self.info.as_bytes());
        }
        w.end();
        w.into_bytes()
    }

    /// The info dictionary.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// The info dictionary, dropping the rest.
    pub fn into_info(self) -> Info {
        self.info
    }

    /// SHA-1 of the info dictionary's bytes.
    pub fn info_hash(&self) -> InfoHash {
        self.info.info_hash()
    }

    /// The raw bencoded value of a top-level key other than `info`.
    pub fn field(&self, key: &[u8]) -> Option<&[u8]> {
        self.fields.get(key).map(Vec::as_slice)
    }

    /// Every top-level key other than `info` with its raw bencoded value, in key order.
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// Sets a top-level key to a raw bencoded value, which must be exactly one well-formed value.
    pub fn set_field(&mut self, key: &[u8], raw: Vec<u8>) -> Result<(), TorrentError> {
        if key == b"info" || !bencode::is_single_value(&raw) {
            return Err(TorrentError::BadField {
                key: String::from_utf8_lossy(key).into_owned(),
            });
        }
        self.fields.insert(key.to_vec(), raw);
        Ok(())
    }

    /// Removes a top-level key, returning its raw value.
    pub fn remove_field(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        self.fields.remove(key)
    }

    /// `announce`, when present and a UTF-8 string.
    pub fn announce(&self) -> Option<&str> {
        self.string_field(b"announce")
    }

    /// Sets or removes `announce`.
    pub fn set_announce(&mut self, url: Option<&str>) {
        self.set_string(b"announce", url);
    }

    /// `comment`, when present and a UTF-8 string.
    pub fn comment(&self) -> Option<&str> {
        self.string_field(b"comment")
    }

    /// Sets or removes `comment`.
    pub fn set_comment(&mut self, comment: Option<&str>) {
        self.set_string(b"comment", comment);
    }

    /// `created by`, when present and a UTF-8 string.
    pub fn created_by(&self) -> Option<&str> {
        self.string_field(b"created by")
    }

    /// Sets or removes `created by`.
    pub fn set_created_by(&mut self, created_by: Option<&str>) {
        self.set_string(b"created by", created_by);
    }

    /// `creation date` (seconds since the Unix epoch), when present and an integer.
    pub fn creation_date(&self) -> Option<i64> {
        let raw = self.fields.get(b"creation date".as_slice())?;
        let mut d = bencode::decoder(raw);
        match d.next_object().ok()?? {
            Object::Integer(i) => bencode::parse_i64(i),
            _ => None,
        }
    }

    /// Sets or removes `creation date`.
    pub fn set_creation_date(&mut self, secs: Option<i64>) {
        match secs {
            Some(s) => {
                let mut w = Writer::new();
                w.int(s);
                self.fields
                    .insert(b"creation date".to_vec(), w.into_bytes());
            }
            None => {
                self.fields.remove(b"creation date".as_slice());
            }
        }
    }

    /// `url-list` (BEP 19 web seeds): one string or a list; non-string items are skipped.
    pub fn url_list(&self) -> Vec<String> {
        self.string_list(b"url-list")
    }

    /// Sets `url-list` to a list of URLs, or removes it when `urls` is empty.
    pub fn set_url_list<S: AsRef<str>>(&mut self, urls: &[S]) {
        if urls.is_empty() {
            self.fields.remove(b"url-list".as_slice());
            return;
        }
        let mut w = Writer::new();
        w.begin_list();
        for u in urls {
            w.bytes(u.as_ref().as_bytes());
        }
        w.end();
        self.fields.insert(b"url-list".to_vec(), w.into_bytes());
    }

    /// `announce-list` (BEP 12): tiers of tracker URLs; malformed entries are skipped.
    pub fn announce_list(&self) -> Vec<Vec<String>> {
        let Some(raw) = self.fields.get(b"announce-list".as_slice()) else {
            return Vec::new();
        };
        let mut d = bencode::decoder(raw);
        let mut tiers = Vec::new();
        if let Ok(Some(Object::List(mut list))) = d.next_object() {
            while let Ok(Some(tier)) = list.next_object() {
                if let Object::List(mut urls) = tier {
                    let mut t = Vec::new();
                    while let Ok(Some(u)) = urls.next_object() {
                        t.extend(utf8(u));
                    }
                    tiers.push(t);
                }
            }
        }
        tiers
    }

    fn string_field(&self, key: &[u8]) -> Option<&str> {
        let raw = self.fields.get(key)?;
        std::str::from_utf8(bencode::as_single_bytes(raw)?).ok()
    }

    fn set_string(&mut self, key: &[u8], value: Option<&str>) {
        match value {
            Some(v) => {
                let mut w = Writer::new();
                w.bytes(v.as_bytes());
                self.fields.insert(key.to_vec(), w.into_bytes());
            }
            None => {
                self.fields.remove(key);
            }
        }
    }

    fn string_list(&self, key: &[u8]) -> Vec<String> {
        let Some(raw) = self.fields.get(key) else {
            return Vec::new();
        };
        let mut d = bencode::decoder(raw);
        let mut out = Vec::new();
        match d.next_object() {
            Ok(Some(Object::Bytes(b))) => {
                if let Ok(s) = std::str::from_utf8(b) {
                    out.push(s.to_owned());
                }
            }
            Ok(Some(Object::List(mut list))) => {
                while let Ok(Some(item)) = list.next_object() {
                    out.extend(utf8(item));
                }
            }
            _ => {}
        }
        out
    }
}

/// A byte-string object as an owned string, when it is one and is UTF-8.
fn utf8(object: Object<'_, '_>) -> Option<String> {
    match object {
        Object::Bytes(b) => std::str::from_utf8(b).ok().map(str::to_owned),
        _ => None,
    }
}

fn bad_bencode(e: bendy::decoding::Error) -> TorrentError {
    TorrentError::Bencode {
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests;
