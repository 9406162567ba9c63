//! Keypair files: round trip, owner-only mode, malformed content.

use swarmfs::{Keypair, KeypairError};

#[test]
fn save_and_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("publisher.key");
    let k = Keypair::generate();
    k.save(&path).unwrap();
    let back = Keypair::load(&path).unwrap();
    assert_eq!(back.public_key(), k.public_key());
    assert_eq!(back.public_key_hex(), hex::encode(k.public_key()));
    assert_eq!(back.public_key_hex().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Saving again replaces the file and keeps the mode.
    let other = Keypair::generate();
    other.save(&path).unwrap();
    assert_eq!(
        Keypair::load(&path).unwrap().public_key(),
        other.public_key()
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn malformed_and_missing_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(matches!(
        Keypair::load(&missing),
        Err(KeypairError::Io { .. })
    ));
    for bad in [
        &b"zz"[..],
        &[b'a'; 63][..],
        &[b'0'; 4096][..],
        &[0xff, 0xfe][..],
    ] {
        let p = dir.path().join("bad");
        std::fs::write(&p, bad).unwrap();
        assert!(
            matches!(Keypair::load(&p), Err(KeypairError::Malformed { .. })),
            "{bad:?}"
        );
    }
}
