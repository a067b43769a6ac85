//! Per-worker counters: logged, stored in the state document, returned in the report.

use std::collections::BTreeMap;

use mongodb::bson::Document;

use crate::config::LogSource;
use crate::service::doc::SkipReason;

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
    /// Documents the sweep scored because they arrived behind the resume point.
    pub late_scored: u64,
    /// Documents the sweep scored with the resume point's timestamp and a smaller `_id`.
    pub tie_scored: u64,
    /// Documents the sweep scored after earlier failed attempts.
    pub retry_scored: u64,
    /// Scoring attempts the engine failed on (each retried until `SCORING_MAX_ATTEMPTS`).
    pub scoring_failures: u64,
    /// Sweep queries run.
    pub sweeps: u64,
    /// Statements that matched no unhandled document (already written, e.g. by a process
    /// that lost its lease while its write was on the wire, or deleted meanwhile).
    pub not_applied: u64,
    /// Fleet events this worker raised (see `fleet_events`).
    pub fleet_events: u64,
    /// Documents tagged with a fleet event.
    pub fleet_tagged: u64,
    /// Feedback marks picked up from documents and applied.
    pub feedback_applied: u64,
    /// Closed sessions scored (`SESSION_KEY`; one statement each).
    pub sessions_scored: u64,
    /// Of those, flagged `lad_session_anomaly: 1`.
    pub session_anomalies: u64,
}

impl WorkerStats {
    /// Counts one skipped document.
    pub fn skip(&mut self, reason: SkipReason) {
        *self.skipped.entry(reason.key()).or_insert(0) += 1;
    }

    /// Counts one scored document; `kind` says why the sweep found it (`None`: followed).
    pub(crate) fn count_scored(
        &mut self,
        s: &crate::model::Score,
        truncated: bool,
        kind: Option<crate::service::doc::SweepKind>,
    ) {
        use crate::service::doc::SweepKind;
        self.scored += 1;
        self.anomalies += u64::from(s.is_anomaly);
        self.truncated += u64::from(truncated);
        match kind {
            Some(SweepKind::Late) => self.late_scored += 1,
            Some(SweepKind::IdTie) => self.tie_scored += 1,
            Some(SweepKind::Retry) => self.retry_scored += 1,
            None => {}
        }
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
        self.late_scored += o.late_scored;
        self.tie_scored += o.tie_scored;
        self.retry_scored += o.retry_scored;
        self.scoring_failures += o.scoring_failures;
        self.sweeps += o.sweeps;
        self.not_applied += o.not_applied;
        self.fleet_events += o.fleet_events;
        self.fleet_tagged += o.fleet_tagged;
        self.feedback_applied += o.feedback_applied;
        self.sessions_scored += o.sessions_scored;
        self.session_anomalies += o.session_anomalies;
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
            ("swept.late", self.late_scored),
            ("swept.id_tie", self.tie_scored),
            ("swept.retry", self.retry_scored),
            ("scoring_failures", self.scoring_failures),
            ("not_applied", self.not_applied),
            ("fleet_events", self.fleet_events),
            ("fleet_tagged", self.fleet_tagged),
            ("feedback_applied", self.feedback_applied),
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
    /// Whether this process ran the worker at all (with several `lad run` processes, the
    /// others may have held its lease the whole time).
    pub ran: bool,
}

/// What [`run`](crate::service::run) did, one entry per worker.
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
