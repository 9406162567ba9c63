//! Known-answer tests against bytes captured from libtorrent 2.1.1, webtorrent 3.0.21 and
//! bittorrent-lsd 2.0.3 (copies of `../shared/fixtures/bep9/` and `lsd/`; see the README
//! there). `_out` files are what the capture script (extension id 3 for ut_metadata) sent,
//! `_in` files what the seeder answered.

use std::net::{IpAddr, Ipv4Addr};

use bytes::{Bytes, BytesMut};
use swarmfs_metainfo::InfoHash;
use swarmfs_wire::extension::{UT_METADATA, UT_PEX};
use swarmfs_wire::lsd::LSD_IPV4;
use swarmfs_wire::{
    ExtensionHandshake, Handshake, LsdAnnounce, Message, MessageDecoder, UtMetadata,
};

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/",
            $path
        ))
    };
}

/// What one seeder sent.
struct Seeder {
    name: &'static str,
    handshake: &'static [u8],
    info: &'static [u8],
    data_in: &'static [u8],
}

const SEEDERS: [Seeder; 2] = [
    Seeder {
        name: "libtorrent",
        handshake: fixture!("bep9/libtorrent_handshake_in.bin"),
        info: fixture!("bep9/libtorrent_info.bin"),
        data_in: fixture!("bep9/libtorrent_ut_metadata_data_in.bin"),
    },
    Seeder {
        name: "webtorrent",
        handshake: fixture!("bep9/webtorrent_handshake_in.bin"),
        info: fixture!("bep9/webtorrent_info.bin"),
        data_in: fixture!("bep9/webtorrent_ut_metadata_data_in.bin"),
    },
];

/// Decodes one whole message frame, checking it takes every byte.
fn frame(bytes: &[u8]) -> Message {
    let (msg, used) = Message::decode(bytes).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    msg
}

fn extended(bytes: &[u8]) -> (u8, Bytes) {
    match frame(bytes) {
        Message::Extended(e) => (e.id, e.payload),
        other => panic!("not an extended message: {other:?}"),
    }
}

#[test]
fn handshakes_decode_and_re_encode_byte_exact() {
    // (bytes, peer id prefix, extension protocol, fast, dht)
    type Case = (&'static [u8], &'static [u8; 8], bool, bool, bool);
    let cases: [Case; 4] = [
        (
            fixture!("bep9/libtorrent_handshake_in.bin"),
            b"-LT2110-",
            true,
            true,
            true,
        ),
        (
            fixture!("bep9/webtorrent_handshake_in.bin"),
            b"-WW0300-",
            true,
            true,
            false,
        ),
        (
            fixture!("bep9/libtorrent_handshake_out.bin"),
            b"-IL0001-",
            true,
            false,
            false,
        ),
        (
            fixture!("bep9/webtorrent_handshake_out.bin"),
            b"-IL0001-",
            true,
            false,
            false,
        ),
    ];
    for (bytes, prefix, ext, fast, dht) in cases {
        let (hs, used) = Handshake::decode(bytes).unwrap().unwrap();
        assert_eq!(used, 68);
        assert_eq!(&hs.peer_id.0[..8], prefix);
        assert_eq!(hs.reserved.extension_protocol(), ext, "{prefix:?}");
        assert_eq!(hs.reserved.fast(), fast, "{prefix:?}");
        assert_eq!(hs.reserved.dht(), dht, "{prefix:?}");
        assert_eq!(hs.to_bytes()[..], bytes[..]);
    }
}

#[test]
fn handshake_info_hash_is_the_sha1_of_the_served_metadata() {
    for Seeder {
        name,
        handshake,
        info,
        ..
    } in SEEDERS
    {
        let (hs, _) = Handshake::decode(handshake).unwrap().unwrap();
        assert_eq!(hs.info_hash, InfoHash::of_info_bytes(info), "{name}");
    }
}

#[test]
fn libtorrent_extension_handshake() {
    let (id, payload) = extended(fixture!("bep9/libtorrent_ext_handshake_in.bin"));
    assert_eq!(id, 0);
    let hs = ExtensionHandshake::decode(&payload).unwrap();
    let m: Vec<(&str, u8)> = hs
        .extensions
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        m,
        [
            ("lt_donthave", 7),
            ("share_mode", 8),
            ("upload_only", 3),
            ("ut_holepunch", 4),
            ("ut_metadata", 2),
            ("ut_pex", 1),
        ]
    );
    assert_eq!(hs.extension_id(UT_METADATA).map(|n| n.get()), Some(2));
    assert_eq!(hs.metadata_size, Some(1018));
    assert_eq!(hs.request_queue, Some(2000));
    assert_eq!(hs.client.as_deref(), Some("interop-lab/libtorrent-2.1.1.0"));
    assert_eq!(hs.your_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(hs.listen_port, None);
}

#[test]
fn webtorrent_extension_handshake() {
    let (id, payload) = extended(fixture!("bep9/webtorrent_ext_handshake_in.bin"));
    assert_eq!(id, 0);
    let hs = ExtensionHandshake::decode(&payload).unwrap();
    assert_eq!(hs.extension_id(UT_METADATA).map(|n| n.get()), Some(1));
    assert_eq!(hs.extension_id(UT_PEX).map(|n| n.get()), Some(2));
    assert_eq!(hs.extensions.get("lt_donthave"), Some(&3));
    assert_eq!(hs.metadata_size, Some(1018));
    assert_eq!(hs.client, None);
}

#[test]
fn our_extension_handshake_encodes_like_the_capture() {
    for bytes in [
        &fixture!("bep9/libtorrent_ext_handshake_out.bin")[..],
        fixture!("bep9/webtorrent_ext_handshake_out.bin"),
    ] {
        let (_, payload) = extended(bytes);
        let hs = ExtensionHandshake::decode(&payload).unwrap();
        assert_eq!(hs.extensions.get(UT_METADATA), Some(&3));
        assert_eq!(hs.request_queue, Some(250));
        assert_eq!(hs.client.as_deref(), Some("interop-lab bep9_probe"));
        assert_eq!(hs.to_message().to_bytes()[..], bytes[..]);
    }
}

#[test]
fn ut_metadata_requests_encode_like_the_capture() {
    for (bytes, peer_id) in [
        (
            &fixture!("bep9/libtorrent_ut_metadata_request_out.bin")[..],
            2,
        ),
        (fixture!("bep9/webtorrent_ut_metadata_request_out.bin"), 1),
    ] {
        let (id, payload) = extended(bytes);
        assert_eq!(id, peer_id, "sent under the seeder's ut_metadata id");
        let msg = UtMetadata::decode(payload).unwrap();
        assert_eq!(msg, UtMetadata::Request { piece: 0 });
        assert_eq!(msg.to_message(peer_id).to_bytes()[..], bytes[..]);
    }
}

#[test]
fn ut_metadata_data_carries_the_info_dict_zero_copy() {
    for Seeder {
        name,
        info,
        data_in,
        ..
    } in SEEDERS
    {
        let mut buf = BytesMut::from(data_in);
        let (msg, used) = MessageDecoder::new().decode(&mut buf).unwrap().unwrap();
        assert_eq!(used, data_in.len());
        let Message::Extended(ext) = msg else {
            panic!("{name}: not extended")
        };
        assert_eq!(ext.id, 3, "{name}: sent under our ut_metadata id");
        let payload_start = ext.payload.as_ptr();
        let UtMetadata::Data(piece) = UtMetadata::decode(ext.payload.clone()).unwrap() else {
            panic!("{name}: not data")
        };
        assert_eq!((piece.piece, piece.total_size), (0, 1018), "{name}");
        assert_eq!(&piece.data[..], info, "{name}");
        let offset = piece.data.as_ptr() as usize - payload_start as usize;
        assert_eq!(
            offset + info.len(),
            ext.payload.len(),
            "{name}: a view, not a copy"
        );
        let again = UtMetadata::Data(piece).to_message(3).to_bytes();
        assert_eq!(again[..], data_in[..], "{name}");
    }
}

#[test]
fn a_captured_session_decodes_as_one_stream() {
    let mut stream = BytesMut::new();
    stream.extend_from_slice(fixture!("bep9/libtorrent_ext_handshake_in.bin"));
    stream.extend_from_slice(fixture!("bep9/libtorrent_ut_metadata_data_in.bin"));
    let total = stream.len();
    let mut kinds = Vec::new();
    let mut consumed = 0;
    // Feed it byte by byte, as a slow socket would.
    let mut buf = BytesMut::new();
    for b in stream {
        buf.extend_from_slice(&[b]);
        while let Some((msg, used)) = MessageDecoder::new().decode(&mut buf).unwrap() {
            consumed += used;
            kinds.push(match msg {
                Message::Extended(e) => e.id,
                other => panic!("unexpected {other:?}"),
            });
        }
    }
    assert_eq!(kinds, [0, 3]);
    assert_eq!(consumed, total);
}

#[test]
fn lsd_announces_parse_and_re_format_byte_exact() {
    let lt = fixture!("lsd/lsd_announce_libtorrent.bin");
    let a = LsdAnnounce::parse(lt).unwrap();
    assert_eq!(a.host, LSD_IPV4);
    assert_eq!(a.port.get(), 43463);
    assert_eq!(
        a.info_hashes,
        [InfoHash::parse("d515506ab613be84506f3c461612191f1e711805").unwrap()]
    );
    assert_eq!(a.cookie.as_ref().map(|c| c.as_str()), Some("5ddc3232"));
    assert_eq!(a.to_bytes(), lt);

    let node = fixture!("lsd/lsd_announce_bittorrent-lsd.bin");
    let b = LsdAnnounce::parse(node).unwrap();
    assert_eq!(b.port.get(), 7777);
    assert_eq!(
        b.info_hashes,
        [InfoHash::parse("0123456789abcdef0123456789abcdef01234567").unwrap()]
    );
    assert_eq!(
        b.cookie.as_ref().map(|c| c.as_str()),
        Some("bittorrent-lsd-2d4c4142303030312d6c61622d6c7364")
    );
    assert_eq!(b.to_bytes(), node);
}
