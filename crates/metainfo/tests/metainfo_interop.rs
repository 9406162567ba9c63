//! Interop: swarmfs and libtorrent (Python bindings, `pip install libtorrent==2.1.1`) build
//! torrents of the same files with the same piece length; the info dictionaries must be
//! byte-identical, so the info-hashes are equal. libtorrent also reads swarmfs's `.torrent`.
//!
//! Skips with a message only when `python3 -c "import libtorrent"` fails; CI installs it.

use std::path::Path;
use std::process::Command;

use swarmfs_metainfo::{Torrent, TorrentBuilder};

/// `create PARENT PIECE_LEN REL:SIZE...`: a plain v1 torrent (no pad files, no attributes) of
/// the files in the given order, printed as hex.
/// `read FILE`: the v1 info-hash libtorrent computes for a `.torrent` file.
const SCRIPT: &str = r#"
import sys, warnings
warnings.filterwarnings("ignore")
import libtorrent as lt
if sys.argv[1] == "create":
    parent, piece = sys.argv[2], int(sys.argv[3])
    fs = lt.file_storage()
    for spec in sys.argv[4:]:
        rel, size = spec.rsplit(":", 1)
        fs.add_file(rel, int(size))
    ct = lt.create_torrent(fs, piece, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, parent)
    print(lt.bencode(ct.generate()).hex())
else:
    ti = lt.torrent_info(sys.argv[2])
    print(str(ti.info_hashes().v1))
"#;

fn libtorrent_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import libtorrent"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("SKIP: python3 -c 'import libtorrent' failed; pip install libtorrent==2.1.1");
    }
    ok
}

fn python(args: &[String]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "libtorrent script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Builds `root` (a file or directory under `parent`) with both tools and compares.
fn compare(parent: &Path, root: &str, piece_length: u32) -> Torrent {
    let mut b = TorrentBuilder::new();
    b.piece_length(piece_length);
    let ours = b.build_path(&parent.join(root)).unwrap();
    // Hand libtorrent the files in swarmfs's order: add_files would use readdir order.
    let mut args = vec![
        "create".to_owned(),
        parent.display().to_string(),
        piece_length.to_string(),
    ];
    for i in 0..ours.info().files().len() {
        let path = ours.info().storage_path(i).unwrap();
        args.push(format!("{path}:{}", ours.info().files()[i].length()));
    }
    let theirs = hex::decode(python(&args)).unwrap();
    let theirs = Torrent::from_bytes(&theirs).expect("swarmfs reads libtorrent's torrent");
    assert_eq!(
        String::from_utf8_lossy(ours.info().as_bytes()),
        String::from_utf8_lossy(theirs.info().as_bytes()),
    );
    assert_eq!(ours.info().as_bytes(), theirs.info().as_bytes());
    assert_eq!(ours.info_hash(), theirs.info_hash());
    // And libtorrent reads ours to the same hash.
    let file = parent.join(format!("{root}.swarmfs.torrent"));
    std::fs::write(&file, ours.to_bytes()).unwrap();
    let lt_hash = python(&["read".to_owned(), file.display().to_string()]);
    assert_eq!(lt_hash, ours.info_hash().to_hex());
    ours
}

#[test]
fn single_file_matches_libtorrent() {
    if !libtorrent_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("video.bin"), data(1_000_003, 1)).unwrap();
    for piece in [16 * 1024, 64 * 1024, 1 << 20] {
        let t = compare(dir.path(), "video.bin", piece);
        assert!(!t.info().is_multi_file());
    }
}

#[test]
fn nested_directory_matches_libtorrent() {
    if !libtorrent_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    let files: &[(&str, usize)] = &[
        ("index.html", 5_000),
        ("a.b/c.txt", 70_001),
        ("a/x.bin", 131_072),
        ("a/deeper/still/y.bin", 33_333),
        ("A/upper.txt", 17),
        ("empty.txt", 0),
        ("z-last.bin", 200_000),
    ];
    for (i, (rel, len)) in files.iter().enumerate() {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data(*len, 10 + i as u64)).unwrap();
    }
    let t = compare(dir.path(), "site", 32 * 1024);
    assert_eq!(t.info().files().len(), files.len());
    let auto = TorrentBuilder::new().build_path(&root).unwrap();
    compare(dir.path(), "site", auto.info().piece_length());
}
