//! The persisted node list for warm restarts.
//!
//! Format: one bencoded dictionary, the same fields a KRPC `find_node` reply carries:
//! `d5:nodes<compact IPv4 node infos>6:nodes6<compact IPv6 node infos>e` (26 bytes per IPv4
//! node: 20-byte id, 4-byte IP, 2-byte port; 38 per IPv6 node). Both keys are optional. At most
//! [`MAX_SAVED_NODES`] nodes are written or read, and a file longer than [`MAX_NODES_FILE_LEN`]
//! is refused without being read whole. Writes are atomic: a temporary file next to the target,
//! fsync, rename, then fsync of the directory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::bencode::put_key_bytes;
use crate::compact::{NODE_V6_LEN, NodeInfo, decode_nodes, encode_nodes};

/// Most nodes a nodes file holds (writes keep the first ones, reads ignore the rest).
pub const MAX_SAVED_NODES: usize = 1024;

/// Longest nodes file accepted, in bytes (room for [`MAX_SAVED_NODES`] IPv6 nodes).
pub const MAX_NODES_FILE_LEN: u64 = (MAX_SAVED_NODES * NODE_V6_LEN + 64) as u64;

/// Why a nodes file could not be read or written. On load this is a warning: the node starts
/// with its bootstrap list only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodesFileError {
    /// The file does not exist (a first start).
    #[error("nodes file {path} is missing")]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// Reading, writing, syncing or renaming failed.
    #[error("nodes file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_NODES_FILE_LEN`].
    #[error("nodes file {path} is longer than {max} bytes")]
    TooLong {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// The contents are not a valid node list.
    #[error("nodes file {path} is corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where parsing stopped.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
}

/// Encodes `nodes` (at most [`MAX_SAVED_NODES`]) in the nodes-file format.
pub fn encode_nodes_file(nodes: &[NodeInfo]) -> Vec<u8> {
    let nodes = &nodes[..nodes.len().min(MAX_SAVED_NODES)];
    let mut out = vec![b'd'];
    let v4 = encode_nodes(nodes, false);
    let v6 = encode_nodes(nodes, true);
    if !v4.is_empty() {
        put_key_bytes(&mut out, "nodes", &v4);
    }
    if !v6.is_empty() {
        put_key_bytes(&mut out, "nodes6", &v6);
    }
    out.push(b'e');
    out
}

/// Decodes the nodes-file format; `Err((offset, reason))` when malformed.
pub fn decode_nodes_file(bytes: &[u8]) -> Result<Vec<NodeInfo>, (usize, &'static str)> {
    let mut pos = 0;
    if bytes.first() != Some(&b'd') {
        return Err((0, "not a bencoded dictionary"));
    }
    pos += 1;
    let mut out = Vec::new();
    let mut last_key: Option<&[u8]> = None;
    loop {
        match bytes.get(pos) {
            Some(b'e') if pos + 1 == bytes.len() => break,
            Some(b'e') => return Err((pos + 1, "trailing bytes")),
            None => return Err((pos, "truncated")),
            Some(_) => {}
        }
        let (key, next) = byte_string(bytes, pos)?;
        if last_key.is_some_and(|last| last >= key) {
            return Err((pos, "keys not sorted"));
        }
        last_key = Some(key);
        let (value, next) = byte_string(bytes, next)?;
        let v6 = match key {
            b"nodes" => false,
            b"nodes6" => true,
            _ => return Err((pos, "unknown key")),
        };
        let nodes = decode_nodes(value, v6).ok_or((next - value.len(), "bad node info length"))?;
        out.extend(nodes);
        pos = next;
    }
    out.truncate(MAX_SAVED_NODES);
    Ok(out)
}

/// Reads a byte string at `pos`; returns it and the position after it.
fn byte_string(bytes: &[u8], pos: usize) -> Result<(&[u8], usize), (usize, &'static str)> {
    let colon = bytes[pos..]
        .iter()
        .take(8)
        .position(|&b| b == b':')
        .ok_or((pos, "bad string length"))?;
    let digits = &bytes[pos..pos + colon];
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits[0] == b'0')
    {
        return Err((pos, "bad string length"));
    }
    let len: usize = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or((pos, "bad string length"))?;
    let start = pos + colon + 1;
    let end = start
        .checked_add(len)
        .filter(|&end| end <= bytes.len())
        .ok_or((start, "truncated"))?;
    Ok((&bytes[start..end], end))
}

/// Loads a nodes file (bounded read).
pub(crate) fn load(path: &Path) -> Result<Vec<NodeInfo>, NodesFileError> {
    let io = |source: std::io::Error| NodesFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(NodesFileError::Missing {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(io(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_NODES_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_NODES_FILE_LEN {
        return Err(NodesFileError::TooLong {
            path: path.to_path_buf(),
            max: MAX_NODES_FILE_LEN,
        });
    }
    decode_nodes_file(&bytes).map_err(|(offset, reason)| NodesFileError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    })
}

/// Writes a nodes file atomically (temp file, fsync, rename, directory fsync).
pub(crate) fn save(path: &Path, nodes: &[NodeInfo]) -> Result<(), NodesFileError> {
    let io = |source: std::io::Error| NodesFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = encode_nodes_file(nodes);
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir
            && let Ok(dir) = std::fs::File::open(dir)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Id;

    fn nodes(n: u8) -> Vec<NodeInfo> {
        (0..n)
            .map(|i| NodeInfo {
                id: Id([i; 20]),
                addr: if i % 2 == 0 {
                    format!("127.0.0.1:{}", 7000 + u16::from(i))
                        .parse()
                        .unwrap()
                } else {
                    format!("[::1]:{}", 7000 + u16::from(i)).parse().unwrap()
                },
            })
            .collect()
    }

    #[test]
    fn round_trip_both_families() {
        let list = nodes(6);
        let bytes = encode_nodes_file(&list);
        let mut back = decode_nodes_file(&bytes).unwrap();
        let mut want = list.clone();
        back.sort_by_key(|n| n.id);
        want.sort_by_key(|n| n.id);
        assert_eq!(back, want);
        assert_eq!(decode_nodes_file(b"de").unwrap(), vec![]);
    }

    #[test]
    fn corrupt_inputs_are_errors() {
        let good = encode_nodes_file(&nodes(4));
        for cut in 0..good.len() {
            assert!(decode_nodes_file(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(b'x');
        assert!(decode_nodes_file(&trailing).is_err());
        assert!(decode_nodes_file(b"d5:nodes3:abce").is_err());
        assert!(decode_nodes_file(b"d3:foo0:e").is_err());
        assert!(decode_nodes_file(b"d99999999999999:e").is_err());
        assert!(decode_nodes_file(b"d6:nodes60:5:nodes0:e").is_err());
    }

    #[test]
    fn save_and_load_atomically_with_bounds() {
        let dir = std::env::temp_dir().join(format!("swarmfs-dht-nf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodes.dat");
        assert!(matches!(load(&path), Err(NodesFileError::Missing { .. })));
        save(&path, &nodes(10)).unwrap();
        assert_eq!(load(&path).unwrap().len(), 10);
        let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temp file left behind");
        std::fs::write(&path, vec![b'9'; MAX_NODES_FILE_LEN as usize + 10]).unwrap();
        assert!(matches!(load(&path), Err(NodesFileError::TooLong { .. })));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(matches!(load(&path), Err(NodesFileError::Corrupt { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
