//! Transfer rate measured over a sliding window of fixed slots: O(1) per sample, no allocation.

use std::time::{Duration, Instant};

const SLOTS: usize = 20;

/// Bytes per second over the last two seconds (twenty 100 ms slots).
#[derive(Clone, Debug)]
pub struct RateMeter {
    start: Instant,
    slot: Duration,
    slots: [u64; SLOTS],
    /// Index (since `start`) of the slot `now` falls in after the last update.
    epoch: u64,
    total: u64,
}

impl RateMeter {
    /// A meter that starts measuring at `now`.
    pub fn new(now: Instant) -> Self {
        Self::with_slot(now, Duration::from_millis(100))
    }

    /// A meter whose window is twenty slots of `slot` each.
    pub fn with_slot(now: Instant, slot: Duration) -> Self {
        Self {
            start: now,
            slot: slot.max(Duration::from_micros(1)),
            slots: [0; SLOTS],
            epoch: 0,
            total: 0,
        }
    }

    /// Counts `bytes` transferred at `now`.
    pub fn add(&mut self, now: Instant, bytes: u64) {
        self.advance(now);
        self.slots[(self.epoch % SLOTS as u64) as usize] += bytes;
        self.total += bytes;
    }

    /// Every byte ever counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The rate in bytes per second over the window ending at `now`.
    pub fn rate(&mut self, now: Instant) -> f64 {
        self.advance(now);
        let sum: u64 = self.slots.iter().sum();
        let window_start_epoch = (self.epoch + 1).saturating_sub(SLOTS as u64);
        let window_start = self.start + self.slot * window_start_epoch as u32;
        let span = now
            .saturating_duration_since(window_start)
            .max(Duration::from_millis(1));
        sum as f64 / span.as_secs_f64()
    }

    fn advance(&mut self, now: Instant) {
        let e =
            (now.saturating_duration_since(self.start).as_nanos() / self.slot.as_nanos()) as u64;
        if e <= self.epoch {
            return;
        }
        if e - self.epoch >= SLOTS as u64 {
            self.slots = [0; SLOTS];
        } else {
            for k in self.epoch + 1..=e {
                self.slots[(k % SLOTS as u64) as usize] = 0;
            }
        }
        self.epoch = e;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_and_decay() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        // 10 KiB every 10 ms = 1 MiB/s... for 5 s.
        for i in 1..=500u32 {
            m.add(t0 + Duration::from_millis(10) * i, 10 * 1024);
        }
        let r = m.rate(t0 + Duration::from_secs(5));
        assert!((r - 1_024_000.0).abs() < 60_000.0, "rate {r}");
        assert_eq!(m.total(), 500 * 10 * 1024);
        // Nothing for 3 s: the window has emptied.
        assert_eq!(m.rate(t0 + Duration::from_secs(8)), 0.0);
    }
}
