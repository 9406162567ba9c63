//! The BEP 10 extension handshake: extended message 0, a bencoded dictionary.
//!
//! BEP 10: "Any of the entries in the dictionary are optional", and "unknown names [...]
//! should be ignored". swarmfs reads `m`, `p`, `v`, `yourip`, `reqq` and `metadata_size` and
//! skips every other key. Like libtorrent, it also treats a known key whose value has the
//! wrong type or range as absent instead of dropping the peer. What must hold is the
//! structure: one well-formed bencoded dictionary (sorted keys, as bencode requires) and
//! nothing after it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU8;

use bendy::decoding::Object;
use bytes::{BufMut, Bytes};

use crate::bencode;
use crate::message::{Extended, Message};

/// The `m` name of BEP 9 metadata exchange.
pub const UT_METADATA: &str = "ut_metadata";
/// The `m` name of BEP 11 peer exchange.
pub const UT_PEX: &str = "ut_pex";

/// Why bytes are not an extension handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtensionError {
    /// Not one well-formed bencoded dictionary.
    #[error("extension handshake is not a bencoded dictionary: {reason}")]
    Bencode {
        /// What is wrong, from the bencode decoder.
        reason: String,
    },
    /// Bytes follow the dictionary.
    #[error("{len} bytes after the extension handshake dictionary")]
    TrailingBytes {
        /// How many.
        len: usize,
    },
}

/// A BEP 10 extension handshake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionHandshake {
    /// `m`: extension name to the id the sender wants to receive it under; 0 means the sender
    /// disabled it. Entries whose id is not an integer in 0..=255, or whose name is not
    /// UTF-8, are skipped.
    pub extensions: BTreeMap<String, u8>,
    /// `p`: the sender's TCP listen port.
    pub listen_port: Option<u16>,
    /// `v`: the sender's client name and version (invalid UTF-8 replaced).
    pub client: Option<String>,
    /// `yourip`: the receiver's address as the sender sees it (4 or 16 bytes on the wire).
    pub your_ip: Option<IpAddr>,
    /// `reqq`: how many outstanding requests the sender queues.
    pub request_queue: Option<u32>,
    /// `metadata_size`: size of the info dictionary in bytes (BEP 9).
    pub metadata_size: Option<u32>,
}

impl ExtensionHandshake {
    /// The id under which the sender wants to receive extension `name`, if it supports it
    /// and has not disabled it.
    pub fn extension_id(&self, name: &str) -> Option<NonZeroU8> {
        self.extensions.get(name).copied().and_then(NonZeroU8::new)
    }

    /// Decodes the payload of extended message 0 (after the extended id byte).
    pub fn decode(payload: &[u8]) -> Result<Self, ExtensionError> {
        let bencode_err = |reason: String| ExtensionError::Bencode { reason };
        let len = bencode::leading_dict_len(payload).map_err(bencode_err)?;
        if len != payload.len() {
            return Err(ExtensionError::TrailingBytes {
                len: payload.len() - len,
            });
        }
        let mut out = Self::default();
        let mut dec = bencode::decoder(payload);
        let Some(Object::Dict(mut dict)) = dec
            .next_object()
            .map_err(|e| e.to_string())
            .map_err(bencode_err)?
        else {
            return Err(bencode_err("not a dictionary".to_owned()));
        };
        while let Some((key, value)) = dict.next_pair().map_err(|e| bencode_err(e.to_string()))? {
            match key {
                b"m" => {
                    if let Object::Dict(mut m) = value {
                        while let Some((name, id)) =
                            m.next_pair().map_err(|e| bencode_err(e.to_string()))?
                        {
                            let id = bencode::int(id).and_then(|i| u8::try_from(i).ok());
                            if let (Ok(name), Some(id)) = (std::str::from_utf8(name), id) {
                                out.extensions.insert(name.to_owned(), id);
                            }
                        }
                    }
                }
                b"p" => out.listen_port = bencode::int(value).and_then(|i| i.try_into().ok()),
                b"v" => {
                    out.client =
                        bencode::bytes(value).map(|b| String::from_utf8_lossy(b).into_owned());
                }
                b"yourip" => out.your_ip = bencode::bytes(value).and_then(ip_from_octets),
                b"reqq" => {
                    out.request_queue = bencode::int(value).and_then(|i| i.try_into().ok());
                }
                b"metadata_size" => {
                    out.metadata_size = bencode::int(value).and_then(|i| i.try_into().ok());
                }
                _ => {} // BEP 10: unknown keys are ignored (the value is skipped on drop)
            }
        }
        Ok(out)
    }

    /// Writes the bencoded dictionary (the payload of extended message 0).
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.to_vec());
    }

    /// The extended message carrying this handshake.
    pub fn to_message(&self) -> Message {
        Message::Extended(Extended {
            id: Extended::HANDSHAKE_ID,
            payload: Bytes::from(self.to_vec()),
        })
    }

    fn to_vec(&self) -> Vec<u8> {
        bencode::encode_dict(|d| {
            // Keys in byte order, as bencode requires.
            d.emit_pair(b"m", &self.extensions)?;
            if let Some(size) = self.metadata_size {
                d.emit_pair(b"metadata_size", size)?;
            }
            if let Some(port) = self.listen_port {
                d.emit_pair(b"p", port)?;
            }
            if let Some(reqq) = self.request_queue {
                d.emit_pair(b"reqq", reqq)?;
            }
            if let Some(client) = &self.client {
                d.emit_pair(b"v", client)?;
            }
            if let Some(ip) = self.your_ip {
                let octets = match ip {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets().to_vec(),
                };
                d.emit_pair_with(b"yourip", |e| e.emit_bytes(&octets))?;
            }
            Ok(())
        })
    }
}

fn ip_from_octets(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        Some(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(b) {
        Some(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> ExtensionHandshake {
        ExtensionHandshake {
            extensions: [(UT_METADATA.to_owned(), 3), (UT_PEX.to_owned(), 0)]
                .into_iter()
                .collect(),
            listen_port: Some(6881),
            client: Some("swarmfs 0.1".to_owned()),
            your_ip: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
            request_queue: Some(250),
            metadata_size: Some(1018),
        }
    }

    #[test]
    fn encodes_every_field_in_key_order() {
        let mut out = Vec::new();
        full().encode(&mut out);
        assert_eq!(
            out,
            b"d1:md11:ut_metadatai3e6:ut_pexi0ee13:metadata_sizei1018e1:pi6881e\
              4:reqqi250e1:v11:swarmfs 0.16:yourip4:\x7f\0\0\x01e"
        );
    }

    #[test]
    fn round_trips_full_and_empty() {
        for hs in [full(), ExtensionHandshake::default()] {
            let mut out = Vec::new();
            hs.encode(&mut out);
            assert_eq!(ExtensionHandshake::decode(&out), Ok(hs));
        }
        let v6 = ExtensionHandshake {
            your_ip: Some("::1".parse().unwrap()),
            ..Default::default()
        };
        let Message::Extended(e) = v6.to_message() else {
            panic!("not extended")
        };
        assert_eq!(e.id, 0);
        assert_eq!(ExtensionHandshake::decode(&e.payload), Ok(v6));
    }

    #[test]
    fn disabled_and_missing_extensions_have_no_id() {
        let hs = full();
        assert_eq!(hs.extension_id(UT_METADATA), NonZeroU8::new(3));
        assert_eq!(hs.extension_id(UT_PEX), None, "0 means disabled");
        assert_eq!(hs.extension_id("lt_donthave"), None);
    }

    #[test]
    fn skips_unknown_keys_and_ill_typed_values() {
        let hs = ExtensionHandshake::decode(
            b"d1:ai1e1:md11:ut_metadatai2e1:xi300e1:yi-1e1:z1:qe\
              13:metadata_size3:abc1:pi70000e4:reqql1:xe3:zzzd1:ali1eeee",
        )
        .unwrap();
        assert_eq!(
            hs.extensions.into_iter().collect::<Vec<_>>(),
            vec![("ut_metadata".to_owned(), 2)]
        );
        assert_eq!(hs.metadata_size, None);
        assert_eq!(hs.listen_port, None, "70000 is not a port");
        assert_eq!(hs.request_queue, None);
        let odd_ip = ExtensionHandshake::decode(b"d6:yourip3:abce").unwrap();
        assert_eq!(odd_ip.your_ip, None);
        let lossy = ExtensionHandshake::decode(b"d1:v2:a\xffe").unwrap();
        assert_eq!(lossy.client.as_deref(), Some("a\u{fffd}"));
    }

    #[test]
    fn rejects_malformed_structure() {
        for bad in [
            &b""[..],
            b"le",
            b"i1e",
            b"d1:pi1e",
            b"d1:pi1e1:ai1ee", // unsorted keys
            b"d1:pi1e1:pi1ee", // duplicate key
            b"d1:pe",          // missing value
            b"d1:pi01ee",      // leading zero
        ] {
            assert!(
                matches!(
                    ExtensionHandshake::decode(bad),
                    Err(ExtensionError::Bencode { .. })
                ),
                "{:?}",
                bad.escape_ascii().to_string()
            );
        }
        assert_eq!(
            ExtensionHandshake::decode(b"dexx"),
            Err(ExtensionError::TrailingBytes { len: 2 })
        );
        let deep = format!("d1:x{}{}e", "l".repeat(100), "e".repeat(100));
        assert!(ExtensionHandshake::decode(deep.as_bytes()).is_err());
    }
}
