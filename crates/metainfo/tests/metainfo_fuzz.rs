//! Runs the fuzz bodies on stable: over `fuzz/seeds/{magnet,torrent}/`, and over a few thousand
//! deterministic random and mutated inputs. `fuzz/seeds/*/crash-*` files are regression inputs.

use std::path::PathBuf;

use swarmfs_metainfo::fuzzing;

fn seeds(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(name);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 4, "too few seeds in {}", dir.display());
    out.into_iter().map(|(_, b)| b).collect()
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that make structure-aware mutations likely to hit interesting paths.
const TOKENS: &[&[u8]] = &[
    b"d",
    b"e",
    b"l",
    b"i",
    b"i-1e",
    b"i0e",
    b"0:",
    b"4:path",
    b"2:..",
    b"1:/",
    b"6:length",
    b"i99999999999999999999e",
    b"&",
    b"=",
    b"%",
    b"%2",
    b"%zz",
    b"+",
    b"xt=urn:btih:",
    b"xs=urn:btpk:",
    b"&s=",
    b"x.pe=",
    b"[::1]:",
    b":0",
    b"\0",
    b"\xff",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => v.truncate(at),
            3 if at < v.len() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            4 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            _ => {
                // Duplicate a slice of the input somewhere else.
                if !v.is_empty() {
                    let from = rng.below(v.len());
                    let len = rng.below(32).min(v.len() - from);
                    let chunk = v[from..from + len].to_vec();
                    v.splice(at..at, chunk);
                }
            }
        }
    }
    v
}

fn run(name: &str, body: fn(&[u8]), seed: u64) {
    let corpus = seeds(name);
    for s in &corpus {
        body(s);
    }
    let mut rng = Rng(seed);
    for _ in 0..3000 {
        let base = &corpus[rng.below(corpus.len())];
        body(&mutate(&mut rng, base));
    }
    for _ in 0..1000 {
        let len = rng.below(64);
        let random: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        body(&random);
    }
}

#[test]
fn magnet_fuzz_body_over_seeds_and_mutations() {
    run("magnet", fuzzing::magnet, 0x5eed_0001);
}

#[test]
fn torrent_fuzz_body_over_seeds_and_mutations() {
    run("torrent", fuzzing::torrent, 0x5eed_0002);
}

#[test]
fn seeds_include_accepted_inputs() {
    // The corpus must reach the success paths, not only the error paths.
    let ok = seeds("torrent")
        .iter()
        .filter(|s| swarmfs_metainfo::Torrent::from_bytes(s).is_ok())
        .count();
    assert!(ok >= 3, "{ok} torrent seeds parse");
    let ok = seeds("magnet")
        .iter()
        .filter(|s| swarmfs_metainfo::Magnet::parse(std::str::from_utf8(s).unwrap()).is_ok())
        .count();
    assert!(ok >= 4, "{ok} magnet seeds parse");
}
