//! Crash safety under kill -9: a child process (this test binary re-invoked in writer mode)
//! writes garbage and then correct blocks and verifies pieces over the file backend in a loop;
//! the parent SIGKILLs it at random moments, then checks, straight from the resume file and the
//! raw files (not through the store), that every piece marked verified hashes correctly, that the
//! verified count never goes backwards, and that no piece the child reported verified was lost.
//! Two writer modes: 16 KiB blocks then `verify_piece` (read back and hashed), and whole pieces
//! hashed in memory with `write_hashed_piece`, group-committed three at a time.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sha1::{Digest, Sha1};
use swarmfs_file::FileStorage;
use swarmfs_metainfo::{BLOCK_SIZE, Geometry};
use swarmfs_storage::conformance::{pattern, piece_hashes};
use swarmfs_storage::resume::ResumeData;
use swarmfs_storage::{
    MetaName, PieceHashes, PieceStore, PieceStoreOptions, StorageFactory, StoragePath,
};

const WRITER_ENV: &str = "SWARMFS_CRASH_WRITER_DIR";
/// `hashed` selects the write_hashed_piece + commit_hashed writer.
const MODE_ENV: &str = "SWARMFS_CRASH_WRITER_MODE";
/// Pieces per group commit in the hashed mode.
const GROUP: u32 = 3;
const RESUME: &str = "crash-resume";
const FILES: [(&str, u64); 5] = [
    ("c/a.bin", 100_000),
    ("c/tiny", 37),
    ("c/sub/b.bin", 6_000_000),
    ("c/empty", 0),
    ("c/sub/d.bin", 7_000_000),
];

struct Torrent {
    geometry: Geometry,
    paths: Vec<StoragePath>,
    data: Vec<u8>,
    hashes: PieceHashes,
}

fn torrent() -> Torrent {
    let lens: Vec<u64> = FILES.iter().map(|f| f.1).collect();
    let geometry = Geometry::new(64 * 1024, &lens).unwrap();
    let data = pattern(42, lens.iter().sum::<u64>() as usize);
    let hashes = piece_hashes(&geometry, &data);
    let paths = FILES
        .iter()
        .map(|f| StoragePath::parse(f.0).unwrap())
        .collect();
    Torrent {
        geometry,
        paths,
        data,
        hashes,
    }
}

/// Writer mode entry point: does nothing unless the parent test set the environment variable.
#[test]
fn crash_writer_entry() {
    let Ok(dir) = std::env::var(WRITER_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let hashed = std::env::var(MODE_ENV).is_ok_and(|m| m == "hashed");
    rt.block_on(writer(Path::new(&dir), hashed));
}

async fn writer(dir: &Path, hashed: bool) {
    let t = torrent();
    let factory: Arc<dyn StorageFactory> = Arc::new(FileStorage::in_dir(dir));
    let options = PieceStoreOptions::with_resume(MetaName::new(RESUME).unwrap());
    let (store, _) = PieceStore::open(
        factory,
        t.geometry.clone(),
        &t.paths,
        t.hashes.clone(),
        options,
    )
    .await
    .unwrap();
    let seed = u64::from(std::process::id());
    let n = t.geometry.piece_count();
    let mut order: Vec<u32> = (0..n).collect();
    let shuffle = pattern(seed, n as usize * 4);
    for i in (1..order.len()).rev() {
        let r = u32::from_le_bytes(shuffle[i * 4..i * 4 + 4].try_into().unwrap()) as usize;
        order.swap(i, r % (i + 1));
    }
    let mut verified = store.verified().count_ones();
    println!("ready {verified}");
    for index in order {
        let p = t.geometry.piece(index).unwrap();
        if store.is_verified(p) {
            continue;
        }
        let start = t.geometry.piece_start(p) as usize;
        let blocks = t.geometry.block_count(p);
        // Garbage first, so that a wrongly early mark would point at bad bytes.
        for b in 0..blocks {
            let len = t.geometry.block_len(p, b).unwrap() as usize;
            let junk = pattern(seed ^ u64::from(index * 64 + b), len);
            store.write_block(p, b * BLOCK_SIZE, &junk).await.unwrap();
        }
        assert!(!store.verify_piece(p).await.unwrap(), "garbage verified");
        if hashed {
            let data = &t.data[start..start + t.geometry.piece_len(p) as usize];
            let digest: [u8; 20] = Sha1::digest(data).into();
            assert!(store.write_hashed_piece(p, data, &digest).await.unwrap());
            if store.uncommitted() == GROUP {
                verified += store.commit_hashed().await.unwrap();
                println!("verified {verified}");
            }
            continue;
        }
        for b in 0..blocks {
            let len = t.geometry.block_len(p, b).unwrap() as usize;
            let at = start + (b * BLOCK_SIZE) as usize;
            store
                .write_block(p, b * BLOCK_SIZE, &t.data[at..at + len])
                .await
                .unwrap();
        }
        assert!(store.verify_piece(p).await.unwrap(), "correct piece failed");
        verified += 1;
        println!("verified {verified}");
    }
    verified += store.commit_hashed().await.unwrap();
    println!("done {verified}");
}

/// Independent check of the persisted claim: returns the pieces the resume file marks, after
/// checking each against its hash read straight from the files with std::fs.
fn check_persisted(dir: &Path, t: &Torrent) -> u32 {
    let Ok(bytes) = std::fs::read(dir.join(".swarmfs").join(RESUME)) else {
        return 0;
    };
    let resume = ResumeData::decode(&bytes, &t.geometry, &t.hashes)
        .expect("resume file must always decode (atomic replace)");
    for index in resume.verified.ones() {
        let p = t.geometry.piece(index).unwrap();
        let mut buf = vec![0u8; t.geometry.piece_len(p) as usize];
        for span in t.geometry.spans(p, 0, t.geometry.piece_len(p)) {
            let file = std::fs::read(dir.join(FILES[span.file_index].0)).unwrap();
            let at = span.file_offset as usize;
            let to = span.piece_offset as usize;
            buf[to..to + span.len as usize].copy_from_slice(&file[at..at + span.len as usize]);
        }
        assert_eq!(
            Sha1::digest(&buf).as_slice(),
            t.hashes.get(index).unwrap(),
            "piece {index} is marked verified but its bytes do not match"
        );
    }
    resume.verified.count_ones()
}

fn spawn_writer(dir: &Path, mode: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_writer_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_ENV, dir)
        .env(MODE_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Reads the child's stdout on a thread: `ready` is signalled on `ready_tx`; the thread returns
/// the last count the child reported verified and whether it finished.
fn watch_output(
    child: &mut std::process::Child,
    ready_tx: std::sync::mpsc::Sender<()>,
) -> std::thread::JoinHandle<(u32, bool)> {
    let out = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        let mut last = 0;
        let mut done = false;
        // The test harness prints its own text before the first line of ours.
        for line in out.lines() {
            let line = line.unwrap();
            if line.contains("ready ") {
                let _ = ready_tx.send(());
            } else if let Some(at) = line.find("verified ") {
                last = line[at + 9..].trim().parse().unwrap();
            } else if let Some(at) = line.find("done ") {
                last = line[at + 5..].trim().parse().unwrap();
                done = true;
            }
        }
        (last, done)
    })
}

#[tokio::test]
async fn kill_9_never_marks_unverified_and_never_loses_verified() {
    if std::env::var(WRITER_ENV).is_ok() {
        return;
    }
    kill_9_rounds("blocks").await;
}

#[tokio::test]
async fn kill_9_hashed_pieces_group_commit() {
    if std::env::var(WRITER_ENV).is_ok() {
        return;
    }
    kill_9_rounds("hashed").await;
}

async fn kill_9_rounds(mode: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let t = torrent();
    let mut rng = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill schedule seed {rng}");
    let mut previous = 0;
    let mut kills = 0;
    for round in 0..40 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Short delays so that at least several kills land before a fast writer finishes.
        let delay = Duration::from_millis(5 + rng % 150);
        let mut child = spawn_writer(dir, mode);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let output = watch_output(&mut child, ready_tx);
        // The kill clock starts once the writer has opened the store and begins writing.
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("writer never got ready");
        let start = Instant::now();
        let mut exited = false;
        while start.elapsed() < delay {
            if child.try_wait().unwrap().is_some() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if !exited {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        child.wait().unwrap();
        let (reported, done) = output.join().unwrap();
        let persisted = check_persisted(dir, &t);
        eprintln!(
            "round {round}: killed {delay:?} after ready, child reported {reported}, persisted {persisted}"
        );
        assert!(persisted >= previous, "verified count went backwards");
        assert!(persisted >= reported, "a piece reported verified was lost");
        previous = persisted;
        // Reopening reconciles stamps; it must not drop any persisted piece.
        let factory: Arc<dyn StorageFactory> = Arc::new(FileStorage::in_dir(dir));
        let options = PieceStoreOptions::with_resume(MetaName::new(RESUME).unwrap());
        let (store, report) = PieceStore::open(
            factory,
            t.geometry.clone(),
            &t.paths,
            t.hashes.clone(),
            options,
        )
        .await
        .unwrap();
        assert_eq!(report.dropped, 0, "{report:?}");
        assert_eq!(store.verified().count_ones(), persisted);
        if done || kills == 12 {
            break;
        }
    }
    assert!(
        kills >= 4,
        "only {kills} kills landed: the writer is too fast"
    );
    // Let a final writer finish the torrent.
    let mut child = spawn_writer(dir, mode);
    let (ready_tx, _ready_rx) = std::sync::mpsc::channel();
    let (reported, done) = watch_output(&mut child, ready_tx).join().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(done);
    assert_eq!(reported, t.geometry.piece_count());
    assert_eq!(check_persisted(dir, &t), t.geometry.piece_count());
    let mut all = Vec::new();
    for (name, _) in FILES {
        all.extend(std::fs::read(dir.join(name)).unwrap_or_default());
    }
    assert!(all == t.data, "final data differs");
    // Temporary resume files a kill left behind were cleaned up when the store was reopened.
    let meta: Vec<_> = std::fs::read_dir(dir.join(".swarmfs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(meta, vec![RESUME], "stale files in the metadata directory");
}
