use super::*;

const HEX: &str = "69949071c4f1e7f8e9e4a6b4ea1e3eb4f4ba0bf7";
const KEY: &str = "77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548";

fn ih() -> InfoHash {
    InfoHash::parse(HEX).unwrap()
}

#[test]
fn btih_hex_and_base32() {
    let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}")).unwrap();
    assert_eq!(m.info_hash(), Some(ih()));
    assert_eq!(m.mutable(), None);
    let b32 = ih().to_base32();
    let m2 = Magnet::parse(&format!("MAGNET:?xt=URN:BTIH:{}", b32.to_lowercase())).unwrap();
    assert_eq!(m2, m);
    assert_eq!(m.to_string(), format!("magnet:?xt=urn:btih:{HEX}"));
    assert_eq!(Magnet::from_info_hash(ih()), m);
}

#[test]
fn every_known_field() {
    let uri = format!(
        "magnet:?xt=urn:btih:{HEX}&dn=My+File%20%C3%A9&tr=udp%3A%2F%2Ft.example%3A80&tr=http://t2/a\
         &ws=http%3A%2F%2Fw.example%2Ff&x.pe=127.0.0.1:6881&x.pe=[::1]:6882&x.pe=peer.example:7000\
         &so=0-3&foo"
    );
    let m: Magnet = uri.parse().unwrap();
    assert_eq!(m.display_name.as_deref(), Some("My File é"));
    assert_eq!(m.trackers, ["udp://t.example:80", "http://t2/a"]);
    assert_eq!(m.web_seeds, ["http://w.example/f"]);
    assert_eq!(
        m.peers,
        [
            PeerAddr::Ip("127.0.0.1:6881".parse().unwrap()),
            PeerAddr::Ip("[::1]:6882".parse().unwrap()),
            PeerAddr::Host {
                host: "peer.example".into(),
                port: 7000
            },
        ]
    );
    assert_eq!(
        m.extra,
        [("so".into(), "0-3".into()), ("foo".into(), String::new())]
    );
    let formatted = m.to_string();
    assert_eq!(
        formatted,
        format!(
            "magnet:?xt=urn:btih:{HEX}&dn=My%20File%20%C3%A9&tr=udp://t.example:80&tr=http://t2/a\
             &ws=http://w.example/f&x.pe=127.0.0.1:6881&x.pe=[::1]:6882&x.pe=peer.example:7000\
             &so=0-3&foo="
        )
    );
    assert_eq!(Magnet::parse(&formatted).unwrap(), m);
}

#[test]
fn unknown_xt_and_xs_are_kept() {
    let uri = format!(
        "magnet:?xt=urn:btmh:1220abcd&xt=urn:btih:{HEX}&xs=http://example/t.torrent&x.y=%26%3D"
    );
    let m = Magnet::parse(&uri).unwrap();
    assert_eq!(m.info_hash(), Some(ih()));
    assert_eq!(
        m.extra,
        [
            ("xt".into(), "urn:btmh:1220abcd".into()),
            ("xs".into(), "http://example/t.torrent".into()),
            ("x.y".into(), "&=".into()),
        ]
    );
    assert_eq!(Magnet::parse(&m.to_string()).unwrap(), m);
}

#[test]
fn mutable_magnets() {
    let m = Magnet::parse(&format!("magnet:?xs=urn:btpk:{KEY}&s=666f6f626172")).unwrap();
    let t = m.mutable().unwrap();
    assert_eq!(hex::encode(t.public_key()), KEY);
    assert_eq!(t.salt(), b"foobar");
    assert_eq!(m.info_hash(), None);
    assert_eq!(
        m.to_string(),
        format!("magnet:?xs=urn:btpk:{KEY}&s=666f6f626172")
    );
    // BEP 44 test vector 2: target of this key with salt "foobar".
    assert_eq!(
        hex::encode(t.dht_target()),
        "411eba73b6f087ca51a3795d9c8c938d365e32c1"
    );
    let unsalted = Magnet::parse(&format!("magnet:?xs=urn:btpk:{KEY}")).unwrap();
    assert_eq!(unsalted.mutable().unwrap().salt(), b"");
    assert_eq!(
        hex::encode(unsalted.mutable().unwrap().dht_target()),
        "4a533d47ec9c7d95b1ad75f576cffc641853b750"
    );
    assert_eq!(unsalted.to_string(), format!("magnet:?xs=urn:btpk:{KEY}"));
    assert!(MutableTarget::new([0; 32], &[0; MAX_SALT_LEN]).is_some());
    assert!(MutableTarget::new([0; 32], &[0; MAX_SALT_LEN + 1]).is_none());
}

#[test]
fn every_error() {
    use MagnetError::*;
    let e = |s: &str| Magnet::parse(s).unwrap_err();
    assert_eq!(e("http://x"), NotMagnet);
    assert_eq!(e("magnet:"), NotMagnet);
    assert_eq!(e("magnet:?"), NoTarget);
    assert_eq!(e("magnet:?dn=x"), NoTarget);
    let long = format!(
        "magnet:?xt=urn:btih:{HEX}&dn={}",
        "a".repeat(MAX_MAGNET_LEN)
    );
    assert!(matches!(e(&long), TooLong { .. }));
    assert_eq!(
        e("magnet:?xt=urn:btih:abc"),
        BadInfoHash(InfoHashParseError::BadLength { len: 3 })
    );
    assert_eq!(
        e(&format!("magnet:?xt=urn:btih:{}", "g".repeat(40))),
        BadInfoHash(InfoHashParseError::BadCharacters)
    );
    assert_eq!(
        e(&format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{HEX}")),
        Duplicate { key: "xt".into() }
    );
    assert_eq!(
        e(&format!("magnet:?xt=urn:btih:{HEX}&dn=a&dn=b")),
        Duplicate { key: "dn".into() }
    );
    assert_eq!(
        e(&format!("magnet:?xs=urn:btpk:{KEY}&xs=urn:btpk:{KEY}")),
        Duplicate { key: "xs".into() }
    );
    assert_eq!(
        e(&format!("magnet:?xs=urn:btpk:{KEY}&s=00&s=01")),
        Duplicate { key: "s".into() }
    );
    assert_eq!(
        e("magnet:?xs=urn:btpk:abcd"),
        BadPublicKey {
            value: "abcd".into()
        }
    );
    assert_eq!(
        e(&format!("magnet:?xs=urn:btpk:{KEY}&s=xyz")),
        BadSalt {
            value: "xyz".into()
        }
    );
    assert!(matches!(
        e(&format!("magnet:?xs=urn:btpk:{KEY}&s={}", "00".repeat(65))),
        BadSalt { .. }
    ));
    assert_eq!(
        e(&format!("magnet:?xt=urn:btih:{HEX}&s=00")),
        SaltWithoutKey
    );
    assert_eq!(e("magnet:?s=00"), SaltWithoutKey);
    assert_eq!(
        e(&format!("magnet:?xt=urn:btih:{HEX}&xs=urn:btpk:{KEY}")),
        BothTargets
    );
    assert_eq!(
        e(&format!("magnet:?xt=urn:btih:{HEX}&dn=%zz")),
        Percent {
            key: "dn".into(),
            source: PercentError::BadEscape { offset: 0 }
        }
    );
    assert_eq!(
        e(&format!("magnet:?xt=urn:btih:{HEX}&dn=%FF")),
        Percent {
            key: "dn".into(),
            source: PercentError::NotUtf8
        }
    );
    assert_eq!(
        e(&format!("magnet:?xt=urn:btih:{HEX}&%=1")),
        Percent {
            key: "%".into(),
            source: PercentError::BadEscape { offset: 0 }
        }
    );
}

#[test]
fn peer_addresses() {
    for good in ["1.2.3.4:1", "[::1]:65535", "[fe80::1%2]:80", "a-b.c_d:9"] {
        assert!(good.parse::<PeerAddr>().is_ok(), "{good}");
    }
    for bad in [
        "1.2.3.4",
        "1.2.3.4:0",
        "1.2.3.4:65536",
        "::1:80",
        "[::1]",
        "[::1]:0",
        ":80",
        "host:",
        "ho st:80",
        "999.1.1.1:80",
        "host/x:80",
    ] {
        assert_eq!(
            bad.parse::<PeerAddr>(),
            Err(MagnetError::BadPeer { value: bad.into() }),
            "{bad}"
        );
    }
    let long = format!("{}:80", "a".repeat(254));
    assert!(long.parse::<PeerAddr>().is_err());
    assert_eq!(
        PeerAddr::Host {
            host: "h".into(),
            port: 1
        }
        .to_string(),
        "h:1"
    );
    let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&x.pe=bad")).unwrap_err();
    assert_eq!(
        m,
        MagnetError::BadPeer {
            value: "bad".into()
        }
    );
}

#[test]
fn empty_segments_and_bare_keys() {
    let m = Magnet::parse(&format!("magnet:?&&xt=urn:btih:{HEX}&&=v&k")).unwrap();
    assert_eq!(
        m.extra,
        [(String::new(), "v".into()), ("k".into(), String::new())]
    );
    assert_eq!(Magnet::parse(&m.to_string()).unwrap(), m);
}
