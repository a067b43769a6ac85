//! Count-based p-values: how unusual it is, on this host, to be this rare.
//!
//! A message kind seen 3 times among 10,000 messages is rare, but whether that is
//! *surprising* depends on the host: on a host whose traffic is a dozen kinds repeated, the
//! rare kinds are a tiny share of all messages; on a host that logs thousands of one-off
//! lines, being a one-off is ordinary. The p-value captures both:
//!
//! ```text
//! p(k) = (mass of keys seen fewer than k times + ½ · mass of keys seen exactly k times) / total
//! ```
//!
//! where a key's mass is its count — the share of training messages whose key is at most as
//! common as this one (the mid-p convention splits ties, so a whole tie group cannot sit
//! exactly at a threshold). Under the training distribution `p` is about uniform, which is what
//! lets one `contamination` setting mean the same on every host.
//!
//! A key never seen in training is stronger evidence than any seen one, but not infinitely
//! strong: the training data tells how often new keys turn up. Two estimates are offered:
//! Good–Turing (`½ · mass of keys seen once / total`), right for message kinds, and the
//! rate at which distinct values appeared (`½ · distinct / total`), right for parameter slots,
//! whose values arrive in bursts (a client connects 40 times, then another one), where
//! Good–Turing would see no singletons and call every new value impossible.

use serde::{Deserialize, Serialize};

/// How a never-seen key is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unseen {
    /// Good–Turing: the share of training mass on keys seen exactly once.
    GoodTuring,
    /// The rate at which new keys appeared during training: distinct keys / total.
    DistinctRate,
}

/// Counts of keys first seen after training (online), to place them in the tail together with
/// the training keys: a kind new since training and seen `c` times sits in the tail at the
/// mass of every key (trained or online) at most that common.
#[derive(Debug, Clone, Default)]
pub struct OnlineCounts {
    /// Count per online key.
    counts: Vec<u64>,
}

impl OnlineCounts {
    /// Adds one sighting of online key `id` (ids are dense, from 0).
    pub fn add(&mut self, id: usize) {
        if self.counts.len() <= id {
            self.counts.resize(id + 1, 0);
        }
        self.counts[id] += 1;
    }

    pub fn count(&self, id: usize) -> u64 {
        self.counts.get(id).copied().unwrap_or(0)
    }

    /// Number of online keys.
    pub fn keys(&self) -> u64 {
        self.counts.iter().filter(|&&c| c > 0).count() as u64
    }

    /// Mid-p of an online key seen `k` times, with `learned` messages since training, in the
    /// combined distribution (training `table` plus the online keys).
    pub fn p(&self, table: &TailTable, k: u64, learned: u64) -> f64 {
        let (mut below, mut at) = table.mass_below_at(k);
        for &c in &self.counts {
            if c < k {
                below += c;
            } else if c == k {
                at += c;
            }
        }
        let total = (table.total() + learned).max(1) as f64;
        ((below as f64 + 0.5 * at as f64) / total).clamp(0.0, 1.0)
    }
}

/// The distribution of counts of a set of keys, reduced to what p-values need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TailTable {
    /// Distinct count values, ascending.
    counts: Vec<u64>,
    /// Training mass (sum of counts) on keys with a count strictly below `counts[i]`.
    below: Vec<u64>,
    /// Training mass on keys with count exactly `counts[i]`.
    at: Vec<u64>,
    total: u64,
    distinct: u64,
}

impl TailTable {
    /// From the counts of every key (any order).
    pub fn from_counts(counts: impl IntoIterator<Item = u64>) -> Self {
        let mut cs: Vec<u64> = counts.into_iter().filter(|&c| c > 0).collect();
        cs.sort_unstable();
        let mut t = Self {
            distinct: cs.len() as u64,
            ..Self::default()
        };
        let mut acc = 0u64;
        let mut i = 0;
        while i < cs.len() {
            let c = cs[i];
            let mut j = i;
            while j < cs.len() && cs[j] == c {
                j += 1;
            }
            let mass = c.saturating_mul((j - i) as u64);
            t.counts.push(c);
            t.below.push(acc);
            t.at.push(mass);
            acc = acc.saturating_add(mass);
            i = j;
        }
        t.total = acc;
        t
    }

    /// From explicit `(value, mass)` pairs: `p_seen(v)` is then the mass on values below `v`
    /// plus half the mass at `v` (e.g. value = a message's rarest word's document frequency,
    /// mass = messages).
    pub fn from_value_masses(pairs: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut ps: Vec<(u64, u64)> = pairs.into_iter().filter(|p| p.0 > 0 && p.1 > 0).collect();
        ps.sort_unstable();
        let mut t = Self::default();
        let mut acc = 0u64;
        for (v, m) in ps {
            if t.counts.last() == Some(&v) {
                if let Some(a) = t.at.last_mut() {
                    *a += m;
                }
            } else {
                t.counts.push(v);
                t.below.push(acc);
                t.at.push(m);
                t.distinct += 1;
            }
            acc = acc.saturating_add(m);
        }
        t.total = acc;
        t
    }

    /// Total mass (number of training messages counted).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Number of distinct keys.
    pub fn distinct(&self) -> u64 {
        self.distinct
    }

    /// Mass on keys seen exactly once.
    pub fn singletons(&self) -> u64 {
        match self.counts.first() {
            Some(1) => self.at[0],
            _ => 0,
        }
    }

    /// Training mass on keys seen fewer than `k` times, and exactly `k` times.
    pub fn mass_below_at(&self, k: u64) -> (u64, u64) {
        let i = self.counts.partition_point(|&c| c < k);
        let below = if i < self.counts.len() {
            self.below[i]
        } else {
            self.total
        };
        let at = if self.counts.get(i) == Some(&k) {
            self.at[i]
        } else {
            0
        };
        (below, at)
    }

    /// Mid-p of a key seen `k` times in training (`k ≥ 1`); `k` need not be one of the
    /// training counts (online counts fall between them).
    pub fn p_seen(&self, k: u64) -> f64 {
        if self.total == 0 {
            return 1.0;
        }
        let i = self.counts.partition_point(|&c| c < k);
        let below = if i < self.counts.len() {
            self.below[i]
        } else {
            self.total
        };
        let at = if self.counts.get(i) == Some(&k) {
            self.at[i]
        } else {
            0
        };
        ((below as f64 + 0.5 * at as f64) / self.total as f64).clamp(0.0, 1.0)
    }

    /// Like [`TailTable::p_seen`] for a fractional count (an online count rescaled to the
    /// training window: `(train + online) · N / (N + learned)`).
    pub fn p_at(&self, k: f64) -> f64 {
        if self.total == 0 || k.is_nan() || k <= 0.0 {
            return 1.0;
        }
        let i = self.counts.partition_point(|&c| (c as f64) < k);
        let below = if i < self.counts.len() {
            self.below[i]
        } else {
            self.total
        };
        let at = match self.counts.get(i) {
            Some(&c) if c as f64 == k => self.at[i],
            _ => 0,
        };
        ((below as f64 + 0.5 * at as f64) / self.total as f64).clamp(0.0, 1.0)
    }

    /// The effective count of a key seen `train` times in training and `online` times among
    /// `learned` messages since: the combined count rescaled to the training window's size,
    /// but never below the training count. Sightings after training make a key more common
    /// (a new kind is surprising once, not every time); a key merely not recurring yet does
    /// not become rarer than training said.
    pub fn rescaled(&self, train: u64, online: u64, learned: u64) -> f64 {
        let n = self.total as f64;
        let combined = if n <= 0.0 {
            (train + online) as f64
        } else {
            (train + online) as f64 * n / (n + learned as f64)
        };
        combined.max(train as f64)
    }

    /// p of a key never seen in training, given `extra_new` keys and `extra_mass` messages
    /// learned online since (both 0 for a fixed model).
    pub fn p_unseen(&self, how: Unseen, extra_new: u64, extra_mass: u64) -> f64 {
        let base = match how {
            Unseen::GoodTuring => self.singletons(),
            Unseen::DistinctRate => self.distinct,
        };
        let new = (base + extra_new).max(1) as f64;
        let total = (self.total + extra_mass) as f64 + 1.0;
        (0.5 * new / total).clamp(0.0, 1.0)
    }

    /// p of a key seen `k` times in training (0 = never), the unseen case as `how`.
    pub fn p(&self, k: u64, how: Unseen) -> f64 {
        if k == 0 {
            self.p_unseen(how, 0, 0)
        } else {
            self.p_seen(k)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_p_tail_mass() {
        // 990 + 9 + 1 messages over three keys.
        let t = TailTable::from_counts([990, 9, 1]);
        assert_eq!(t.total(), 1000);
        assert!((t.p_seen(1) - 0.0005).abs() < 1e-12);
        assert!((t.p_seen(9) - (1.0 + 4.5) / 1000.0).abs() < 1e-12);
        assert!((t.p_seen(990) - (10.0 + 495.0) / 1000.0).abs() < 1e-12);
        // Between training counts: everything below, nothing at.
        assert!((t.p_seen(5) - 0.001).abs() < 1e-12);
        assert_eq!(t.p_seen(5000), 1.0);
        // Never seen is stronger than seen once only when singletons are rare... here the
        // Good–Turing estimate is 0.5·1/1001.
        assert!((t.p_unseen(Unseen::GoodTuring, 0, 0) - 0.5 / 1001.0).abs() < 1e-12);
        assert!((t.p_unseen(Unseen::DistinctRate, 0, 0) - 1.5 / 1001.0).abs() < 1e-12);
        // Online learning raises the estimate.
        assert!(t.p_unseen(Unseen::GoodTuring, 10, 20) > t.p_unseen(Unseen::GoodTuring, 0, 0));
    }

    #[test]
    fn a_host_of_one_offs_makes_one_offs_ordinary() {
        let quiet = TailTable::from_counts([500, 400, 99, 1]);
        let noisy = TailTable::from_counts(std::iter::repeat_n(1, 300).chain([700]));
        assert!(quiet.p(0, Unseen::GoodTuring) < 0.001);
        assert!(noisy.p(0, Unseen::GoodTuring) > 0.1);
        assert!(noisy.p_seen(1) > 0.1);
        let empty = TailTable::from_counts([]);
        assert_eq!(empty.p_seen(3), 1.0);
        assert!(empty.p(0, Unseen::GoodTuring) <= 0.5);
    }
}
