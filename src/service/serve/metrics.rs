//! What the metrics and health endpoint reads: one [`WorkerState`] per `(collection,
//! hostname)`, shared (in an `Arc`) between the worker that updates it and the endpoint
//! that reads it on each request. [`WorkerStats`] stays the single source of truth for the
//! counters; `/metrics` encodes them at scrape time instead of keeping a second copy.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::Utc;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::config::LogSource;
use crate::model::HostModel;
use crate::service::pipeline::stats::WorkerStats;
use crate::service::pipeline::worker_state::{ProcessState, WorkerState};

/// All workers' states, in `LOG_SOURCES` order, and the process's.
#[derive(Debug, Clone, Default)]
pub(crate) struct Workers(pub Arc<Vec<Arc<WorkerState>>>, pub Arc<ProcessState>);

impl Workers {
    /// `(healthy, JSON body)` for `/healthz`: healthy when the first lease round has run
    /// and every worker this process holds the lease of is healthy. Workers other
    /// processes hold are listed with `"owned": false` and do not count.
    pub(crate) fn health(&self) -> (bool, String) {
        let started = self.1.started.load(Ordering::SeqCst);
        let mut ok = started;
        let workers: Vec<serde_json::Value> = self
            .0
            .iter()
            .map(|w| {
                let owned = w.token().is_some();
                let reason = if owned { w.unhealthy_reason() } else { None };
                ok &= reason.is_none();
                let mut v = serde_json::json!({
                    "collection": w.source.collection,
                    "host": w.source.hostname,
                    "owned": owned,
                    "healthy": owned && reason.is_none(),
                    "model_version": w.model().map(|m| m.version().to_string()),
                });
                if let Some(r) = reason {
                    v["reason"] = serde_json::Value::String(r);
                } else if !owned {
                    v["reason"] = serde_json::Value::String(
                        "not held by this process (another lad process, or not yet acquired)"
                            .into(),
                    );
                }
                v
            })
            .collect();
        let owner = match self.1.owner.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let mut body = serde_json::json!({
            "status": if ok { "ok" } else { "unhealthy" },
            "owner": owner,
            "workers": workers,
        });
        if !started {
            body["reason"] = "acquiring leases".into();
        }
        (ok, body.to_string())
    }

    /// The registry `/metrics` encodes: one collector reading the worker states.
    pub(crate) fn registry(&self) -> Registry {
        let mut r = Registry::default();
        r.register_collector(Box::new(self.clone()));
        r
    }
}

fn labels(s: &LogSource) -> Vec<(&'static str, String)> {
    vec![
        ("collection", s.collection.clone()),
        ("host", s.hostname.clone()),
    ]
}

/// One worker as seen at scrape time: labels, counters, model.
type Snapshot = (
    Vec<(&'static str, String)>,
    WorkerStats,
    Option<Arc<HostModel>>,
);

/// Reads one per-worker counter from its stats.
type Get = fn(&WorkerStats) -> u64;

/// The per-worker counters: name, help, where the value comes from.
const COUNTERS: [(&str, &str, Get); 13] = [
    (
        "lad_scoring_failures",
        "Scoring attempts the engine failed on (retried up to SCORING_MAX_ATTEMPTS).",
        |s| s.scoring_failures,
    ),
    (
        "lad_sweeps",
        "Sweep queries behind the resume point.",
        |s| s.sweeps,
    ),
    (
        "lad_writes_not_applied",
        "Write-back statements that found the document already handled.",
        |s| s.not_applied,
    ),
    (
        "lad_documents_scored",
        "Documents scored and written back.",
        |s| s.scored,
    ),
    (
        "lad_anomalies",
        "Scored documents flagged as anomalies.",
        |s| s.anomalies,
    ),
    (
        "lad_mongo_errors",
        "Failed MongoDB operations (each is retried).",
        |s| s.db_errors,
    ),
    ("lad_batches", "Non-empty batches written.", |s| s.batches),
    (
        "lad_fleet_events",
        "Fleet events raised: the same new kind of message on FLEET_MIN_HOSTS hosts.",
        |s| s.fleet_events,
    ),
    (
        "lad_fleet_tagged",
        "Documents tagged with a fleet event.",
        |s| s.fleet_tagged,
    ),
    (
        "lad_feedback_applied",
        "Feedback marks (lad_feedback on a document) picked up and applied.",
        |s| s.feedback_applied,
    ),
    (
        "lad_sessions_scored",
        "Closed sessions scored (SESSION_KEY).",
        |s| s.sessions_scored,
    ),
    (
        "lad_session_anomalies",
        "Scored sessions flagged lad_session_anomaly: 1.",
        |s| s.session_anomalies,
    ),
    (
        "lad_trainings",
        "Models trained (initial and scheduled).",
        |s| s.trainings,
    ),
];

/// One worker as seen at scrape time, with the state it was read from.
type Row<'a> = (&'a WorkerState, &'a Snapshot);

impl Collector for Workers {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot: Vec<Snapshot> = self
            .0
            .iter()
            .map(|w| (labels(&w.source), w.stats(), w.model()))
            .collect();
        let rows: Vec<Row<'_>> = self.0.iter().map(|w| &**w).zip(&snapshot).collect();
        encode_counters(&mut encoder, &snapshot)?;
        encode_by_reason(&mut encoder, &snapshot)?;
        encode_leases(&mut encoder, &rows)?;
        encode_model_gauges(&mut encoder, &snapshot)?;
        encode_health(&mut encoder, &rows)
    }
}

/// The plain per-worker counters of [`COUNTERS`].
fn encode_counters(
    encoder: &mut DescriptorEncoder,
    snapshot: &[Snapshot],
) -> Result<(), std::fmt::Error> {
    for (name, help, get) in COUNTERS {
        let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (l, s, _) in snapshot {
            ConstCounter::new(get(s)).encode(m.encode_family(l)?)?;
        }
    }
    Ok(())
}

/// Counters with a second label: skipped documents by reason, swept ones by kind.
fn encode_by_reason(
    encoder: &mut DescriptorEncoder,
    snapshot: &[Snapshot],
) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(
        "lad_documents_skipped",
        "Documents marked lad_skipped, by reason.",
        None,
        MetricType::Counter,
    )?;
    for (l, s, _) in snapshot {
        for (reason, n) in &s.skipped {
            let mut l = l.clone();
            l.push(("reason", (*reason).to_string()));
            ConstCounter::new(*n).encode(m.encode_family(&l)?)?;
        }
    }
    drop(m);
    let mut m = encoder.encode_descriptor(
        "lad_documents_swept",
        "Documents the sweep scored behind the resume point, by kind (late, id_tie, retry).",
        None,
        MetricType::Counter,
    )?;
    for (l, s, _) in snapshot {
        for (kind, n) in [
            ("late", s.late_scored),
            ("id_tie", s.tie_scored),
            ("retry", s.retry_scored),
        ] {
            let mut l = l.clone();
            l.push(("kind", kind.to_string()));
            ConstCounter::new(n).encode(m.encode_family(&l)?)?;
        }
    }
    Ok(())
}

/// Leases won and lost, whether one is held now, and the batch latency histogram.
fn encode_leases(encoder: &mut DescriptorEncoder, rows: &[Row<'_>]) -> Result<(), std::fmt::Error> {
    for (name, help, get) in [
        (
            "lad_leases_acquired",
            "Leases on the worker won by this process.",
            (|w| w.leases_acquired.load(Ordering::Relaxed)) as fn(&WorkerState) -> u64,
        ),
        (
            "lad_leases_lost",
            "Leases on the worker this process lost to another (it stopped the worker).",
            |w| w.leases_lost.load(Ordering::Relaxed),
        ),
    ] {
        let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (w, (l, _, _)) in rows {
            ConstCounter::new(get(w)).encode(m.encode_family(l)?)?;
        }
    }
    let mut m = encoder.encode_descriptor(
        "lad_lease_owned",
        "1 while this process holds the worker's lease, else 0.",
        None,
        MetricType::Gauge,
    )?;
    for (w, (l, _, _)) in rows {
        ConstGauge::new(i64::from(w.token().is_some())).encode(m.encode_family(l)?)?;
    }
    drop(m);
    let mut m = encoder.encode_descriptor(
        "lad_batch_duration_seconds",
        "Seconds per non-empty batch: read, score, write back, save the resume point.",
        None,
        MetricType::Histogram,
    )?;
    for (w, (l, _, _)) in rows {
        w.batch_seconds.encode(m.encode_family(l)?)?;
    }
    Ok(())
}

/// The model in use: its age and how long it took to train.
fn encode_model_gauges(
    encoder: &mut DescriptorEncoder,
    snapshot: &[Snapshot],
) -> Result<(), std::fmt::Error> {
    let now = Utc::now();
    type GetF = fn(&HostModel, chrono::DateTime<Utc>) -> f64;
    let gauges: [(&str, &str, GetF); 2] = [
        (
            "lad_model_age_seconds",
            "Seconds since the model in use was trained.",
            |m, now| (now - m.trained_at()).num_milliseconds() as f64 / 1000.0,
        ),
        (
            "lad_model_training_seconds",
            "Seconds it took to train the model in use.",
            |m, _| m.info().train_seconds,
        ),
    ];
    for (name, help, get) in gauges {
        let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (l, _, model) in snapshot {
            if let Some(model) = model {
                ConstGauge::new(get(model, now)).encode(m.encode_family(l)?)?;
            }
        }
    }
    Ok(())
}

/// 1 per healthy worker (the same rule as `/healthz`).
fn encode_health(encoder: &mut DescriptorEncoder, rows: &[Row<'_>]) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(
        "lad_worker_healthy",
        "1 when the worker has a model and its last batch succeeded (see /healthz).",
        None,
        MetricType::Gauge,
    )?;
    for (w, (l, _, _)) in rows {
        let v = i64::from(w.token().is_some() && w.unhealthy_reason().is_none());
        ConstGauge::new(v).encode(m.encode_family(l)?)?;
    }
    Ok(())
}

/// The `/metrics` body (Prometheus text format 0.0.4 / OpenMetrics text).
pub(crate) fn encode_metrics(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}
