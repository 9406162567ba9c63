//! Decoding KRPC datagrams with bendy. Unknown keys are ignored; every malformed datagram is a
//! typed [`DecodeError`], never a panic, and nothing is allocated beyond the datagram's size.

use std::net::SocketAddr;

use bendy::decoding::{Decoder, Object};

use crate::bencode::{self, MAX_DEPTH};
use crate::compact::{self, NodeInfo};
use crate::error::{DecodeError, ErrorCode, FieldError};
use crate::id::Id;
use crate::message::{
    Body, ErrorReply, Message, MutablePut, PutRequest, Query, QueryKind, Response,
};

/// Largest datagram decoded (a KRPC message with a 1000-byte BEP 44 value is about 1.5 KiB).
pub const MAX_DATAGRAM_LEN: usize = 8192;
/// Longest transaction id accepted (BEP 5 sets no length; clients use 2 to 8 bytes).
pub const MAX_TRANSACTION_ID_LEN: usize = 64;
/// Longest token accepted (libtorrent sends 4 bytes, bittorrent-dht 20).
pub const MAX_TOKEN_LEN: usize = 128;
/// Longest method name kept for an error 204 reply.
const MAX_METHOD_LEN: usize = 64;

impl Message {
    /// Decodes one datagram.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        if bytes.len() > MAX_DATAGRAM_LEN {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: MAX_DATAGRAM_LEN,
            });
        }
        let mut decoder = Decoder::new(bytes).with_max_depth(MAX_DEPTH);
        let Some(Object::Dict(mut dict)) = decoder.next_object()? else {
            return Err(DecodeError::NotADict);
        };
        let mut top = Top::default();
        while let Some((key, value)) = dict.next_pair()? {
            match key {
                b"a" => top.args = Some(lift(read_fields(value, "a"))?),
                b"r" => top.response = Some(lift(read_fields(value, "r"))?),
                b"e" => top.error = Some(lift(read_error(value))?),
                b"t" => top.transaction_id = Some(bytes_field(value, "t")?.to_vec()),
                b"y" => top.y = Some(bytes_field(value, "y")?.to_vec()),
                b"q" => top.method = Some(bytes_field(value, "q")?.to_vec()),
                b"v" => {
                    if let Object::Bytes(version) = value {
                        top.version = Some(version.to_vec());
                    }
                }
                b"ro" => {
                    if let Object::Integer(flag) = value {
                        top.read_only = bencode::parse_int(flag) == Some(1);
                    }
                }
                b"ip" => {
                    if let Object::Bytes(ip) = value {
                        top.ip = compact::read_addr(ip);
                    }
                }
                _ => {}
            }
        }
        drop(dict);
        top.into_message()
    }
}

#[derive(Default)]
struct Top {
    args: Option<Result<Fields, FieldError>>,
    response: Option<Result<Fields, FieldError>>,
    error: Option<Result<ErrorReply, FieldError>>,
    transaction_id: Option<Vec<u8>>,
    y: Option<Vec<u8>>,
    method: Option<Vec<u8>>,
    version: Option<Vec<u8>>,
    read_only: bool,
    ip: Option<SocketAddr>,
}

impl Top {
    fn into_message(self) -> Result<Message, DecodeError> {
        let transaction_id = self
            .transaction_id
            .ok_or(FieldError::Missing { key: "t" })?;
        if transaction_id.len() > MAX_TRANSACTION_ID_LEN {
            return Err(FieldError::BadLength {
                key: "t",
                len: transaction_id.len(),
            }
            .into());
        }
        let y = self.y.ok_or(FieldError::Missing { key: "y" })?;
        let body = match y.as_slice() {
            b"q" => {
                let invalid = |error| DecodeError::InvalidQuery {
                    transaction_id: transaction_id.clone(),
                    error,
                };
                let method = self
                    .method
                    .ok_or_else(|| invalid(FieldError::Missing { key: "q" }))?;
                let args = self
                    .args
                    .ok_or_else(|| invalid(FieldError::Missing { key: "a" }))?
                    .map_err(invalid)?;
                Body::Query(args.into_query(method).map_err(invalid)?)
            }
            b"r" => Body::Response(
                self.response
                    .ok_or(FieldError::Missing { key: "r" })??
                    .into_response()?,
            ),
            b"e" => Body::Error(self.error.ok_or(FieldError::Missing { key: "e" })??),
            other => {
                return Err(DecodeError::UnknownType {
                    y: other.iter().copied().take(8).collect(),
                });
            }
        };
        Ok(Message {
            transaction_id,
            version: self.version,
            read_only: self.read_only,
            requester_ip: self.ip,
            body,
        })
    }
}

/// Fields of an `a` or `r` dictionary.
#[derive(Default)]
struct Fields {
    id: Option<Id>,
    target: Option<Id>,
    info_hash: Option<Id>,
    port: Option<u16>,
    implied_port: bool,
    token: Option<Vec<u8>>,
    nodes: Vec<NodeInfo>,
    nodes6: Vec<NodeInfo>,
    values: Vec<SocketAddr>,
    value: Option<Vec<u8>>,
    key: Option<[u8; 32]>,
    signature: Option<[u8; 64]>,
    seq: Option<i64>,
    salt: Option<Vec<u8>>,
    cas: Option<i64>,
}

impl Fields {
    fn into_query(self, mut method: Vec<u8>) -> Result<Query, FieldError> {
        let id = self.id.ok_or(FieldError::Missing { key: "id" })?;
        let kind = match method.as_slice() {
            b"ping" => QueryKind::Ping,
            b"find_node" => QueryKind::FindNode {
                target: self.target.ok_or(FieldError::Missing { key: "target" })?,
            },
            b"get_peers" => QueryKind::GetPeers {
                info_hash: self
                    .info_hash
                    .ok_or(FieldError::Missing { key: "info_hash" })?,
            },
            b"announce_peer" => {
                let port = match (self.port, self.implied_port) {
                    (Some(port), _) => port,
                    (None, true) => 0,
                    (None, false) => return Err(FieldError::Missing { key: "port" }),
                };
                QueryKind::AnnouncePeer {
                    info_hash: self
                        .info_hash
                        .ok_or(FieldError::Missing { key: "info_hash" })?,
                    port,
                    implied_port: self.implied_port,
                    token: self.token.ok_or(FieldError::Missing { key: "token" })?,
                }
            }
            b"get" => QueryKind::Get {
                target: self.target.ok_or(FieldError::Missing { key: "target" })?,
                seq: self.seq,
            },
            b"put" => {
                let mutable = match self.key {
                    Some(key) => Some(MutablePut {
                        key,
                        signature: self.signature.ok_or(FieldError::Missing { key: "sig" })?,
                        seq: self.seq.ok_or(FieldError::Missing { key: "seq" })?,
                    }),
                    None => None,
                };
                QueryKind::Put(PutRequest {
                    token: self.token.ok_or(FieldError::Missing { key: "token" })?,
                    value: self.value.ok_or(FieldError::Missing { key: "v" })?,
                    mutable,
                    salt: self.salt.unwrap_or_default(),
                    cas: self.cas,
                })
            }
            _ => {
                method.truncate(MAX_METHOD_LEN);
                QueryKind::Unknown { method }
            }
        };
        Ok(Query { id, kind })
    }

    fn into_response(self) -> Result<Response, FieldError> {
        Ok(Response {
            id: self.id.ok_or(FieldError::Missing { key: "id" })?,
            nodes: self.nodes,
            nodes6: self.nodes6,
            values: self.values,
            token: self.token,
            value: self.value,
            key: self.key,
            signature: self.signature,
            seq: self.seq,
        })
    }
}

/// Either a structural bencode error (drop the datagram) or a field error (maybe answer 203).
enum Fail {
    Bencode(bendy::decoding::Error),
    Field(FieldError),
}

impl From<bendy::decoding::Error> for Fail {
    fn from(error: bendy::decoding::Error) -> Self {
        Fail::Bencode(error)
    }
}

impl From<FieldError> for Fail {
    fn from(error: FieldError) -> Self {
        Fail::Field(error)
    }
}

/// Keeps a field error for later (the transaction id may come after it), fails on bad bencode.
fn lift<T>(result: Result<T, Fail>) -> Result<Result<T, FieldError>, DecodeError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(Fail::Field(error)) => Ok(Err(error)),
        Err(Fail::Bencode(error)) => Err(error.into()),
    }
}

fn read_fields(object: Object<'_, '_>, name: &'static str) -> Result<Fields, Fail> {
    let Object::Dict(mut dict) = object else {
        return Err(FieldError::WrongType { key: name }.into());
    };
    let mut fields = Fields::default();
    while let Some((key, value)) = dict.next_pair()? {
        match key {
            b"id" => fields.id = Some(id_field(value, "id")?),
            b"target" => fields.target = Some(id_field(value, "target")?),
            b"info_hash" => fields.info_hash = Some(id_field(value, "info_hash")?),
            b"port" => {
                let port = int_field(value, "port")?;
                fields.port =
                    Some(u16::try_from(port).map_err(|_| FieldError::OutOfRange { key: "port" })?);
            }
            b"implied_port" => fields.implied_port = int_field(value, "implied_port")? != 0,
            b"token" => {
                let token = bytes_field(value, "token")?;
                if token.len() > MAX_TOKEN_LEN {
                    return Err(FieldError::BadLength {
                        key: "token",
                        len: token.len(),
                    }
                    .into());
                }
                fields.token = Some(token.to_vec());
            }
            b"nodes" => {
                let raw = bytes_field(value, "nodes")?;
                fields.nodes = compact::decode_nodes(raw, false).ok_or(FieldError::BadLength {
                    key: "nodes",
                    len: raw.len(),
                })?;
            }
            b"nodes6" => {
                let raw = bytes_field(value, "nodes6")?;
                fields.nodes6 = compact::decode_nodes(raw, true).ok_or(FieldError::BadLength {
                    key: "nodes6",
                    len: raw.len(),
                })?;
            }
            b"values" => {
                let Object::List(mut list) = value else {
                    return Err(FieldError::WrongType { key: "values" }.into());
                };
                while let Some(item) = list.next_object()? {
                    let raw = bytes_field(item, "values")?;
                    let peer = compact::read_addr(raw).ok_or(FieldError::BadLength {
                        key: "values",
                        len: raw.len(),
                    })?;
                    fields.values.push(peer);
                }
            }
            b"v" => fields.value = Some(bencode::raw_object(value)?),
            b"k" => fields.key = Some(array_field(value, "k")?),
            b"sig" => fields.signature = Some(array_field(value, "sig")?),
            b"seq" => fields.seq = Some(int_field(value, "seq")?),
            b"cas" => fields.cas = Some(int_field(value, "cas")?),
            b"salt" => fields.salt = Some(bytes_field(value, "salt")?.to_vec()),
            _ => {}
        }
    }
    Ok(fields)
}

fn read_error(object: Object<'_, '_>) -> Result<ErrorReply, Fail> {
    let Object::List(mut list) = object else {
        return Err(FieldError::WrongType { key: "e" }.into());
    };
    let code = match list.next_object()? {
        Some(item) => int_field(item, "e")?,
        None => return Err(FieldError::Missing { key: "e" }.into()),
    };
    let message = match list.next_object()? {
        Some(Object::Bytes(text)) => String::from_utf8_lossy(text).into_owned(),
        _ => String::new(),
    };
    Ok(ErrorReply {
        code: ErrorCode::from_code(code),
        message,
    })
}

fn bytes_field<'a>(object: Object<'_, 'a>, key: &'static str) -> Result<&'a [u8], FieldError> {
    match object {
        Object::Bytes(bytes) => Ok(bytes),
        _ => Err(FieldError::WrongType { key }),
    }
}

fn int_field(object: Object<'_, '_>, key: &'static str) -> Result<i64, FieldError> {
    match object {
        Object::Integer(text) => bencode::parse_int(text).ok_or(FieldError::OutOfRange { key }),
        _ => Err(FieldError::WrongType { key }),
    }
}

fn id_field(object: Object<'_, '_>, key: &'static str) -> Result<Id, FieldError> {
    array_field(object, key).map(Id)
}

fn array_field<const N: usize>(
    object: Object<'_, '_>,
    key: &'static str,
) -> Result<[u8; N], FieldError> {
    let bytes = bytes_field(object, key)?;
    bytes.try_into().map_err(|_| FieldError::BadLength {
        key,
        len: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_bep5_ping_example() {
        let msg =
            Message::decode(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe").unwrap();
        assert_eq!(msg.transaction_id, b"aa");
        let Body::Query(query) = &msg.body else {
            panic!("not a query: {msg:?}")
        };
        assert_eq!(query.kind, QueryKind::Ping);
        assert_eq!(query.id, Id(*b"abcdefghij0123456789"));
        assert_eq!(
            msg.to_bytes(),
            b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
        );
    }

    #[test]
    fn bad_query_args_carry_the_transaction_id() {
        let err = Message::decode(b"d1:ad2:id3:abce1:q4:ping1:t2:xy1:y1:qe").unwrap_err();
        assert_eq!(
            err,
            DecodeError::InvalidQuery {
                transaction_id: b"xy".to_vec(),
                error: FieldError::BadLength { key: "id", len: 3 },
            }
        );
    }

    #[test]
    fn malformed_inputs_are_errors() {
        for input in [
            &b""[..],
            b"i1e",
            b"d1:t2:aae",
            b"d1:t2:aa1:y1:ze",
            b"d1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:r",
            b"d1:rd2:id20:abcdefghij01234567895:nodes3:abce1:t2:aa1:y1:re",
            b"d1:el1:xe1:t2:aa1:y1:ee",
        ] {
            assert!(Message::decode(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn error_reply_round_trip() {
        let bytes = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
        let msg = Message::decode(bytes).unwrap();
        assert_eq!(
            msg.body,
            Body::Error(ErrorReply {
                code: ErrorCode::Generic,
                message: "A Generic Error Ocurred".into(),
            })
        );
        assert_eq!(msg.to_bytes(), bytes);
    }
}
