use super::*;

const K16: u64 = 16 * 1024;

/// One `(key, raw value)` of a dictionary under construction.
type Field = (&'static str, Vec<u8>);

fn bstr(b: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(b);
    w.into_bytes()
}

fn bint(i: i64) -> Vec<u8> {
    let mut w = Writer::new();
    w.int(i);
    w.into_bytes()
}

/// A dictionary from fields given in any order (sorted here, as bencode requires).
fn dict(mut fields: Vec<Field>) -> Vec<u8> {
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let mut w = Writer::new();
    w.begin_dict();
    for (k, v) in fields {
        w.bytes(k.as_bytes()).raw(&v);
    }
    w.end();
    w.into_bytes()
}

fn file(path: &[&str], length: i64) -> Vec<u8> {
    let mut p = Writer::new();
    p.begin_list();
    for c in path {
        p.bytes(c.as_bytes());
    }
    p.end();
    dict(vec![("length", bint(length)), ("path", p.into_bytes())])
}

fn list(items: &[Vec<u8>]) -> Vec<u8> {
    let mut w = Writer::new();
    w.begin_list();
    for i in items {
        w.raw(i);
    }
    w.end();
    w.into_bytes()
}

fn pieces(n: usize) -> Vec<u8> {
    bstr(&(0..n * 20).map(|i| i as u8).collect::<Vec<_>>())
}

/// A valid single-file info dict of `len` bytes in 32 KiB pieces, plus `extra` fields.
fn single(len: u64, extra: Vec<Field>) -> Vec<u8> {
    let n = len.div_ceil(2 * K16) as usize;
    let mut f = vec![
        ("name", bstr(b"file.bin")),
        ("piece length", bint(2 * K16 as i64)),
        ("pieces", pieces(n)),
        ("length", bint(len as i64)),
    ];
    for (k, v) in extra {
        f.retain(|(key, _)| *key != k);
        f.push((k, v));
    }
    dict(f)
}

/// A valid multi-file info dict with these files, in 16 KiB pieces.
fn multi(files: &[(&[&str], i64)]) -> Vec<u8> {
    let total: i64 = files.iter().map(|f| f.1).sum();
    let n = (total as u64).div_ceil(K16) as usize;
    let items: Vec<Vec<u8>> = files.iter().map(|(p, l)| file(p, *l)).collect();
    dict(vec![
        ("name", bstr(b"dir")),
        ("piece length", bint(K16 as i64)),
        ("pieces", pieces(n)),
        ("files", list(&items)),
    ])
}

fn err(raw: &[u8]) -> InfoError {
    Info::from_bytes(raw).unwrap_err()
}

#[test]
fn single_file_fields() {
    let raw = single(5 * K16 + 10, vec![]);
    let info = Info::from_bytes(&raw).unwrap();
    assert_eq!(info.as_bytes(), raw.as_slice());
    assert_eq!(info.info_hash(), InfoHash::of_info_bytes(&raw));
    assert_eq!(info.name(), "file.bin");
    assert!(!info.is_multi_file());
    assert!(!info.is_private());
    assert_eq!(info.piece_length(), 2 * K16 as u32);
    assert_eq!(info.piece_count(), 3);
    assert_eq!(info.total_length(), 5 * K16 + 10);
    assert_eq!(info.last_piece_length(), K16 as u32 + 10);
    assert_eq!(info.files().len(), 1);
    assert_eq!(info.files()[0].path().as_str(), "file.bin");
    assert_eq!(info.files()[0].length(), 5 * K16 + 10);
    assert_eq!(info.storage_path(0).unwrap().as_str(), "file.bin");
    assert_eq!(info.storage_path(1), None);
    let p2 = info.geometry().piece(2).unwrap();
    let mut want = [0u8; 20];
    for (i, b) in want.iter_mut().enumerate() {
        *b = (40 + i) as u8;
    }
    assert_eq!(info.piece_hash(p2), Some(&want));
    assert_eq!(info.piece_hashes().len(), 3);
    assert_eq!(info.clone().into_bytes(), raw);
}

#[test]
fn last_piece_is_full_when_length_divides() {
    let info = Info::from_bytes(&single(4 * K16, vec![])).unwrap();
    assert_eq!(info.piece_count(), 2);
    assert_eq!(info.last_piece_length(), 2 * K16 as u32);
}

#[test]
fn multi_file_fields_offsets_and_storage_paths() {
    let raw = multi(&[(&["a", "x.txt"], 10), (&["empty"], 0), (&["b"], K16 as i64)]);
    let info = Info::from_bytes(&raw).unwrap();
    assert!(info.is_multi_file());
    assert_eq!(info.name(), "dir");
    let f = info.files();
    assert_eq!(f.len(), 3);
    assert_eq!(
        (f[0].path().as_str(), f[0].length(), f[0].offset()),
        ("a/x.txt", 10, 0)
    );
    assert_eq!(
        (f[1].path().as_str(), f[1].length(), f[1].offset()),
        ("empty", 0, 10)
    );
    assert_eq!((f[2].path().as_str(), f[2].offset()), ("b", 10));
    assert_eq!(info.storage_path(0).unwrap().as_str(), "dir/a/x.txt");
    assert_eq!(info.total_length(), K16 + 10);
    assert_eq!(info.piece_count(), 2);
    assert_eq!(info.last_piece_length(), 10);
    assert_eq!(info.geometry().file_count(), 3);
}

#[test]
fn private_flag_and_unknown_keys_are_kept() {
    let raw = single(
        K16,
        vec![
            ("private", bint(1)),
            ("source", bstr(b"x")),
            ("zzz", list(&[bint(1)])),
        ],
    );
    let info = Info::from_bytes(&raw).unwrap();
    assert!(info.is_private());
    assert_eq!(
        info.as_bytes(),
        raw.as_slice(),
        "unknown keys stay in the raw bytes"
    );
    assert!(
        !Info::from_bytes(&single(K16, vec![("private", bint(0))]))
            .unwrap()
            .is_private()
    );
}

#[test]
fn attributes_and_pad_files() {
    let pad = dict(vec![
        ("attr", bstr(b"p")),
        ("length", bint(K16 as i64 - 1)),
        ("path", list(&[bstr(b".pad"), bstr(b"16383")])),
    ]);
    let pad2 = pad.clone();
    let exe = dict(vec![
        ("attr", bstr(b"x\xff")),
        ("length", bint(1)),
        ("path", list(&[bstr(b"run")])),
    ]);
    let raw = dict(vec![
        ("name", bstr(b"d")),
        ("piece length", bint(K16 as i64)),
        ("pieces", pieces(3)),
        ("files", list(&[exe.clone(), pad, exe.clone(), pad2])),
    ]);
    // `run` twice is a real duplicate.
    assert_eq!(
        err(&raw),
        InfoError::PathCollision(PathError::Duplicate { path: "run".into() })
    );
    let other = dict(vec![("length", bint(1)), ("path", list(&[bstr(b"run2")]))]);
    let pad = dict(vec![
        ("attr", bstr(b"p")),
        ("length", bint(K16 as i64 - 1)),
        ("path", list(&[bstr(b".pad"), bstr(b"16383")])),
    ]);
    let raw = dict(vec![
        ("name", bstr(b"d")),
        ("piece length", bint(K16 as i64)),
        ("pieces", pieces(2)),
        ("files", list(&[exe, pad.clone(), other, pad])),
    ]);
    let info = Info::from_bytes(&raw).unwrap();
    assert_eq!(info.files()[0].attr(), "x", "non-letters dropped");
    assert!(!info.files()[0].is_pad());
    assert!(info.files()[1].is_pad());
    assert!(info.files()[3].is_pad(), "two pad files may share a name");
}

#[test]
fn fixed_error_cases() {
    use InfoError::*;
    assert_eq!(err(b"i1e"), NotADict);
    assert_eq!(err(b""), NotADict);
    assert!(matches!(err(b"d4:name"), Bencode { .. }));
    assert_eq!(
        err(b"d1:b0:1:a0:e"),
        MissingKey { key: "name" },
        "unsorted keys are read"
    );
    assert!(
        matches!(err(b"d1:a0:1:a0:e"), Bencode { .. }),
        "duplicate keys"
    );
    let mut trailing = single(K16, vec![]);
    trailing.extend_from_slice(b"i1e");
    assert_eq!(err(&trailing), TrailingBytes { extra: 3 });
    let mut trailing = single(K16, vec![]);
    trailing.push(b'e');
    assert!(matches!(
        err(&trailing),
        TrailingBytes { extra: 1 } | Bencode { .. }
    ));
}

#[test]
fn missing_and_mistyped_keys() {
    use InfoError::*;
    let full = || {
        vec![
            ("name", bstr(b"f")),
            ("piece length", bint(K16 as i64)),
            ("pieces", pieces(1)),
            ("length", bint(1)),
        ]
    };
    for (key, want) in [
        ("name", MissingKey { key: "name" }),
        (
            "piece length",
            MissingKey {
                key: "piece length",
            },
        ),
        ("pieces", MissingKey { key: "pieces" }),
        ("length", NoLength),
    ] {
        let mut f = full();
        f.retain(|(k, _)| *k != key);
        assert_eq!(err(&dict(f)), want, "without {key}");
    }
    for key in [
        "name",
        "piece length",
        "pieces",
        "length",
        "private",
        "files",
    ] {
        let mut f = full();
        f.retain(|(k, _)| *k != key);
        // An integer where a string belongs, and a string where an integer belongs.
        let wrong = if matches!(key, "name" | "pieces" | "files") {
            bint(1)
        } else {
            bstr(b"1")
        };
        if key == "files" {
            f.retain(|(k, _)| *k != "length");
        }
        f.push((key, wrong));
        assert_eq!(err(&dict(f)), WrongType { key }, "{key}");
    }
    assert_eq!(
        err(&single(K16, vec![("length", bint(-1))])),
        BadInteger {
            key: "length",
            value: "-1".into()
        }
    );
    assert_eq!(
        err(&single(K16, vec![("private", bstr(&[0u8; 0]))])),
        WrongType { key: "private" }
    );
    assert!(matches!(
        err(&single(
            K16,
            vec![("length", b"i99999999999999999999e".to_vec())]
        )),
        BadInteger { key: "length", .. }
    ));
}

#[test]
fn piece_length_and_pieces_are_checked() {
    use InfoError::*;
    for bad in [0, 1000, 3 * K16 as i64 + 1, 128 << 20] {
        assert_eq!(
            err(&single(K16, vec![("piece length", bint(bad))])),
            BadPieceLength(bad as u64)
        );
    }
    assert_eq!(
        err(&single(K16, vec![("pieces", bstr(&[0; 19]))])),
        BadPiecesLength { len: 19 }
    );
    assert_eq!(
        err(&single(K16, vec![("pieces", pieces(2))])),
        PieceCountMismatch {
            expected: 1,
            actual: 2
        }
    );
    assert_eq!(
        err(&single(5 * K16, vec![("pieces", pieces(0))])),
        PieceCountMismatch {
            expected: 3,
            actual: 0
        }
    );
    assert_eq!(err(&single(0, vec![("pieces", pieces(0))])), Empty);
    assert!(matches!(
        err(&single(K16, vec![("length", bint(i64::MAX))])),
        Geometry(_)
    ));
}

#[test]
fn limits_bound_sizes_and_counts() {
    use InfoError::*;
    let raw = single(3 * 2 * K16, vec![]);
    let tight = Limits {
        max_info_len: raw.len() - 1,
        ..Limits::default()
    };
    assert_eq!(
        Info::from_bytes_with_limits(&raw, &tight),
        Err(TooLarge {
            len: raw.len(),
            max: raw.len() - 1
        })
    );
    let few_pieces = Limits {
        max_pieces: 2,
        ..Limits::default()
    };
    assert_eq!(
        Info::from_bytes_with_limits(&raw, &few_pieces),
        Err(TooManyPieces { count: 3, max: 2 })
    );
    let raw = multi(&[(&["a"], 1), (&["b"], 1), (&["c"], 1)]);
    let few_files = Limits {
        max_files: 2,
        ..Limits::default()
    };
    assert_eq!(
        Info::from_bytes_with_limits(&raw, &few_files),
        Err(TooManyFiles { max: 2 })
    );
}

#[test]
fn files_list_errors() {
    use InfoError::*;
    let with_files = |files: Vec<u8>, extra: Option<Field>| {
        let mut f = vec![
            ("name", bstr(b"d")),
            ("piece length", bint(K16 as i64)),
            ("pieces", pieces(1)),
            ("files", files),
        ];
        f.extend(extra);
        dict(f)
    };
    assert_eq!(err(&with_files(list(&[]), None)), NoFiles);
    assert_eq!(
        err(&with_files(
            list(&[file(&["a"], 1)]),
            Some(("length", bint(1)))
        )),
        BothLengthAndFiles
    );
    assert_eq!(
        err(&with_files(list(&[bint(1)]), None)),
        WrongType { key: "files" }
    );
    let no_path = dict(vec![("length", bint(1))]);
    assert_eq!(
        err(&with_files(list(&[no_path]), None)),
        MissingKey { key: "path" }
    );
    let no_len = dict(vec![("path", list(&[bstr(b"a")]))]);
    assert_eq!(
        err(&with_files(list(&[no_len]), None)),
        MissingKey { key: "length" }
    );
    let path_str = dict(vec![("length", bint(1)), ("path", bstr(b"a"))]);
    assert_eq!(
        err(&with_files(list(&[path_str]), None)),
        WrongType { key: "path" }
    );
    let path_int = dict(vec![("length", bint(1)), ("path", list(&[bint(3)]))]);
    assert_eq!(
        err(&with_files(list(&[path_int]), None)),
        WrongType { key: "path" }
    );
    // 64 components fit a SafePath, but not below the torrent's name.
    let deep: Vec<Vec<u8>> = (0..MAX_PATH_DEPTH).map(|_| bstr(b"d")).collect();
    let deep = dict(vec![("length", bint(1)), ("path", list(&deep))]);
    assert_eq!(
        err(&with_files(list(&[deep]), None)),
        BadPath {
            index: 0,
            source: PathError::TooDeep {
                depth: MAX_PATH_DEPTH + 1,
                max: MAX_PATH_DEPTH
            }
        }
    );
    // 4 x 1023 + 3 separators = 4095 bytes fit; `d/` in front makes 4097.
    let c = "x".repeat(1023);
    let long: Vec<Vec<u8>> = (0..4).map(|_| bstr(c.as_bytes())).collect();
    let long = dict(vec![("length", bint(1)), ("path", list(&long))]);
    assert!(matches!(
        err(&with_files(list(&[long]), None)),
        BadPath {
            index: 0,
            source: PathError::TooLong { len: 4097, .. }
        }
    ));
    let deep: Vec<Vec<u8>> = (0..=MAX_PATH_DEPTH).map(|_| bstr(b"d")).collect();
    let deep = dict(vec![("length", bint(1)), ("path", list(&deep))]);
    assert!(matches!(
        err(&with_files(list(&[deep]), None)),
        BadPath {
            index: 0,
            source: PathError::TooDeep { .. }
        }
    ));
}

#[test]
fn unsafe_paths_are_rejected() {
    use InfoError::*;
    let cases: &[(&[&str], PathError)] = &[
        (&["..", "etc", "passwd"], PathError::ParentDir { index: 0 }),
        (&["a", ".."], PathError::ParentDir { index: 1 }),
        (&[], PathError::Empty),
        (&["a", ""], PathError::EmptyComponent { index: 1 }),
        (&["."], PathError::CurrentDir { index: 0 }),
        (&["/etc"], PathError::Separator { index: 0 }),
        (&["a\\b"], PathError::Separator { index: 0 }),
        (&["a\0"], PathError::Nul { index: 0 }),
        (&["C:", "x"], PathError::DrivePrefix { index: 0 }),
    ];
    for (path, want) in cases {
        let raw = multi(&[(&["ok"], 1), (path, 1)]);
        assert_eq!(
            err(&raw),
            BadPath {
                index: 1,
                source: want.clone()
            },
            "{path:?}"
        );
    }
    let raw = multi(&[(&["a"], 1), (&["b"], 1), (&["a"], 1)]);
    assert_eq!(
        err(&raw),
        PathCollision(PathError::Duplicate { path: "a".into() })
    );
    let raw = multi(&[(&["a", "b"], 1), (&["a"], 1)]);
    assert_eq!(
        err(&raw),
        PathCollision(PathError::FileIsDirectory {
            file: "a".into(),
            other: "a/b".into()
        })
    );
    let bad_utf8 = dict(vec![("length", bint(1)), ("path", list(&[bstr(b"\xc3")]))]);
    let raw = dict(vec![
        ("name", bstr(b"d")),
        ("piece length", bint(K16 as i64)),
        ("pieces", pieces(1)),
        ("files", list(&[bad_utf8])),
    ]);
    assert_eq!(
        err(&raw),
        BadPath {
            index: 0,
            source: PathError::NotUtf8 { index: 0 }
        }
    );
}

#[test]
fn name_must_be_one_safe_component() {
    for (name, want) in [
        (&b".."[..], PathError::ParentDir { index: 0 }),
        (b"a/b", PathError::Separator { index: 0 }),
        (b"", PathError::EmptyComponent { index: 0 }),
        (b"\xff", PathError::NotUtf8 { index: 0 }),
    ] {
        assert_eq!(
            err(&single(K16, vec![("name", bstr(name))])),
            InfoError::BadName(want)
        );
    }
}

#[test]
fn encode_matches_hand_written_bencode() {
    let files = [(SafePath::parse("a/b").unwrap(), 3u64)];
    let pieces = [[7u8; 20]];
    let info = Info::from_parts("n", K16 as u32, &pieces, &files, false, true).unwrap();
    let want = format!(
        "d5:filesld6:lengthi3e4:pathl1:a1:beee4:name1:n12:piece lengthi16384e6:pieces20:{}7:privatei1ee",
        "\u{7}".repeat(20)
    );
    assert_eq!(info.as_bytes(), want.as_bytes());
    let single = Info::from_parts("n", K16 as u32, &pieces, &files, true, false).unwrap();
    assert_eq!(
        single.as_bytes(),
        format!(
            "d6:lengthi3e4:name1:n12:piece lengthi16384e6:pieces20:{}e",
            "\u{7}".repeat(20)
        )
        .as_bytes()
    );
}
