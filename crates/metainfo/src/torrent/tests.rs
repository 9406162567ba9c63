use super::*;

const INFO: &[u8] = b"d6:lengthi3e4:name1:f12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";

fn wrap(before: &str, after: &str) -> Vec<u8> {
    let mut v = format!("d{before}4:info").into_bytes();
    v.extend_from_slice(INFO);
    v.extend_from_slice(after.as_bytes());
    v.push(b'e');
    v
}

#[test]
fn reads_info_span_exactly_and_keeps_other_keys() {
    let raw = wrap(
        "8:announce9:http://t/7:comment2:hi10:created by2:me13:creation datei1700000000e",
        "8:url-listl4:http5:http2e",
    );
    let t = Torrent::from_bytes(&raw).unwrap();
    assert_eq!(t.info().as_bytes(), INFO);
    assert_eq!(t.info_hash(), InfoHash::of_info_bytes(INFO));
    assert_eq!(t.announce(), Some("http://t/"));
    assert_eq!(t.comment(), Some("hi"));
    assert_eq!(t.created_by(), Some("me"));
    assert_eq!(t.creation_date(), Some(1_700_000_000));
    assert_eq!(t.url_list(), ["http", "http2"]);
    assert_eq!(t.field(b"comment"), Some(&b"2:hi"[..]));
    assert_eq!(t.fields().count(), 5);
    assert_eq!(t.to_bytes(), raw);
    assert_eq!(t.clone().into_info().as_bytes(), INFO);
}

#[test]
fn info_only_and_info_last() {
    let raw = wrap("", "");
    let t = Torrent::from_bytes(&raw).unwrap();
    assert_eq!(t.announce(), None);
    assert_eq!(t.creation_date(), None);
    assert!(t.url_list().is_empty());
    assert!(t.announce_list().is_empty());
    assert_eq!(t.to_bytes(), raw);
    assert_eq!(Torrent::new(t.info().clone()), t);
    let mut last = b"d3:aaai1e4:info".to_vec();
    last.extend_from_slice(INFO);
    last.push(b'e');
    assert_eq!(Torrent::from_bytes(&last).unwrap().to_bytes(), last);
}

#[test]
fn url_list_as_a_single_string_and_announce_list() {
    let raw = wrap(
        "8:announce3:a/113:announce-listll3:a/13:a/2ei5el3:b/1ee",
        "8:url-list6:http:/",
    );
    let t = Torrent::from_bytes(&raw).unwrap();
    assert_eq!(t.url_list(), ["http:/"]);
    assert_eq!(
        t.announce_list(),
        vec![
            vec!["a/1".to_owned(), "a/2".to_owned()],
            vec!["b/1".to_owned()]
        ]
    );
}

#[test]
fn setters_write_canonical_values() {
    let mut t = Torrent::from_bytes(&wrap("", "")).unwrap();
    t.set_announce(Some("udp://x"));
    t.set_comment(Some("c"));
    t.set_created_by(Some("swarmfs"));
    t.set_creation_date(Some(-5));
    t.set_url_list(&["http://a", "http://b"]);
    let bytes = t.to_bytes();
    let back = Torrent::from_bytes(&bytes).unwrap();
    assert_eq!(back, t);
    assert_eq!(back.announce(), Some("udp://x"));
    assert_eq!(back.creation_date(), Some(-5));
    assert_eq!(back.url_list(), ["http://a", "http://b"]);
    t.set_announce(None);
    t.set_comment(None);
    t.set_created_by(None);
    t.set_creation_date(None);
    t.set_url_list::<&str>(&[]);
    assert_eq!(t.to_bytes(), wrap("", ""));
    t.set_field(b"nodes", b"l1:ae".to_vec()).unwrap();
    assert_eq!(t.remove_field(b"nodes"), Some(b"l1:ae".to_vec()));
}

#[test]
fn set_field_rejects_bad_values() {
    let mut t = Torrent::from_bytes(&wrap("", "")).unwrap();
    for bad in [&b""[..], b"i1ei2e", b"l", b"d1:b0:1:a0:e", b"x"] {
        assert_eq!(
            t.set_field(b"k", bad.to_vec()),
            Err(TorrentError::BadField { key: "k".into() }),
            "{bad:?}"
        );
    }
    assert!(t.set_field(b"info", b"de".to_vec()).is_err());
}

#[test]
fn typed_getters_ignore_wrong_types() {
    let raw = wrap("8:announcei1e7:commentle", "8:url-listi3e");
    let t = Torrent::from_bytes(&raw).unwrap();
    assert_eq!(t.announce(), None);
    assert_eq!(t.comment(), None);
    assert!(t.url_list().is_empty());
    assert_eq!(t.to_bytes(), raw, "kept even when malformed");
}

/// Some producers write keys out of order, in the outer dictionary and inside `info`. Such files
/// are read (as libtorrent reads them), and the info-hash is the SHA-1 of the info bytes exactly
/// as written, not of a sorted copy.
#[test]
fn unsorted_keys_are_read_and_hashed_as_written() {
    let info = b"d4:name1:f6:lengthi3e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    let mut raw = b"d8:announce9:http://t/4:info".to_vec();
    raw.extend_from_slice(info);
    raw.extend_from_slice(b"7:comment2:hie");
    let t = Torrent::from_bytes(&raw).unwrap();
    assert_eq!(t.info().as_bytes(), info);
    assert_eq!(t.info_hash(), InfoHash::of_info_bytes(info));
    assert_ne!(
        t.info_hash(),
        InfoHash::of_info_bytes(INFO),
        "not the sorted copy's hash"
    );
    assert_eq!(t.info().name(), "f");
    assert_eq!(t.info().total_length(), 3);
    assert_eq!(t.comment(), Some("hi"));
    assert_eq!(t.announce(), Some("http://t/"));
    let alone = Info::from_bytes(info).unwrap();
    assert_eq!(alone.info_hash(), t.info_hash());
    assert_eq!(alone.as_bytes(), info);
}

#[test]
fn every_error() {
    use TorrentError::*;
    let e = |b: &[u8]| Torrent::from_bytes(b).unwrap_err();
    assert_eq!(e(b"i1e"), NotADict);
    assert_eq!(e(b""), NotADict);
    assert_eq!(e(b"de"), MissingInfo);
    assert_eq!(e(b"d4:infoi1ee"), InfoNotADict);
    assert!(matches!(e(b"d4:infod"), Info(InfoError::Bencode { .. })));
    assert_eq!(e(b"d1:b0:1:a0:e"), MissingInfo, "unsorted keys are read");
    assert!(
        matches!(e(b"d1:a0:1:a0:e"), Bencode { .. }),
        "duplicate keys are not"
    );
    let mut trailing = wrap("", "");
    trailing.extend_from_slice(b"0:");
    assert_eq!(e(&trailing), NotADict);
    assert!(matches!(e(b"d4:infod4:name1:aee"), Info(_)));
    let raw = wrap("", "");
    let limits = Limits {
        max_torrent_len: raw.len() - 1,
        ..Limits::default()
    };
    assert_eq!(
        Torrent::from_bytes_with_limits(&raw, &limits),
        Err(TooLarge {
            len: raw.len(),
            max: raw.len() - 1
        })
    );
}
