//! Small helpers over `bendy` shared by the bencoded extension messages.

use bendy::decoding::{Decoder, Object};
use bendy::encoding::{Encoder, SortedDictEncoder};

/// Nesting limit for peer-supplied bencode: the messages we read are two levels deep; unknown
/// keys get some room, but not enough to make decoding costly.
const MAX_DEPTH: usize = 16;

/// A decoder over peer-supplied bytes, with [`MAX_DEPTH`].
pub(crate) fn decoder(buf: &[u8]) -> Decoder<'_> {
    Decoder::new(buf).with_max_depth(MAX_DEPTH)
}

/// The length of the bencoded dictionary at the start of `buf`, its structure (syntax, sorted
/// keys, depth) checked. The error is a reason for a `Bencode { reason }` error variant.
pub(crate) fn leading_dict_len(buf: &[u8]) -> Result<usize, String> {
    let mut dec = decoder(buf);
    match dec.next_object().map_err(|e| e.to_string())? {
        Some(Object::Dict(d)) => d.into_raw().map(<[u8]>::len).map_err(|e| e.to_string()),
        Some(_) => Err("not a dictionary".to_owned()),
        None => Err("empty input".to_owned()),
    }
}

/// The value of a bencoded integer, if it fits an i64.
pub(crate) fn int(obj: Object<'_, '_>) -> Option<i64> {
    match obj {
        Object::Integer(s) => s.parse().ok(),
        _ => None,
    }
}

/// The bytes of a bencoded byte string.
pub(crate) fn bytes<'a>(obj: Object<'_, 'a>) -> Option<&'a [u8]> {
    match obj {
        Object::Bytes(b) => Some(b),
        _ => None,
    }
}

/// Encodes one dictionary with `bendy`, the pairs written in sorted key order by `content`.
pub(crate) fn encode_dict(
    content: impl FnOnce(&mut SortedDictEncoder<'_>) -> Result<(), bendy::encoding::Error>,
) -> Vec<u8> {
    let mut enc = Encoder::new();
    let res = enc.emit_dict(|mut d| content(&mut d));
    // Our encoders write keys in sorted order and nest two levels deep, which is all that
    // bendy's encoder checks, so neither call can fail; the tests encode every field.
    #[allow(clippy::expect_used)]
    {
        res.expect("bencode keys written in sorted order");
        enc.get_output().expect("one complete dictionary written")
    }
}
