//! Fuzz target bodies, one per decoder; `fuzz/fuzz_targets/<name>.rs` calls them, and this
//! crate's tests run them over `fuzz/seeds/` and random inputs on stable.
//!
//! Each body decodes, and on success re-encodes and checks that the encoding decodes to the
//! same value. A body panics only when a check fails, which is a bug.

use bytes::{Bytes, BytesMut};

use crate::{
    DecodeError, ExtensionHandshake, HANDSHAKE_LEN, Handshake, LsdAnnounce, Message,
    MessageDecoder, PexMessage, UtMetadata,
};

/// BEP 3 handshake: the encoding is byte-exact and every shorter prefix needs more bytes.
pub fn handshake(data: &[u8]) {
    let result = Handshake::decode(data);
    if let Ok(Some((hs, used))) = result {
        assert_eq!(used, HANDSHAKE_LEN);
        assert_eq!(hs.to_bytes()[..], data[..used]);
        for cut in 0..used {
            assert_eq!(Handshake::decode(&data[..cut]), Ok(None));
        }
    }
}

/// Peer message stream: the zero-copy and slice decoders agree, every message re-encodes to
/// exactly the bytes it came from, and feeding the input in two pieces changes nothing.
pub fn message(data: &[u8]) {
    // A small limit for some inputs, so that the limit check is exercised with short inputs.
    let dec = match data.first() {
        Some(b) if b & 1 == 1 => MessageDecoder::with_max_frame_len(1 << 10),
        _ => MessageDecoder::new(),
    };
    let whole = decode_stream(dec, data, data.len());
    let split = data
        .get(1)
        .map_or(0, |&b| usize::from(b) * data.len() / 255);
    assert_eq!(decode_stream(dec, data, split), whole);
    let mut offset = 0;
    for msg in &whole.0 {
        let n = msg.encoded_len();
        assert_eq!(msg.to_bytes()[..], data[offset..offset + n], "{msg:?}");
        assert_eq!(
            dec.decode_slice(&data[offset..]),
            Ok(Some((msg.clone(), n)))
        );
        offset += n;
    }
    if let Err(e) = &whole.1 {
        assert_eq!(dec.decode_slice(&data[offset..]), Err(e.clone()));
    }
}

/// Decodes `data` through a [`BytesMut`] that first receives `data[..split]`, then the rest.
fn decode_stream(
    dec: MessageDecoder,
    data: &[u8],
    split: usize,
) -> (Vec<Message>, Result<(), DecodeError>) {
    let mut buf = BytesMut::from(&data[..split]);
    let mut msgs = Vec::new();
    for chunk in [&data[split..], &[]] {
        loop {
            match dec.decode(&mut buf) {
                Ok(Some((msg, _))) => msgs.push(msg),
                Ok(None) => break,
                Err(e) => return (msgs, Err(e)),
            }
        }
        buf.extend_from_slice(chunk);
    }
    (msgs, Ok(()))
}

/// BEP 10 extension handshake payload.
pub fn extension_handshake(data: &[u8]) {
    if let Ok(hs) = ExtensionHandshake::decode(data) {
        let mut out = Vec::new();
        hs.encode(&mut out);
        assert_eq!(ExtensionHandshake::decode(&out), Ok(hs));
    }
}

/// BEP 9 ut_metadata payload.
pub fn ut_metadata(data: &[u8]) {
    if let Ok(msg) = UtMetadata::decode(Bytes::copy_from_slice(data)) {
        let mut out = Vec::new();
        msg.encode(&mut out);
        assert_eq!(UtMetadata::decode(out.into()), Ok(msg));
    }
}

/// BEP 11 ut_pex payload.
pub fn ut_pex(data: &[u8]) {
    if let Ok(msg) = PexMessage::decode(data) {
        let mut out = Vec::new();
        msg.encode(&mut out);
        assert_eq!(PexMessage::decode(&out), Ok(msg));
    }
}

/// BEP 14 LSD datagram.
pub fn lsd(data: &[u8]) {
    if let Ok(announce) = LsdAnnounce::parse(data) {
        let out = announce.to_bytes();
        assert_eq!(LsdAnnounce::parse(&out), Ok(announce));
    }
}
