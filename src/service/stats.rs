//! Per-worker counters: logged, stored in the state document, returned in the report.

use std::collections::BTreeMap;

use mongodb::bson::Document;

use super::doc::SkipReason;
use crate::config::LogSource;

/// What one worker did (since start, or in one batch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Documents scored (written with `is_anomaly`, `anomaly_score`, `lad_model_version`).
    pub scored: u64,
    /// Of those, flagged as anomalies.
    pub anomalies: u64,
    /// Documents marked `lad_skipped`, per reason ([`SkipReason::key`]).
    pub skipped: BTreeMap<&'static str, u64>,
    /// Scored documents whose message was cut to `MAX_MESSAGE_BYTES`.
    pub truncated: u64,
    /// Update statements the server rejected.
    pub write_errors: u64,
    /// Non-empty batches written.
    pub batches: u64,
    /// Models trained (initial and scheduled).
    pub trainings: u64,
    /// Database operations that failed and were retried.
    pub db_errors: u64,
}

impl WorkerStats {
    /// Counts one skipped document.
    pub fn skip(&mut self, reason: SkipReason) {
        *self.skipped.entry(reason.key()).or_insert(0) += 1;
    }

    /// Total skipped documents.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Adds a batch's counters.
    pub fn add(&mut self, o: &WorkerStats) {
        self.scored += o.scored;
        self.anomalies += o.anomalies;
        self.truncated += o.truncated;
        self.write_errors += o.write_errors;
        self.batches += o.batches;
        self.trainings += o.trainings;
        self.db_errors += o.db_errors;
        for (k, v) in &o.skipped {
            *self.skipped.entry(k).or_insert(0) += v;
        }
    }

    /// `$inc` document for the state collection (`stats.<name>`).
    pub fn to_inc(&self) -> Document {
        let mut d = Document::new();
        let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        for (k, v) in [
            ("scored", self.scored),
            ("anomalies", self.anomalies),
            ("truncated", self.truncated),
            ("write_errors", self.write_errors),
            ("batches", self.batches),
        ] {
            if v > 0 {
                d.insert(format!("stats.{k}"), n(v));
            }
        }
        for (k, v) in &self.skipped {
            d.insert(format!("stats.skipped.{k}"), n(*v));
        }
        d
    }
}

/// Final state of one worker.
#[derive(Debug, Clone)]
pub struct WorkerReport {
    /// Which `(collection, hostname)`.
    pub source: LogSource,
    /// Version of the model in use at the end, if one was ever ready.
    pub model_version: Option<String>,
    /// Counters since start.
    pub stats: WorkerStats,
    /// Set when the worker stopped because of an internal error (it is logged too).
    pub failed: Option<String>,
}

/// What [`run`](super::run) did, one entry per worker.
#[derive(Debug, Clone, Default)]
pub struct ServiceReport {
    /// Per-worker reports, sorted by source.
    pub workers: Vec<WorkerReport>,
}

impl ServiceReport {
    /// Sum over all workers.
    pub fn totals(&self) -> WorkerStats {
        let mut t = WorkerStats::default();
        for w in &self.workers {
            t.add(&w.stats);
        }
        t
    }

    /// Report of one worker.
    pub fn worker(&self, collection: &str, hostname: &str) -> Option<&WorkerReport> {
        self.workers
            .iter()
            .find(|w| w.source.collection == collection && w.source.hostname == hostname)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    #[test]
    fn inc_doc_has_only_nonzero_counters() {
        let mut s = WorkerStats {
            scored: 3,
            ..Default::default()
        };
        s.skip(SkipReason::MessageMissing);
        assert_eq!(
            s.to_inc(),
            doc! {"stats.scored": 3_i64, "stats.skipped.message_missing": 1_i64}
        );
    }
}
