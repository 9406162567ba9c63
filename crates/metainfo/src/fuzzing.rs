//! Fuzz bodies, shared by the cargo-fuzz targets in `fuzz/` and by this crate's tests (which run
//! them over `fuzz/seeds/` and generated inputs on stable).
//!
//! Each decodes arbitrary bytes; on success it re-encodes and asserts the round trip, and it
//! walks the decoded value. A panic here is a bug.

use std::borrow::Cow;

use crate::bencode::sort_keys;
use crate::info::Info;
use crate::infohash::InfoHash;
use crate::magnet::Magnet;
use crate::torrent::Torrent;

/// Parses a magnet URI; a parsed one must format to a string that parses to the same value and
/// formats identically.
pub fn magnet(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = Magnet::parse(s) else {
        return;
    };
    let formatted = m.to_string();
    let again = Magnet::parse(&formatted)
        .unwrap_or_else(|e| panic!("formatted magnet {formatted:?} does not parse: {e}"));
    assert_eq!(m, again, "magnet round trip changed the value");
    assert_eq!(
        again.to_string(),
        formatted,
        "magnet formatting is not stable"
    );
    if let Some(t) = m.mutable() {
        let _ = t.dht_target();
    }
}

/// Parses `data` as a `.torrent` file and as a bare info dictionary; whatever parses must write
/// back to the same bytes (or, when keys were out of order, to bytes that parse to the same
/// value) and describe a consistent geometry.
pub fn torrent(data: &[u8]) {
    if let Ok(t) = Torrent::from_bytes(data) {
        // Keys out of order are read; writing sorts the outer dictionary (info stays as read).
        if let Cow::Borrowed(_) = sort_keys(data) {
            assert_eq!(
                t.to_bytes(),
                data,
                "torrent did not round-trip byte for byte"
            );
        }
        check_info(t.info());
        let _ = (t.announce(), t.comment(), t.created_by(), t.creation_date());
        let _ = (t.url_list(), t.announce_list());
        let again = Torrent::from_bytes(&t.to_bytes()).expect("written torrent parses");
        assert_eq!(again, t);
    }
    if let Ok(info) = Info::from_bytes(data) {
        assert_eq!(info.as_bytes(), data);
        check_info(&info);
    }
}

fn check_info(info: &Info) {
    assert_eq!(info.info_hash(), InfoHash::of_info_bytes(info.as_bytes()));
    let g = info.geometry();
    assert_eq!(g.piece_count() as usize, info.piece_hashes().len());
    assert_eq!(g.file_count(), info.files().len());
    assert!(info.total_length() > 0);
    let mut offset = 0u64;
    for (i, f) in info.files().iter().enumerate() {
        assert_eq!(f.offset(), offset);
        offset += f.length();
        assert!(info.storage_path(i).is_some());
    }
    assert_eq!(offset, info.total_length());
    let last = info.last_piece_length();
    assert!(last > 0 && last <= info.piece_length());
    // Spans of the first and last piece cover them exactly.
    for p in [g.piece(0), g.piece(g.piece_count() - 1)]
        .into_iter()
        .flatten()
    {
        let covered: u64 = g.spans(p, 0, u32::MAX).map(|s| u64::from(s.len)).sum();
        assert_eq!(covered, u64::from(g.piece_len(p)));
        assert!(info.piece_hash(p).is_some());
    }
}
