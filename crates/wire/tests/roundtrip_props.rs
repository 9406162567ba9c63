//! Property tests: everything encoded decodes back to itself, whole or fed in pieces.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use swarmfs_metainfo::InfoHash;
use swarmfs_wire::lsd::{LSD_IPV4, LSD_IPV6};
use swarmfs_wire::ut_metadata::{METADATA_PIECE_LEN, MetadataPiece, piece_len};
use swarmfs_wire::{
    BlockRequest, Extended, ExtensionHandshake, Handshake, LsdAnnounce, LsdCookie, Message,
    MessageDecoder, PeerId, PexFlags, PexMessage, Piece, Reserved, UtMetadata,
};

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn block() -> impl Strategy<Value = BlockRequest> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(index, begin, length)| BlockRequest {
        index,
        begin,
        length,
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        any::<u32>().prop_map(Message::Have),
        any::<u32>().prop_map(Message::Suggest),
        any::<u32>().prop_map(Message::AllowedFast),
        any::<u16>().prop_map(Message::Port),
        bytes(300).prop_map(Message::Bitfield),
        block().prop_map(Message::Request),
        block().prop_map(Message::Cancel),
        block().prop_map(Message::RejectRequest),
        (any::<u32>(), any::<u32>(), bytes(2000))
            .prop_map(|(index, begin, data)| Message::Piece(Piece { index, begin, data })),
        (any::<u8>(), bytes(300))
            .prop_map(|(id, payload)| Message::Extended(Extended { id, payload })),
    ]
}

fn ext_handshake() -> impl Strategy<Value = ExtensionHandshake> {
    let ip = prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ];
    (
        prop::collection::btree_map("[a-z_]{1,16}", any::<u8>(), 0..6),
        any::<Option<u16>>(),
        prop::option::of("\\PC{0,30}"),
        prop::option::of(ip),
        any::<Option<u32>>(),
        any::<Option<u32>>(),
    )
        .prop_map(
            |(extensions, listen_port, client, your_ip, request_queue, metadata_size)| {
                ExtensionHandshake {
                    extensions,
                    listen_port,
                    client,
                    your_ip,
                    request_queue,
                    metadata_size,
                }
            },
        )
}

fn pex() -> impl Strategy<Value = PexMessage> {
    let v4 = any::<([u8; 4], u16)>().prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port));
    let v6 = any::<([u8; 16], u16)>()
        .prop_map(|(ip, port)| SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0));
    let flags = any::<u8>().prop_map(PexFlags);
    (
        prop::collection::vec((v4.clone(), flags.clone()), 0..60),
        prop::collection::vec(v4, 0..60),
        prop::collection::vec((v6.clone(), flags), 0..20),
        prop::collection::vec(v6, 0..20),
    )
        .prop_map(|(added, dropped, added6, dropped6)| PexMessage {
            added,
            dropped,
            added6,
            dropped6,
        })
}

fn ut_metadata() -> impl Strategy<Value = UtMetadata> {
    let data = (
        1..=4 * METADATA_PIECE_LEN,
        any::<prop::sample::Index>(),
        any::<u8>(),
    )
        .prop_map(|(total_size, pick, fill)| {
            let count = total_size.div_ceil(METADATA_PIECE_LEN) as usize;
            let piece = pick.index(count) as u32;
            let len = piece_len(total_size, piece).unwrap() as usize;
            UtMetadata::Data(MetadataPiece {
                piece,
                total_size,
                data: Bytes::from(vec![fill; len]),
            })
        });
    prop_oneof![
        any::<u32>().prop_map(|piece| UtMetadata::Request { piece }),
        any::<u32>().prop_map(|piece| UtMetadata::Reject { piece }),
        data,
    ]
}

fn lsd() -> impl Strategy<Value = LsdAnnounce> {
    (
        prop_oneof![
            Just(LSD_IPV4),
            Just(LSD_IPV6),
            any::<([u8; 4], u16)>().prop_map(|(ip, port)| SocketAddr::from((ip, port)))
        ],
        1..=u16::MAX,
        prop::collection::vec(any::<[u8; 20]>().prop_map(InfoHash), 1..5),
        prop::option::of("[!-~]{1,40}"),
    )
        .prop_map(|(host, port, info_hashes, cookie)| LsdAnnounce {
            host,
            port: NonZeroU16::new(port).unwrap(),
            info_hashes,
            cookie: cookie.map(|c| LsdCookie::new(c).unwrap()),
        })
}

proptest! {
    #[test]
    fn messages_round_trip_whole_and_split(
        msgs in prop::collection::vec(message(), 1..12),
        split in any::<prop::sample::Index>(),
    ) {
        let mut stream = Vec::new();
        for m in &msgs {
            m.encode(&mut stream);
        }
        // Slice decoder, whole stream.
        let mut rest = &stream[..];
        let mut decoded = Vec::new();
        while let Some((m, used)) = Message::decode(rest).unwrap() {
            prop_assert_eq!(used, m.encoded_len());
            decoded.push(m);
            rest = &rest[used..];
        }
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&decoded, &msgs);
        // Zero-copy decoder, stream arriving in two pieces.
        let at = split.index(stream.len() + 1);
        let mut buf = BytesMut::from(&stream[..at]);
        let mut decoded = Vec::new();
        for chunk in [&stream[at..], &[]] {
            while let Some((m, _)) = MessageDecoder::new().decode(&mut buf).unwrap() {
                decoded.push(m);
            }
            buf.extend_from_slice(chunk);
        }
        prop_assert_eq!(decoded, msgs);
    }

    #[test]
    fn handshakes_round_trip(reserved in any::<[u8; 8]>(), ih in any::<[u8; 20]>(), id in any::<[u8; 20]>()) {
        let hs = Handshake { reserved: Reserved(reserved), info_hash: InfoHash(ih), peer_id: PeerId(id) };
        prop_assert_eq!(Handshake::decode(&hs.to_bytes()), Ok(Some((hs, 68))));
    }

    #[test]
    fn extension_handshakes_round_trip(hs in ext_handshake()) {
        let mut out = Vec::new();
        hs.encode(&mut out);
        prop_assert_eq!(ExtensionHandshake::decode(&out), Ok(hs));
    }

    #[test]
    fn pex_round_trips(msg in pex()) {
        let mut out = Vec::new();
        msg.encode(&mut out);
        prop_assert_eq!(PexMessage::decode(&out), Ok(msg));
    }

    #[test]
    fn ut_metadata_round_trips(msg in ut_metadata()) {
        let mut out = Vec::new();
        msg.encode(&mut out);
        prop_assert_eq!(UtMetadata::decode(out.into()), Ok(msg));
    }

    #[test]
    fn lsd_round_trips(announce in lsd()) {
        prop_assert_eq!(LsdAnnounce::parse(&announce.to_bytes()), Ok(announce));
    }
}
