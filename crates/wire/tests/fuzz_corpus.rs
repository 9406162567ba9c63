//! Runs every fuzz body over its seed corpus in `fuzz/seeds/<target>/` and over a few thousand
//! deterministic random and mutated inputs, so that stable `cargo test` exercises them.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use swarmfs_wire::{
    ExtensionHandshake, Handshake, LsdAnnounce, Message, PexMessage, UtMetadata, fuzzing,
};

type Body = fn(&[u8]);
type Accepts = fn(&[u8]) -> bool;

/// Each target's body, and whether its decoder accepts an input (so the test can check that
/// the mutated inputs reach both the round-trip checks and the error paths).
const TARGETS: [(&str, Body, Accepts); 6] = [
    ("handshake", fuzzing::handshake, |d| {
        matches!(Handshake::decode(d), Ok(Some(_)))
    }),
    ("message", fuzzing::message, |d| {
        matches!(Message::decode(d), Ok(Some(_)))
    }),
    ("extension_handshake", fuzzing::extension_handshake, |d| {
        ExtensionHandshake::decode(d).is_ok()
    }),
    ("ut_metadata", fuzzing::ut_metadata, |d| {
        UtMetadata::decode(Bytes::copy_from_slice(d)).is_ok()
    }),
    ("ut_pex", fuzzing::ut_pex, |d| PexMessage::decode(d).is_ok()),
    ("lsd", fuzzing::lsd, |d| LsdAnnounce::parse(d).is_ok()),
];

/// Mutated inputs per target.
const MUTATIONS: usize = 3000;

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = seeds_dir(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let out: Vec<_> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

/// SplitMix64: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// One mutation of `input` in the style of libFuzzer's: flips, overwrites with interesting
/// values, inserts, deletes, truncates, duplicates or splices with `other`.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] = [0, 1, 0x7f, 0x80, 0xff, b'e', b'd', b'i', b':', b'\n'][rng.below(10)];
            }
            2 => v.insert(at, rng.byte()),
            3 if at < v.len() => {
                let end = (at + 1 + rng.below(8)).min(v.len());
                v.drain(at..end);
            }
            4 => v.truncate(at),
            5 => {
                let n = rng.below(16);
                let chunk: Vec<u8> = v.iter().skip(at).take(n).copied().collect();
                v.splice(at..at, chunk);
            }
            6 if !other.is_empty() => {
                let from = rng.below(other.len());
                let n = rng.below(other.len() - from + 1);
                v.splice(at.., other[from..from + n].iter().copied());
            }
            _ => {
                // Overwrite a 4-byte window with a big-endian length-like value.
                let val =
                    [0u32, 1, 13, 0x4000, 0x4009, 0x10_0000, 0x10_0001, u32::MAX][rng.below(8)];
                for (i, b) in val.to_be_bytes().into_iter().enumerate() {
                    if let Some(x) = v.get_mut(at + i) {
                        *x = b;
                    }
                }
            }
        }
    }
    v
}

#[test]
fn fuzz_bodies_accept_their_seeds() {
    for (name, body, _) in TARGETS {
        for seed in seeds(name) {
            body(&seed);
        }
    }
}

#[test]
fn seeds_are_valid_inputs() {
    // A body that never reaches its round-trip check proves nothing: every seed decodes.
    for seed in seeds("handshake") {
        assert!(matches!(Handshake::decode(&seed), Ok(Some(_))));
    }
    for seed in seeds("message") {
        let (mut rest, mut count) = (&seed[..], 0);
        while let Some((_, used)) = Message::decode(rest).unwrap() {
            rest = &rest[used..];
            count += 1;
        }
        assert!(rest.is_empty() && count > 0);
    }
    for seed in seeds("extension_handshake") {
        ExtensionHandshake::decode(&seed).unwrap();
    }
    for seed in seeds("ut_metadata") {
        UtMetadata::decode(Bytes::from(seed)).unwrap();
    }
    for seed in seeds("ut_pex") {
        PexMessage::decode(&seed).unwrap();
    }
    for seed in seeds("lsd") {
        LsdAnnounce::parse(&seed).unwrap();
    }
}

#[test]
fn fuzz_bodies_survive_random_and_mutated_inputs() {
    let mut rng = Rng(0x5eed_5eed);
    for (name, body, accepts) in TARGETS {
        let corpus = seeds(name);
        for _ in 0..MUTATIONS / 4 {
            let len = rng.below(96);
            let random: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            body(&random);
        }
        let mut accepted = 0;
        for i in 0..MUTATIONS {
            let seed = &corpus[i % corpus.len()];
            let other = &corpus[rng.below(corpus.len())];
            let input = mutate(&mut rng, seed, other);
            body(&input);
            accepted += usize::from(accepts(&input));
        }
        eprintln!("{name}: {accepted} of {MUTATIONS} mutated inputs decode");
        assert!(
            (MUTATIONS / 20..MUTATIONS - MUTATIONS / 20).contains(&accepted),
            "{name}: {accepted} of {MUTATIONS} mutated inputs decode"
        );
    }
}
