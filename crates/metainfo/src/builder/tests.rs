use super::*;
use sha1::{Digest, Sha1};

const K16: u32 = 16 * 1024;

/// Deterministic pseudo-random bytes.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Piece hashes computed the obvious way: concatenate, chunk, hash.
fn reference_pieces(files: &[&[u8]], piece_length: usize) -> Vec<[u8; 20]> {
    let all: Vec<u8> = files.concat();
    all.chunks(piece_length)
        .map(|c| Sha1::digest(c).into())
        .collect()
}

fn sp(s: &str) -> SafePath {
    SafePath::parse(s).unwrap()
}

#[test]
fn auto_piece_length_targets_1000_to_2000_pieces() {
    assert_eq!(auto_piece_length(0), MIN_AUTO_PIECE_LENGTH);
    assert_eq!(auto_piece_length(1), MIN_AUTO_PIECE_LENGTH);
    assert_eq!(auto_piece_length(512 << 20), 512 << 10);
    assert_eq!(auto_piece_length(1 << 40), MAX_AUTO_PIECE_LENGTH);
    for total in [40_000_000u64, 512 << 20, 3 << 30, 7_777_777_777] {
        let p = auto_piece_length(total);
        assert!(p.is_power_of_two());
        let n = total.div_ceil(u64::from(p));
        assert!((1000..=2000).contains(&n), "{total}: {p} gives {n} pieces");
    }
}

#[test]
fn single_file_in_memory_matches_reference_hashes() {
    let bytes = data(5 * K16 as usize + 123, 1);
    let mut b = TorrentBuilder::new();
    b.piece_length(2 * K16).threads(3);
    let t = b.build_single("blob.bin", &bytes).unwrap();
    let info = t.info();
    assert!(!info.is_multi_file());
    assert_eq!(info.name(), "blob.bin");
    assert_eq!(info.total_length(), bytes.len() as u64);
    assert_eq!(
        info.piece_hashes(),
        reference_pieces(&[&bytes], 2 * K16 as usize).as_slice()
    );
    // Same result on one thread.
    let one = TorrentBuilder::new()
        .piece_length(2 * K16)
        .threads(1)
        .build_single("blob.bin", &bytes)
        .unwrap();
    assert_eq!(one.info_hash(), t.info_hash());
}

#[test]
fn entries_are_sorted_by_path_components() {
    let a = data(20_000, 2);
    let b = data(1, 3);
    let c = data(30_000, 4);
    let entries = vec![
        (sp("a.b"), c.clone()),
        (sp("a/x"), a.clone()),
        (sp("empty"), Vec::new()),
        (sp("B"), b.clone()),
    ];
    let t = TorrentBuilder::new()
        .piece_length(K16)
        .build_entries("root", &entries)
        .unwrap();
    let info = t.info();
    let names: Vec<_> = info.files().iter().map(|f| f.path().as_str()).collect();
    assert_eq!(names, ["B", "a/x", "a.b", "empty"]);
    assert_eq!(
        info.piece_hashes(),
        reference_pieces(&[&b, &a, &c], K16 as usize).as_slice()
    );
    assert_eq!(info.storage_path(1).unwrap().as_str(), "root/a/x");
    // Input order does not matter.
    let mut reversed = entries.clone();
    reversed.reverse();
    let t2 = TorrentBuilder::new()
        .piece_length(K16)
        .build_entries("root", &reversed)
        .unwrap();
    assert_eq!(t2.info_hash(), t.info_hash());
}

#[test]
fn optional_keys_and_private() {
    let t = TorrentBuilder::new()
        .private(true)
        .comment("c")
        .created_by("swarmfs")
        .creation_date(42)
        .announce("http://t/")
        .build_single("f", b"x")
        .unwrap();
    assert!(t.info().is_private());
    assert_eq!(t.comment(), Some("c"));
    assert_eq!(t.created_by(), Some("swarmfs"));
    assert_eq!(t.creation_date(), Some(42));
    assert_eq!(t.announce(), Some("http://t/"));
    assert_eq!(t.info().piece_length(), MIN_AUTO_PIECE_LENGTH);
    let plain = TorrentBuilder::new().build_single("f", b"x").unwrap();
    assert_eq!(plain.fields().count(), 0);
}

#[test]
fn build_errors() {
    let b = TorrentBuilder::new();
    assert!(matches!(b.build_single("f", b""), Err(BuildError::Empty)));
    assert!(matches!(
        b.build_single("..", b"x"),
        Err(BuildError::Path(PathError::ParentDir { index: 0 }))
    ));
    assert!(matches!(
        b.build_entries::<&[u8]>("r", &[]),
        Err(BuildError::Empty)
    ));
    assert!(matches!(
        b.build_entries("r", &[(sp("a"), b"1"), (sp("a"), b"2")]),
        Err(BuildError::Path(PathError::Duplicate { .. }))
    ));
    assert!(matches!(
        b.build_entries("r", &[(sp("a"), b"1"), (sp("a/b"), b"2")]),
        Err(BuildError::Path(PathError::FileIsDirectory { .. }))
    ));
    assert!(matches!(
        TorrentBuilder::new()
            .piece_length(3 * K16 + 1)
            .build_single("f", b"x"),
        Err(BuildError::Geometry(GeometryError::BadPieceLength(_)))
    ));
    let missing = b.build_path(Path::new("/nonexistent/swarmfs/xyz"));
    assert!(matches!(missing, Err(BuildError::Io { .. })), "{missing:?}");
}

#[test]
fn directory_on_disk_matches_in_memory_entries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("content");
    let files = [
        ("top.bin", data(70_000, 5)),
        ("sub/deeper/z.bin", data(33_333, 6)),
        ("sub/a.bin", data(16_384, 7)),
        ("sub.txt", data(10, 8)),
        ("zero", Vec::new()),
    ];
    for (rel, bytes) in &files {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).unwrap();
    }
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    let mut b = TorrentBuilder::new();
    b.piece_length(K16).threads(2);
    let on_disk = b.build_path(&root).unwrap();
    let entries: Vec<(SafePath, Vec<u8>)> = files.iter().map(|(p, d)| (sp(p), d.clone())).collect();
    let in_memory = b.build_entries("content", &entries).unwrap();
    assert_eq!(on_disk, in_memory);
    let names: Vec<_> = on_disk
        .info()
        .files()
        .iter()
        .map(|f| f.path().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "sub/a.bin",
            "sub/deeper/z.bin",
            "sub.txt",
            "top.bin",
            "zero"
        ]
    );
    // A single file on disk.
    let single = b.build_path(&root.join("top.bin")).unwrap();
    let mem = b.build_single("top.bin", &files[0].1).unwrap();
    assert_eq!(single, mem);
    // A symlink keeps its own name; `dir/.` is named after `dir`.
    #[cfg(unix)]
    {
        let link = dir.path().join("link.bin");
        std::os::unix::fs::symlink(root.join("top.bin"), &link).unwrap();
        let linked = b.build_path(&link).unwrap();
        assert_eq!(linked.info().name(), "link.bin");
        assert_eq!(linked.info().piece_hashes(), mem.info().piece_hashes());
        // A symlink to a directory (here a cycle) is skipped.
        std::os::unix::fs::symlink(&root, root.join("loop")).unwrap();
        assert_eq!(b.build_path(&root).unwrap(), on_disk);
    }
    assert_eq!(b.build_path(&root.join(".")).unwrap(), on_disk);
    // An empty directory holds nothing.
    assert!(matches!(
        b.build_path(&root.join("empty-dir")),
        Err(BuildError::Empty)
    ));
}
