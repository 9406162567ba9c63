//! Payloads of the `swarmfs/v1/` extension messages, and the base64 that carries file bytes.
//!
//! Every extension request carries a `requestId` chosen by the client (1 to
//! [`MAX_KEY_LEN`](super::MAX_KEY_LEN) bytes); the server answers each one exactly once, with
//! `swarmfs/v1/failed` or with the reply its type names, carrying the same `requestId`.

use serde::{Deserialize, Serialize};

use super::TorrentInfo;

/// The namespace every extension message type starts with. A breaking change to any of them
/// moves all of them to `swarmfs/v2/`; a server answers types of a version it does not speak
/// with a `warning` naming the type.
pub const EXT_PREFIX: &str = "swarmfs/v1/";

/// The most bytes one `swarmfs/v1/read-file` returns (base64 keeps the reply under
/// [`MAX_MESSAGE_LEN`](super::MAX_MESSAGE_LEN)); read larger files in several requests or
/// through `create-server`.
pub const MAX_READ_LEN: u64 = 32 * 1024;

/// The most entries one `swarmfs/v1/dir` lists; `truncated` says when more exist.
pub const MAX_DIR_ENTRIES: usize = 256;

/// The most torrents one `swarmfs/v1/torrents` lists; `truncated` says when more exist.
pub const MAX_LIST_ENTRIES: usize = 256;

/// One torrent of `swarmfs/v1/torrents`: its props (`infoHash` always set) and server-side state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TorrentEntry {
    /// Name, info hash, length, files (once known), progress counters.
    #[serde(flatten)]
    pub torrent: TorrentInfo,
    /// Whether the metadata (name, files) is known.
    pub has_metadata: bool,
    /// Whether it is paused (through `swarmfs/v1/pause`).
    pub paused: bool,
    /// Whether every wanted piece is verified.
    pub done: bool,
    /// How many `torrentKey`s of how many clients follow it.
    pub subscribers: usize,
    /// Kept when no client follows it (added with `opts.keep`).
    #[serde(default)]
    pub kept: bool,
}

impl TorrentEntry {
    /// The torrent's info hash (hex).
    pub fn info_hash(&self) -> &str {
        self.torrent.info_hash.as_deref().unwrap_or("")
    }
}

/// One entry of `swarmfs/v1/dir`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirEntryInfo {
    /// One path component.
    pub name: String,
    /// A file's length; for a directory, the bytes of every file below it.
    pub len: u64,
    /// Whether it is a directory.
    pub is_dir: bool,
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` on any other character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_tail_length() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
        assert!(base64_decode("Zm9v!").is_none());
    }
}
