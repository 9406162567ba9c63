//! Just enough of a .torrent reader for the benchmarks (the real one lives in swarmfs-metainfo).

use swarmfs_metainfo::Geometry;
use swarmfs_storage::{PieceHashes, StoragePath};

pub(crate) enum Value<'a> {
    Int,
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    Dict(Vec<(&'a [u8], Value<'a>)>),
}

impl<'a> Value<'a> {
    fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Dict(d) => d.iter().find(|(k, _)| *k == key.as_bytes()).map(|(_, v)| v),
            _ => None,
        }
    }
    fn bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

fn parse<'a>(b: &'a [u8], pos: &mut usize) -> Option<Value<'a>> {
    match *b.get(*pos)? {
        b'i' => {
            let end = *pos + b[*pos..].iter().position(|&c| c == b'e')?;
            *pos = end + 1;
            Some(Value::Int)
        }
        b'l' => {
            *pos += 1;
            let mut v = Vec::new();
            while *b.get(*pos)? != b'e' {
                v.push(parse(b, pos)?);
            }
            *pos += 1;
            Some(Value::List(v))
        }
        b'd' => {
            *pos += 1;
            let mut v = Vec::new();
            while *b.get(*pos)? != b'e' {
                let Value::Bytes(k) = parse(b, pos)? else {
                    return None;
                };
                v.push((k, parse(b, pos)?));
            }
            *pos += 1;
            Some(Value::Dict(v))
        }
        _ => {
            let colon = *pos + b[*pos..].iter().position(|&c| c == b':')?;
            let len: usize = std::str::from_utf8(&b[*pos..colon]).ok()?.parse().ok()?;
            let s = b.get(colon + 1..colon + 1 + len)?;
            *pos = colon + 1 + len;
            Some(Value::Bytes(s))
        }
    }
}

/// Integer of `key` in `dict`, re-parsed from the raw bytes (the tree keeps no ints).
fn int_of(v: &Value<'_>, key: &str, raw: &[u8]) -> Option<u64> {
    let _ = v.get(key)?;
    let needle = format!("{}:{}i", key.len(), key);
    let at = raw
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())?;
    let start = at + needle.len();
    let end = start + raw[start..].iter().position(|&c| c == b'e')?;
    std::str::from_utf8(&raw[start..end]).ok()?.parse().ok()
}

pub(crate) struct Torrent {
    pub(crate) geometry: Geometry,
    pub(crate) paths: Vec<StoragePath>,
    pub(crate) hashes: PieceHashes,
}

/// Reads a v1 .torrent: geometry, file paths (under the torrent's name) and piece hashes.
pub(crate) fn read_torrent(raw: &[u8]) -> Torrent {
    let root = parse(raw, &mut 0).expect("bencode");
    let info = root.get("info").expect("info dict");
    let name = std::str::from_utf8(info.get("name").and_then(Value::bytes).expect("name"))
        .expect("utf-8 name");
    let piece_length = int_of(info, "piece length", raw).expect("piece length");
    let pieces = info.get("pieces").and_then(Value::bytes).expect("pieces");
    let (lens, paths): (Vec<u64>, Vec<StoragePath>) = match info.get("files") {
        None => (
            vec![int_of(info, "length", raw).expect("length")],
            vec![StoragePath::new([name]).expect("path")],
        ),
        Some(Value::List(files)) => {
            // Every file dict has "length" then "path"; collect lengths in order.
            let mut lens = Vec::new();
            let mut rest = raw;
            let needle = b"6:lengthi";
            while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
                let start = at + needle.len();
                let end = start + rest[start..].iter().position(|&c| c == b'e').expect("int");
                lens.push(
                    std::str::from_utf8(&rest[start..end])
                        .expect("int")
                        .parse::<u64>()
                        .expect("int"),
                );
                rest = &rest[end..];
            }
            assert_eq!(lens.len(), files.len(), "one length per file");
            let paths = files
                .iter()
                .map(|f| {
                    let Some(Value::List(parts)) = f.get("path") else {
                        panic!("file without path");
                    };
                    let mut comps = vec![name.to_owned()];
                    for p in parts {
                        comps.push(
                            String::from_utf8(p.bytes().expect("path part").to_vec())
                                .expect("utf-8"),
                        );
                    }
                    StoragePath::new(comps).expect("path")
                })
                .collect();
            (lens, paths)
        }
        Some(_) => panic!("bad files list"),
    };
    let geometry = Geometry::new(piece_length, &lens).expect("geometry");
    let hashes = PieceHashes::from_concatenated(pieces, &geometry).expect("hashes");
    Torrent {
        geometry,
        paths,
        hashes,
    }
}
