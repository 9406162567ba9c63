//! Property tests: magnet format/parse and `.torrent` write/read round trips.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use swarmfs_metainfo::{
    InfoHash, Magnet, MagnetTarget, MutableTarget, PeerAddr, SafePath, Torrent, TorrentBuilder,
};

fn peer() -> impl Strategy<Value = PeerAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), 1..=u16::MAX)
            .prop_map(|(ip, port)| PeerAddr::Ip(SocketAddr::from((Ipv4Addr::from(ip), port)))),
        (any::<[u8; 16]>(), 1..=u16::MAX)
            .prop_map(|(ip, port)| PeerAddr::Ip(SocketAddr::from((Ipv6Addr::from(ip), port)))),
        (
            "[a-z][a-z0-9-]{0,10}(\\.[a-z0-9_-]{1,8}){0,3}",
            1..=u16::MAX
        )
            .prop_map(|(host, port)| PeerAddr::Host { host, port }),
    ]
}

fn target() -> impl Strategy<Value = MagnetTarget> {
    prop_oneof![
        any::<[u8; 20]>().prop_map(|h| MagnetTarget::InfoHash(InfoHash(h))),
        (
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 0..=64)
        )
            .prop_map(|(k, salt)| {
                MagnetTarget::Mutable(MutableTarget::new(k, &salt).expect("salt within bound"))
            }),
    ]
}

/// Keys the parser interprets; extra parameters must avoid them.
fn is_known(key: &str, value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    matches!(key, "dn" | "tr" | "ws" | "x.pe" | "s")
        || (key == "xt" && v.starts_with("urn:btih:"))
        || (key == "xs" && v.starts_with("urn:btpk:"))
}

fn magnet() -> impl Strategy<Value = Magnet> {
    (
        target(),
        proptest::option::of("\\PC{0,20}"),
        proptest::collection::vec("\\PC{0,30}", 0..3),
        proptest::collection::vec("\\PC{0,30}", 0..3),
        proptest::collection::vec(peer(), 0..4),
        proptest::collection::vec(("[a-z.]{0,5}|xt|xs", "\\PC{0,15}"), 0..4),
    )
        .prop_map(|(target, dn, tr, ws, peers, extra)| {
            let mut m = Magnet::with_target(target);
            m.display_name = dn;
            m.trackers = tr;
            m.web_seeds = ws;
            m.peers = peers;
            m.extra = extra.into_iter().filter(|(k, v)| !is_known(k, v)).collect();
            m
        })
}

proptest! {
    #[test]
    fn magnet_format_then_parse(m in magnet()) {
        let s = m.to_string();
        let back = Magnet::parse(&s).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.to_string(), s);
    }

    #[test]
    fn magnet_parse_never_panics(s in "magnet:\\?[ -~]{0,200}") {
        let _ = Magnet::parse(&s);
    }
}

/// A file list: unique paths, no file under another file's path.
fn file_list() -> impl Strategy<Value = Vec<(SafePath, u64)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec("[a-zA-Z0-9 ._-]{1,8}|é|日本", 1..4),
            0u64..200_000,
        ),
        1..8,
    )
    .prop_filter_map("needs safe, non-colliding paths", |files| {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (components, len) in files {
            let path = SafePath::from_components(&components).ok()?;
            seen.insert(path.clone());
            out.push((path, len));
        }
        let v: Vec<_> = seen.iter().collect();
        let ok = v.len() == out.len() && v.windows(2).all(|w| !w[0].is_ancestor_of(w[1]));
        (ok && out.iter().map(|f| f.1).sum::<u64>() > 0).then_some(out)
    })
}

/// Writes a `.torrent` by hand, keys sorted, as another tool would.
fn write_torrent(
    name: &str,
    piece_length: u64,
    files: &[(SafePath, u64)],
    private: bool,
    comment: Option<&str>,
) -> Vec<u8> {
    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(format!("{}:", b.len()).as_bytes());
        out.extend_from_slice(b);
    }
    let total: u64 = files.iter().map(|f| f.1).sum();
    let pieces: Vec<u8> = (0..total.div_ceil(piece_length) * 20)
        .map(|i| i as u8)
        .collect();
    let mut out = b"d".to_vec();
    if let Some(c) = comment {
        bytes(&mut out, b"comment");
        bytes(&mut out, c.as_bytes());
    }
    bytes(&mut out, b"info");
    out.push(b'd');
    bytes(&mut out, b"files");
    out.push(b'l');
    for (path, len) in files {
        out.extend_from_slice(format!("d6:lengthi{len}e4:pathl").as_bytes());
        for c in path.components() {
            bytes(&mut out, c.as_bytes());
        }
        out.extend_from_slice(b"ee");
    }
    out.push(b'e');
    bytes(&mut out, b"name");
    bytes(&mut out, name.as_bytes());
    out.extend_from_slice(format!("12:piece lengthi{piece_length}e").as_bytes());
    bytes(&mut out, b"pieces");
    bytes(&mut out, &pieces);
    if private {
        out.extend_from_slice(b"7:privatei1e");
    }
    out.extend_from_slice(b"ee");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn torrent_read_then_write(
        name in "[a-z]{1,10}",
        exp in 14u32..=20,
        files in file_list(),
        private in any::<bool>(),
        comment in proptest::option::of("\\PC{0,20}"),
    ) {
        let raw = write_torrent(&name, 1 << exp, &files, private, comment.as_deref());
        let t = Torrent::from_bytes(&raw).unwrap();
        prop_assert_eq!(t.to_bytes(), raw);
        let info = t.info();
        prop_assert_eq!(info.name(), name.as_str());
        prop_assert_eq!(info.is_private(), private);
        prop_assert_eq!(info.piece_length(), 1 << exp);
        prop_assert_eq!(t.comment(), comment.as_deref());
        let got: Vec<_> = info.files().iter().map(|f| (f.path().clone(), f.length())).collect();
        prop_assert_eq!(got, files);
    }

    #[test]
    fn built_torrent_write_then_read(
        entries in proptest::collection::btree_map("[a-z]{1,3}(/[a-z]{1,3})?", proptest::collection::vec(any::<u8>(), 0..40_000), 1..5),
        date in proptest::option::of(any::<i64>()),
    ) {
        let entries: Vec<(SafePath, Vec<u8>)> =
            entries.into_iter().map(|(p, d)| (SafePath::parse(&p).unwrap(), d)).collect();
        let mut b = TorrentBuilder::new();
        b.piece_length(16 * 1024).threads(2);
        if let Some(d) = date {
            b.creation_date(d);
        }
        match b.build_entries("root", &entries) {
            Ok(t) => {
                let bytes = t.to_bytes();
                let back = Torrent::from_bytes(&bytes).unwrap();
                prop_assert_eq!(&back, &t);
                prop_assert_eq!(back.creation_date(), date);
                prop_assert_eq!(back.to_bytes(), bytes);
            }
            // Only an all-empty set or a file/directory collision (`a` and `a/b`) may fail.
            Err(e) => prop_assert!(
                entries.iter().all(|e| e.1.is_empty())
                    || entries.iter().any(|(p, _)| entries.iter().any(|(q, _)| p.is_ancestor_of(q))),
                "{e}"
            ),
        }
    }
}
