//! `swarmfs keygen`, and bad input giving one-line errors with distinct exit codes.

mod support;

use support::{ok, run};

#[test]
fn keygen_writes_a_private_key_and_prints_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("me.key");
    let key_s = key.to_str().unwrap();
    let out = ok(&run(&["keygen", "--out", key_s]));
    let public = out.trim();
    assert_eq!(public.len(), 64, "{out}");
    assert!(public.bytes().all(|b| b.is_ascii_hexdigit()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secret = std::fs::read_to_string(&key).unwrap();
    assert!(
        !secret.contains(public),
        "the file holds the secret, not the public key"
    );

    // Refuses to overwrite.
    let again = run(&["keygen", "--out", key_s]);
    assert_eq!(again.status.code(), Some(3));
    // --json
    let other = dir.path().join("other.key");
    let json = ok(&run(&[
        "--json",
        "keygen",
        "--out",
        other.to_str().unwrap(),
    ]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["public_key"].as_str().unwrap().len(), 64);
    assert_ne!(v["public_key"].as_str().unwrap(), public);
}

#[test]
fn bad_input_gives_one_line_and_a_distinct_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    for url in ["not-a-magnet", "magnet:?xt=urn:btih:zzzz"] {
        let o = run(&["get", url, "--out", out_s, "--no-dht", "--no-lsd"]);
        assert_eq!(o.status.code(), Some(3), "{url}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.starts_with("swarmfs: "), "{err}");
    }
    let bad_key = dir.path().join("bad.key");
    std::fs::write(&bad_key, "not hex").unwrap();
    let magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";
    let o = run(&[
        "publish",
        magnet,
        "--key",
        bad_key.to_str().unwrap(),
        "--no-dht",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.key"));
    let missing = dir.path().join("missing.key");
    let o = run(&[
        "publish",
        magnet,
        "--key",
        missing.to_str().unwrap(),
        "--no-dht",
    ]);
    assert_eq!(o.status.code(), Some(3));
    // Nobody has it: the lookup times out.
    let o = run(&[
        "ls",
        magnet,
        "--no-dht",
        "--no-lsd",
        "--timeout",
        "1",
        "--peer",
        "127.0.0.1:9",
    ]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // clap's usage errors.
    assert_eq!(run(&["get"]).status.code(), Some(2));
}
