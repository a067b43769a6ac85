//! Jittered exponential backoff and shutdown-aware sleeping for workers.
//!
//! The delays come from `backon`'s exponential builder with jitter: each delay is the
//! doubling base delay plus a random share of it, so a hundred workers that lost the server
//! at the same moment do not all come back in the same millisecond. `backon` only supplies
//! the delays; the waiting is [`Shutdown::sleep`], so a stop request ends any retry at once.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::sync::watch;

/// Base of the first retry delay (the jittered delay is 1–2 times the base).
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Largest base delay; with jitter a retry waits at most twice this, so an outage is
/// noticed within 30 s of its end.
pub const BACKOFF_MAX: Duration = Duration::from_secs(15);

/// Jittered doubling delays from [`BACKOFF_MIN`] up to twice [`BACKOFF_MAX`].
#[derive(Debug)]
pub struct Backoff {
    delays: ExponentialBackoff,
    /// Consecutive failures so far.
    pub failures: u32,
}

fn builder() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_jitter()
        .with_factor(2.0)
        .with_min_delay(BACKOFF_MIN)
        .with_max_delay(BACKOFF_MAX)
        .without_max_times()
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            delays: builder().build(),
            failures: 0,
        }
    }
}

impl Backoff {
    /// Backoff with a fixed jitter seed (tests).
    pub fn seeded(seed: u64) -> Self {
        Self {
            delays: builder().with_jitter_seed(seed).build(),
            failures: 0,
        }
    }

    /// The delay to wait now; the base of the following one is twice as long (capped).
    pub fn next_delay(&mut self) -> Duration {
        self.failures += 1;
        self.delays.next().unwrap_or(BACKOFF_MAX * 2)
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Cloneable view of a stop flag (the service's, or one worker's).
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Wraps the receiving end of the stop flag.
    pub fn new(rx: watch::Receiver<bool>) -> Self {
        Self(rx)
    }

    /// Whether stopping was requested.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once stopping is requested (or the sender is gone).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Sleeps for `d`; returns `true` if stopping was requested meanwhile.
    pub async fn sleep(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = self.wait() => true,
            _ = tokio::time::sleep(d) => self.is_set(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_and_caps() {
        let mut b = Backoff::seeded(7);
        let d: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        for (i, d) in d.iter().enumerate() {
            let base = (BACKOFF_MIN * 2u32.pow(i as u32)).min(BACKOFF_MAX);
            assert!(
                *d >= base && *d < base * 2,
                "delay {i}: {d:?} outside [{base:?}, 2x)"
            );
        }
        assert_eq!(b.failures, 10);
        b.reset();
        assert!(b.next_delay() < BACKOFF_MIN * 2);
    }

    #[test]
    fn workers_failing_together_retry_apart() {
        // Two workers (different seeds) that fail at the same moment wait different times.
        let mut a = Backoff::seeded(1);
        let mut b = Backoff::seeded(2);
        let da: Vec<Duration> = (0..5).map(|_| a.next_delay()).collect();
        let db: Vec<Duration> = (0..5).map(|_| b.next_delay()).collect();
        assert!(da.iter().zip(&db).all(|(x, y)| x != y), "{da:?} vs {db:?}");
    }
}
