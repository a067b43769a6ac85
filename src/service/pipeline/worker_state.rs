//! One worker's live state, shared (in an `Arc`) between the worker that updates it and
//! the endpoint that reads it on each request: the model in use, the counters
//! ([`WorkerStats`], the single source of truth: `/metrics` encodes them at scrape time),
//! the last database error, the batch latency histogram and the lease it holds; and the
//! process-wide facts the health check needs ([`ProcessState`]).

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;

use crate::config::LogSource;
use crate::model::HostModel;
use crate::service::pipeline::stats::WorkerStats;

/// Upper bounds (seconds) of the batch latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Mutable state of one worker, read by the endpoint.
#[derive(Debug)]
pub(crate) struct WorkerState {
    pub source: LogSource,
    /// The model in use; a retrain swaps it between two batches.
    pub model: RwLock<Option<Arc<HostModel>>>,
    pub stats: Mutex<WorkerStats>,
    /// Error of the last failed database operation, cleared by the next successful batch
    /// (or empty poll). Already scrubbed of passwords.
    pub last_error: Mutex<Option<String>>,
    /// Seconds per non-empty batch (read, score, write, resume point).
    pub batch_seconds: Histogram,
    /// The fencing token of this process's lease on the worker, while it holds one.
    pub lease_token: Mutex<Option<i64>>,
    /// Leases won and lost by this process for this worker.
    pub leases_acquired: AtomicU64,
    pub leases_lost: AtomicU64,
}

/// Process-wide facts the health check needs.
#[derive(Debug, Default)]
pub(crate) struct ProcessState {
    /// The first lease round has run: before it, owning nothing means "not started yet".
    pub started: AtomicBool,
    /// This process's owner id.
    pub owner: Mutex<String>,
}

impl WorkerState {
    pub(crate) fn new(source: LogSource) -> Self {
        Self {
            source,
            model: RwLock::new(None),
            stats: Mutex::new(WorkerStats::default()),
            last_error: Mutex::new(None),
            batch_seconds: Histogram::new(LATENCY_BUCKETS),
            lease_token: Mutex::new(None),
            leases_acquired: AtomicU64::new(0),
            leases_lost: AtomicU64::new(0),
        }
    }

    pub(crate) fn model(&self) -> Option<Arc<HostModel>> {
        match self.model.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Drops the model (the worker moved to another process: do not keep its memory).
    pub(crate) fn clear_model(&self) {
        match self.model.write() {
            Ok(mut g) => *g = None,
            Err(p) => *p.into_inner() = None,
        }
    }

    pub(crate) fn stats(&self) -> WorkerStats {
        match self.stats.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn set_error(&self, e: Option<String>) {
        match self.last_error.lock() {
            Ok(mut g) => *g = e,
            Err(poisoned) => *poisoned.into_inner() = e,
        }
    }

    fn error(&self) -> Option<String> {
        match self.last_error.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The lease token while this process holds the worker's lease.
    pub(crate) fn token(&self) -> Option<i64> {
        match self.lease_token.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        }
    }

    pub(crate) fn set_token(&self, t: Option<i64>) {
        match self.lease_token.lock() {
            Ok(mut g) => *g = t,
            Err(p) => *p.into_inner() = t,
        }
    }

    pub(crate) fn observe_batch(&self, d: Duration) {
        self.batch_seconds.observe(d.as_secs_f64());
    }

    /// `None` when healthy, else why not.
    pub(crate) fn unhealthy_reason(&self) -> Option<String> {
        let err = self.error();
        match (self.model().is_some(), err) {
            (false, None) => Some("no model yet".into()),
            (false, Some(e)) => Some(format!("no model yet; last database error: {e}")),
            (true, Some(e)) => Some(format!("last batch failed: {e}")),
            (true, None) => None,
        }
    }
}
