//! Time of day: an event at an hour this entity is rarely active.
//!
//! The entity's training events are counted per hour of the day (UTC) and per weekday or
//! weekend, 48 bins; the p-value of an event is the tail mass of its bin (see
//! [`crate::features::counts`]): an administrator who works 8–18 on weekdays and logs in at
//! 03:00 on a Sunday is in a bin with almost no mass. A bin never used in training scores
//! the rate at which new bins appeared. Events without a timestamp carry no evidence.

use std::sync::Mutex;

use chrono::{Datelike, Timelike};
use serde::{Deserialize, Serialize};

use super::{Detector, DetectorKind, Evidence, Features};
use crate::features::{TailTable, TrainingSet, Unseen};

const BINS: usize = 48;

fn bin(t: chrono::DateTime<chrono::Utc>) -> usize {
    let weekend = matches!(t.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
    t.hour() as usize + if weekend { 24 } else { 0 }
}

/// Fitted activity per hour bin.
#[derive(Debug, Serialize, Deserialize)]
pub struct TimeOfDay {
    counts: Vec<u64>,
    table: TailTable,
    #[serde(skip)]
    online: Mutex<(Vec<u64>, u64)>,
}

impl TimeOfDay {
    /// `None` when no training event has a timestamp.
    pub fn fit(ts: &TrainingSet<'_>) -> Option<Self> {
        let mut counts = vec![0u64; BINS];
        let mut any = false;
        for ctx in ts.contexts {
            if let Some(t) = ctx.time {
                counts[bin(t)] += 1;
                any = true;
            }
        }
        any.then(|| Self {
            table: TailTable::from_counts(counts.iter().copied()),
            counts,
            online: Mutex::new((vec![0; BINS], 0)),
        })
    }
}

impl Detector for TimeOfDay {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Hour
    }

    fn evidence(&self, f: &Features<'_>) -> Evidence {
        let Some(t) = f.context.time else {
            return Evidence { raw: 0.0, p: 1.0 };
        };
        let b = bin(t);
        let k = self.counts[b];
        let on = self.online.lock().unwrap_or_else(|p| p.into_inner());
        let seen = on.0.get(b).copied().unwrap_or(0);
        let learned = on.1;
        let p = if k > 0 || seen > 0 {
            let k = self.table.rescaled(k, seen, learned);
            if self.counts[b] > 0 {
                self.table.p_at(k)
            } else {
                self.table
                    .p_unseen(Unseen::DistinctRate, 1, learned)
                    .max(self.table.p_at(k))
            }
        } else {
            self.table.p_unseen(Unseen::DistinctRate, 0, learned)
        };
        Evidence { raw: k as f64, p }
    }

    fn cacheable(&self) -> bool {
        false
    }

    fn learn(&self, f: &Features<'_>) {
        if let Some(t) = f.context.time {
            let mut on = self.online.lock().unwrap_or_else(|p| p.into_inner());
            if on.0.len() < BINS {
                on.0.resize(BINS, 0);
            }
            on.0[bin(t)] += 1;
            on.1 += 1;
        }
    }
}
