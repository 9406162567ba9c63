//! Known-answer tests: info dictionaries captured from real libtorrent and webtorrent seeders.

use swarmfs_metainfo::{Info, InfoHash, Magnet, Torrent};

const LIBTORRENT: &[u8] = include_bytes!("fixtures/libtorrent_info.bin");
const WEBTORRENT: &[u8] = include_bytes!("fixtures/webtorrent_info.bin");
const LT_DATA_MSG: &[u8] = include_bytes!("fixtures/libtorrent_ut_metadata_data_in.bin");

const TOTAL: u64 = 1_048_576 + 307_200 + 17;

fn files(info: &Info) -> Vec<(String, u64, u64)> {
    info.files()
        .iter()
        .map(|f| (f.path().to_string(), f.length(), f.offset()))
        .collect()
}

fn check_common(info: &Info) {
    assert_eq!(info.name(), "content");
    assert!(info.is_multi_file());
    assert!(!info.is_private());
    assert_eq!(info.piece_length(), 32_768);
    assert_eq!(info.total_length(), TOTAL);
    assert_eq!(info.piece_count(), 42);
    assert_eq!(info.piece_hashes().len(), 42);
    assert_eq!(info.last_piece_length(), (TOTAL - 41 * 32_768) as u32);
    assert_eq!(info.last_piece_length(), 12_305);
    assert_eq!(
        info.storage_path(1).unwrap().as_str(),
        format!("content/{}", info.files()[1].path())
    );
}

#[test]
fn libtorrent_info_dict() {
    let info = Info::from_bytes(LIBTORRENT).unwrap();
    assert_eq!(
        info.info_hash().to_hex(),
        "d515506ab613be84506f3c461612191f1e711805"
    );
    check_common(&info);
    // libtorrent lists the files in its own order.
    assert_eq!(
        files(&info),
        [
            ("sub/file2.bin".to_owned(), 17, 0),
            ("sub/file1.bin".to_owned(), 307_200, 17),
            ("file0.bin".to_owned(), 1_048_576, 307_217),
        ]
    );
    // The first piece spans all three files.
    let g = info.geometry();
    let spans: Vec<_> = g.spans(g.piece(0).unwrap(), 0, 32_768).collect();
    assert_eq!(spans.len(), 1 + 1);
    assert_eq!((spans[0].file_index, spans[0].len), (0, 17));
    assert_eq!((spans[1].file_index, spans[1].len), (1, 32_751));
    assert_eq!(info.as_bytes(), LIBTORRENT);
}

#[test]
fn webtorrent_info_dict() {
    let info = Info::from_bytes(WEBTORRENT).unwrap();
    assert_eq!(
        info.info_hash().to_hex(),
        "b3512684bb3ac0b75e7abd5ad9a0e2a0c4e08348"
    );
    check_common(&info);
    assert_eq!(
        files(&info),
        [
            ("file0.bin".to_owned(), 1_048_576, 0),
            ("sub/file1.bin".to_owned(), 307_200, 1_048_576),
            ("sub/file2.bin".to_owned(), 17, 1_355_776),
        ]
    );
}

#[test]
fn info_dict_tail_of_the_ut_metadata_message_is_the_info_dict() {
    // The data message is `<len><20><id>` + a bencoded header + the raw piece.
    let raw = &LT_DATA_MSG[LT_DATA_MSG.len() - 1018..];
    assert_eq!(raw, LIBTORRENT);
    let info = Info::from_bytes(raw).unwrap();
    assert_eq!(info.info_hash(), InfoHash::of_info_bytes(LIBTORRENT));
}

#[test]
fn fixture_in_a_torrent_file_and_a_magnet() {
    let mut file = b"d7:comment7:fixture4:info".to_vec();
    file.extend_from_slice(WEBTORRENT);
    file.extend_from_slice(b"8:url-listl17:http://127.0.0.1/ee");
    let t = Torrent::from_bytes(&file).unwrap();
    assert_eq!(t.info().as_bytes(), WEBTORRENT);
    assert_eq!(t.to_bytes(), file);
    let m = Magnet::parse(&format!(
        "magnet:?xt=urn:btih:{}&dn=content",
        t.info_hash().to_base32()
    ))
    .unwrap();
    assert_eq!(m.info_hash(), Some(t.info_hash()));
}

#[test]
fn a_flipped_byte_changes_the_hash_or_the_parse() {
    let mut changed = LIBTORRENT.to_vec();
    let last = changed.len() - 2;
    changed[last] ^= 1;
    let info = Info::from_bytes(&changed).unwrap();
    assert_ne!(
        info.info_hash(),
        Info::from_bytes(LIBTORRENT).unwrap().info_hash()
    );
}
