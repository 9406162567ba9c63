//! Token-bucket rate limits for upload and download, global and per torrent.
//!
//! A bucket may go into debt: a transfer of `n` bytes always proceeds after sleeping as long as
//! the debt needs to be repaid at the configured rate, so the long-run average is exact however
//! large single transfers are. An unset limit is no bucket at all (an empty list), costing nothing.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A token bucket of `rate` bytes per second.
#[derive(Debug)]
pub(crate) struct RateLimit {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// A bucket of `bytes_per_sec` that may burst a tenth of a second's worth (at least 16 KiB).
    pub(crate) fn new(bytes_per_sec: u64) -> Arc<Self> {
        let rate = bytes_per_sec.max(1) as f64;
        let burst = (rate / 10.0).max(16.0 * 1024.0);
        Arc::new(Self {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        })
    }

    /// Takes `n` tokens and returns how long to wait before using them.
    fn take(&self, n: usize) -> Duration {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(st.1).as_secs_f64();
        st.0 = (st.0 + elapsed * self.rate).min(self.burst);
        st.1 = now;
        st.0 -= n as f64;
        if st.0 >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-st.0 / self.rate)
        }
    }
}

/// Takes `n` bytes from every bucket in `limits`, sleeping as long as the slowest one needs.
pub(crate) async fn acquire(limits: &[Arc<RateLimit>], n: usize) {
    if limits.is_empty() {
        return;
    }
    let wait = limits
        .iter()
        .map(|l| l.take(n))
        .max()
        .unwrap_or(Duration::ZERO);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debt_grows_with_transfers_beyond_the_burst() {
        let l = RateLimit::new(100 * 1024);
        assert_eq!(l.take(16 * 1024), Duration::ZERO);
        let w = l.take(100 * 1024);
        // 100 KiB beyond an empty bucket at 100 KiB/s: about one second.
        assert!(
            w > Duration::from_millis(900) && w < Duration::from_millis(1100),
            "{w:?}"
        );
    }

    #[tokio::test]
    async fn average_rate_holds() {
        let limits = vec![RateLimit::new(1024 * 1024)];
        let start = Instant::now();
        for _ in 0..32 {
            acquire(&limits, 16 * 1024).await;
        }
        // 512 KiB at 1 MiB/s with a 102 KiB burst: at least ~0.4 s.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(380), "{took:?}");
        assert!(took < Duration::from_millis(900), "{took:?}");
    }
}
