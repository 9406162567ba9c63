//! Write tokens for `announce_peer` and `put`: SHA-1 of a rotating secret and the requester's IP.
//!
//! BEP 5: "tokens up to ten minutes old are accepted" — the secret rotates every five minutes and
//! the previous one is still honoured.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::RngCore;
use sha1::{Digest, Sha1};

/// How often the secret changes.
pub(crate) const ROTATE_EVERY: Duration = Duration::from_secs(300);
const TOKEN_LEN: usize = 8;

pub(crate) struct TokenManager {
    current: [u8; 16],
    previous: [u8; 16],
    rotated_at: Instant,
}

impl TokenManager {
    pub(crate) fn new(now: Instant, rng: &mut impl RngCore) -> Self {
        let mut current = [0; 16];
        rng.fill_bytes(&mut current);
        TokenManager {
            current,
            previous: current,
            rotated_at: now,
        }
    }

    /// The token handed to `ip` now.
    pub(crate) fn issue(&self, ip: IpAddr) -> Vec<u8> {
        make(&self.current, ip)
    }

    /// True when `token` was issued to `ip` under the current or previous secret.
    pub(crate) fn check(&self, ip: IpAddr, token: &[u8]) -> bool {
        token == make(&self.current, ip).as_slice() || token == make(&self.previous, ip).as_slice()
    }

    /// Rotates the secret if it is old enough.
    pub(crate) fn maybe_rotate(&mut self, now: Instant, rng: &mut impl RngCore) {
        if now.saturating_duration_since(self.rotated_at) >= ROTATE_EVERY {
            self.previous = self.current;
            rng.fill_bytes(&mut self.current);
            self.rotated_at = now;
        }
    }
}

fn make(secret: &[u8; 16], ip: IpAddr) -> Vec<u8> {
    let mut hasher = Sha1::new();
    hasher.update(secret);
    match ip {
        IpAddr::V4(v4) => hasher.update(v4.octets()),
        IpAddr::V6(v6) => hasher.update(v6.octets()),
    }
    hasher.finalize()[..TOKEN_LEN].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn tokens_bound_to_ip_and_survive_one_rotation() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let start = Instant::now();
        let mut tokens = TokenManager::new(start, &mut rng);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let token = tokens.issue(a);
        assert!(tokens.check(a, &token));
        assert!(!tokens.check(b, &token));
        tokens.maybe_rotate(start + Duration::from_secs(10), &mut rng);
        assert_eq!(tokens.issue(a), token, "rotated too early");
        tokens.maybe_rotate(start + ROTATE_EVERY, &mut rng);
        assert!(tokens.check(a, &token), "previous secret still valid");
        assert_ne!(tokens.issue(a), token);
        tokens.maybe_rotate(start + ROTATE_EVERY * 2, &mut rng);
        assert!(!tokens.check(a, &token), "expired after two rotations");
    }
}
