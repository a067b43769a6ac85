//! Sliding windows with bounded memory.
//!
//! An exact sliding count needs every timestamp in the window: a flood of a million events a
//! minute would need a million. A [`Window`] keeps [`BUCKETS`] counters instead, each one
//! `width / BUCKETS` long, and counts the events of the last `BUCKETS` buckets: between
//! `width − width/BUCKETS` and `width` of history, 12 counters whatever the rate. Old buckets
//! are cleared as time moves on ("evicted"); a window that has seen nothing for `width` is
//! empty and its entity can be dropped.
//!
//! A [`DistinctWindow`] counts distinct values (users per source IP) in the same way, with at
//! most [`MAX_DISTINCT`] values remembered: above that the count saturates, which is far past
//! every threshold a rule would use.
//!
//! Events must come in time order; an event older than the newest bucket is counted in the
//! newest bucket (late events are not lost, and time never goes backwards).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Counters per window.
pub const BUCKETS: usize = 12;
/// Distinct values remembered per [`DistinctWindow`].
pub const MAX_DISTINCT: usize = 1024;

/// A sliding count over `width` milliseconds (the width is passed in, not stored: every
/// window of one detector has the same width, so storing it per entity would waste memory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Absolute index of the newest bucket (`t / bucket_width`).
    head: i64,
    counts: [u32; BUCKETS],
    sum: u32,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            head: i64::MIN,
            counts: [0; BUCKETS],
            sum: 0,
        }
    }
}

fn bucket_width(width_ms: i64) -> i64 {
    (width_ms / BUCKETS as i64).max(1)
}

impl Window {
    /// Moves the window to time `t_ms`, clearing buckets that fell out.
    fn advance(&mut self, t_ms: i64, width_ms: i64) {
        let b = t_ms.div_euclid(bucket_width(width_ms));
        if self.head == i64::MIN {
            self.head = b;
            return;
        }
        if b <= self.head {
            return;
        }
        if self.sum == 0 {
            self.counts = [0; BUCKETS];
            self.head = b;
            return;
        }
        let steps = b - self.head;
        if steps >= BUCKETS as i64 {
            self.counts = [0; BUCKETS];
            self.sum = 0;
        } else {
            for i in 1..=steps {
                let slot = (self.head + i).rem_euclid(BUCKETS as i64) as usize;
                self.sum = self.sum.saturating_sub(self.counts[slot]);
                self.counts[slot] = 0;
            }
        }
        self.head = b;
    }

    /// Counts one event at `t_ms` and returns the count in the window, this event included.
    pub fn add(&mut self, t_ms: i64, width_ms: i64) -> u32 {
        self.advance(t_ms, width_ms);
        let slot = self.head.rem_euclid(BUCKETS as i64) as usize;
        self.counts[slot] = self.counts[slot].saturating_add(1);
        self.sum = self.sum.saturating_add(1);
        self.sum
    }

    /// The count in the window at `t_ms` (moves the window; adds nothing).
    pub fn count(&mut self, t_ms: i64, width_ms: i64) -> u32 {
        self.advance(t_ms, width_ms);
        self.sum
    }

    /// Whether the window is empty at `t_ms` without moving it.
    pub fn is_idle(&self, t_ms: i64, width_ms: i64) -> bool {
        self.sum == 0 || t_ms.div_euclid(bucket_width(width_ms)) - self.head >= BUCKETS as i64
    }
}

/// Distinct values in a sliding window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistinctWindow {
    /// Value hash → bucket index it was last seen in.
    last_seen: HashMap<u64, i64>,
    /// Bucket of the last sweep.
    swept: i64,
}

impl DistinctWindow {
    /// Records `value` at `t_ms` and returns the number of distinct values in the window.
    pub fn add(&mut self, value: u64, t_ms: i64, width_ms: i64) -> usize {
        let b = t_ms.div_euclid(bucket_width(width_ms));
        if b != self.swept {
            let oldest = b - (BUCKETS as i64 - 1);
            self.last_seen.retain(|_, seen| *seen >= oldest);
            self.swept = b;
        }
        if self.last_seen.len() < MAX_DISTINCT || self.last_seen.contains_key(&value) {
            let e = self.last_seen.entry(value).or_insert(b);
            *e = (*e).max(b);
        }
        self.last_seen.len()
    }

    /// Whether nothing in it is still inside the window at `t_ms`.
    pub fn is_idle(&self, t_ms: i64, width_ms: i64) -> bool {
        let b = t_ms.div_euclid(bucket_width(width_ms));
        self.last_seen
            .values()
            .all(|&seen| b - seen >= BUCKETS as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn counts_slide_and_old_buckets_are_evicted() {
        let mut w = Window::default();
        // 5 events a second for 30 s.
        let mut last = 0;
        for i in 0..150 {
            last = w.add(i * 200, MIN);
        }
        assert_eq!(last, 150);
        // 55 s after the start everything is still in a 1-minute window.
        assert_eq!(w.count(55_000, MIN), 150);
        // 90 s: the first half (0–30 s) is leaving; at most one bucket (5 s) of it remains.
        let c = w.count(90_000, MIN);
        assert!(c <= 25, "{c}");
        // Two minutes later nothing is left, and the window says it is idle.
        assert!(w.is_idle(150_000, MIN));
        assert_eq!(w.count(150_000, MIN), 0);
        // It starts again from zero.
        assert_eq!(w.add(151_000, MIN), 1);
    }

    #[test]
    fn window_keeps_between_width_minus_one_bucket_and_width() {
        let mut w = Window::default();
        w.add(0, MIN);
        assert_eq!(w.count(MIN - MIN / BUCKETS as i64 - 1, MIN), 1);
        assert_eq!(w.count(MIN, MIN), 0);
    }

    #[test]
    fn late_events_count_in_the_newest_bucket() {
        let mut w = Window::default();
        w.add(100_000, MIN);
        assert_eq!(w.add(10_000, MIN), 2, "late event still counted");
        assert_eq!(w.count(100_000 + MIN, MIN), 0);
    }

    #[test]
    fn bounded_under_a_flood() {
        let mut w = Window::default();
        for i in 0..1_000_000i64 {
            w.add(i / 20, MIN); // 20 000 events/ms
        }
        assert_eq!(w.count(49_999, MIN), 1_000_000);
        assert!(std::mem::size_of::<Window>() <= 64);
    }

    #[test]
    fn distinct_values_slide_and_saturate() {
        let mut d = DistinctWindow::default();
        for u in 0..10u64 {
            d.add(u, 1000 * u as i64, MIN);
        }
        assert_eq!(d.add(3, 11_000, MIN), 10, "repeat is not new");
        // Two minutes later only the new value is there.
        assert_eq!(d.add(99, 131_000, MIN), 1);
        assert!(d.is_idle(131_000 + 2 * MIN, MIN));
        let mut d = DistinctWindow::default();
        let mut n = 0;
        for u in 0..5000u64 {
            n = d.add(u, 0, MIN);
        }
        assert_eq!(n, MAX_DISTINCT);
    }
}
