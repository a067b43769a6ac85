//! Exponential backoff and shutdown-aware sleeping for workers.

use std::time::Duration;

use tokio::sync::watch;

/// First retry delay.
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest retry delay: an outage is noticed within 30 s of its end.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Doubling delay from [`BACKOFF_MIN`] to [`BACKOFF_MAX`].
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    /// Consecutive failures so far.
    pub failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: BACKOFF_MIN,
            failures: 0,
        }
    }
}

impl Backoff {
    /// The delay to wait now; the following one is twice as long (capped).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        self.failures += 1;
        d
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Cloneable view of the service's stop flag.
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
    fn doubles_and_caps() {
        let mut b = Backoff::default();
        let d: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(d, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        b.reset();
        assert_eq!(b.next_delay(), BACKOFF_MIN);
    }
}
