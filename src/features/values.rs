//! Value counts of one categorical thing — a template's parameter slot, a field such as
//! `exe` or `user` — as p-values, with online memory of values seen after training.
//!
//! A value seen `k` times in training scores its tail mass (see [`super::counts`]); a value
//! never seen scores the rate at which the thing took new values in training
//! (`½ · distinct / count`, not Good–Turing: values arrive in bursts, so a slot can have no
//! singletons and still take new values all the time). A thing that took more than
//! [`MAX_VALUES`] distinct values (process ids, request ids that escaped masking) is "open":
//! it carries no evidence and its values are not kept.
//!
//! After training, [`ValueCounts::learn`] remembers values in an [`OnlineValues`], so a new
//! value is surprising the first time and less so every time after.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::counts::{TailTable, Unseen};

/// Things with more distinct training values than this carry no evidence.
pub const MAX_VALUES: usize = 1024;

/// Training counts of one thing's values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ValueCounts {
    /// Training count per value (empty when open).
    values: HashMap<String, u64>,
    table: TailTable,
    open: bool,
}

/// Values seen after training.
#[derive(Debug, Clone, Default)]
pub struct OnlineValues {
    /// Online count per value (trained or new).
    values: HashMap<String, u64>,
    /// Of those, how many were new.
    new: u64,
    /// Sightings learned in all.
    learned: u64,
}

/// Accumulates training values, then becomes [`ValueCounts`].
#[derive(Debug, Default)]
pub struct ValueCounter {
    values: HashMap<String, u64>,
}

impl ValueCounter {
    /// Adds `n` sightings of `value`.
    pub fn add(&mut self, value: &str, n: u64) {
        if let Some(c) = self.values.get_mut(value) {
            *c += n;
        } else if self.values.len() <= MAX_VALUES {
            self.values.insert(value.to_string(), n);
        }
    }

    pub fn finish(self) -> ValueCounts {
        let table = TailTable::from_counts(self.values.values().copied());
        if self.values.len() > MAX_VALUES {
            ValueCounts {
                values: HashMap::new(),
                table,
                open: true,
            }
        } else {
            ValueCounts {
                values: self.values,
                table,
                open: false,
            }
        }
    }
}

impl ValueCounts {
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Training count of `value`.
    pub fn count(&self, value: &str) -> u64 {
        self.values.get(value).copied().unwrap_or(0)
    }

    /// p-value of `value` (`None` for an open thing), given what was learned online.
    pub fn p(&self, value: &str, online: Option<&OnlineValues>) -> Option<f64> {
        if self.open {
            return None;
        }
        let k = self.count(value);
        let (new, learned, seen) = match online {
            Some(o) => (o.new, o.learned, o.values.get(value).copied().unwrap_or(0)),
            None => (0, 0, 0),
        };
        if k > 0 {
            return Some(self.table.p_at(self.table.rescaled(k, seen, learned)));
        }
        let unseen = self.table.p_unseen(Unseen::DistinctRate, new, learned);
        if seen == 0 {
            return Some(unseen);
        }
        // Place the value among the training values and the other new ones.
        let (mut below, mut at) = self.table.mass_below_at(seen);
        if let Some(o) = online {
            for (v, &c) in &o.values {
                if self.values.contains_key(v) {
                    continue;
                }
                if c < seen {
                    below += c;
                } else if c == seen {
                    at += c;
                }
            }
        }
        let total = (self.table.total() + learned).max(1) as f64;
        Some(unseen.max((below as f64 + 0.5 * at as f64) / total))
    }

    /// Remembers one sighting of `value` after training.
    pub fn learn(&self, value: &str, online: &mut OnlineValues) {
        if self.open {
            return;
        }
        online.learned += 1;
        let is_new = !self.values.contains_key(value);
        let room = online.values.len() < MAX_VALUES;
        match online.values.get_mut(value) {
            Some(c) => *c += 1,
            None if room => {
                online.values.insert(value.to_string(), 1);
                online.new += u64::from(is_new);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_values_are_surprising_once() {
        let mut c = ValueCounter::default();
        c.add("root", 500);
        c.add("alice", 3);
        let v = c.finish();
        let root = v.p("root", None).unwrap();
        let alice = v.p("alice", None).unwrap();
        let mallory = v.p("mallory", None).unwrap();
        assert!(
            root > 0.5 && alice < 0.01 && mallory < alice,
            "{root} {alice} {mallory}"
        );
        let mut on = OnlineValues::default();
        for _ in 0..100 {
            v.learn("mallory", &mut on);
        }
        assert!(v.p("mallory", Some(&on)).unwrap() > 0.05);
        let mut open = ValueCounter::default();
        for i in 0..=MAX_VALUES {
            open.add(&i.to_string(), 1);
        }
        assert!(open.finish().p("x", None).is_none());
    }
}
