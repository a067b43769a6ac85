//! Service mode (`lad run`): one worker per `(collection, hostname)` that trains a model on
//! the host's recent messages, follows new documents and writes `is_anomaly`,
//! `anomaly_score` and `lad_model_version` back into each of them.
//!
//! * [`run_cli`] — what `lad run --config FILE [--once]` calls: loads the config, installs
//!   SIGINT/SIGTERM handlers, runs, exits 0 after a clean stop.
//! * [`run`] / [`run_with`] — the service itself, stoppable through a future; tests pass
//!   their own client (e.g. with command monitoring) through [`RunOptions`].
//!
//! Layout, one folder per concern, each depending only on those above it:
//!
//! * `error`, `backoff`, [`doc`] — the shared vocabulary: errors, retry delays and
//!   shutdown, and what a document is to the service ([`doc::Prepared`], skip reasons);
//! * [`coordination`] — resume points, leases with fencing tokens, heartbeats, wake-ups
//!   (all in `STATE_COLLECTION`);
//! * [`layers`] — what is added on top of the line score: threat feed, sessions, feedback
//!   harvest, fleet events;
//! * [`pipeline`] — one host's loop: train, follow, sweep, score, commit;
//! * [`serve`] — `/metrics`, `/healthz`, `lad status`, the report's documents;
//! * `scale_out` — which workers this process runs, through leases shared with other
//!   `lad run` processes; this file wires it all together.
//!
//! MongoDB itself is read through `crate::source::mongo` and written through
//! `crate::sink::mongo`.

pub mod backoff;
pub mod coordination;
pub mod doc;
mod error;
pub mod layers;
pub mod pipeline;
mod scale_out;
pub mod serve;

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;
use tokio_cron_scheduler::JobScheduler;

use crate::config::{LogSource, RetrainSchedule, ServiceConfig};
pub use crate::mongo::connection::is_auth_error;
pub use backoff::Shutdown;
pub use doc::SkipReason;
pub use error::{ServiceError, StoreError};
pub use pipeline::stats::{ServiceReport, WorkerReport, WorkerStats};
pub use pipeline::training::is_fresh;
pub use pipeline::verdict::{ERROR_FIELD, PANIC_HOOK_ENV};
use pipeline::worker_state::{ProcessState, WorkerState};
use scale_out::{run_scale_out, ScaleOutParams};
use serve::metrics::Workers;

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Process the current backlog, then return (no retrain schedule, no waiting for
    /// training data).
    pub once: bool,
    /// Use this client instead of connecting with `config.mongo` (tests add command
    /// monitoring this way).
    pub client: Option<mongodb::Client>,
}

/// Runs until `shutdown` resolves. See [`run_with`].
pub async fn run(
    config: ServiceConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<ServiceReport, ServiceError> {
    run_with(config, RunOptions::default(), shutdown).await
}

/// Runs the workers until `shutdown` resolves (or, with `once`, until the backlog is done).
///
/// On shutdown, workers finish the batch in flight (write + resume point), stop taking new
/// ones and the per-worker reports are returned. A database that is down at start-up is not
/// an error (workers retry with backoff); credentials the server rejects are.
pub async fn run_with(
    config: ServiceConfig,
    opts: RunOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<ServiceReport, ServiceError> {
    let config = Arc::new(config);
    let client = match opts.client {
        Some(c) => c,
        None => config.mongo.client().await?,
    };
    let target = config.mongo.display_target();
    match crate::mongo::connection::ping(&client).await {
        Ok(()) => {
            tracing::info!(%target, db = %config.db, workers = config.sources.len(), "connected")
        }
        Err(e) if is_auth_error(&e) => return Err(config.mongo.driver_error(e).into()),
        Err(e) => {
            tracing::warn!(%target, "MongoDB not reachable yet ({}); workers will retry", config.mongo.scrub(&e.to_string()))
        }
    }

    // One state per worker, kept across worker restarts and lease hand-overs, read by the
    // metrics endpoint.
    let states: HashMap<LogSource, Arc<WorkerState>> = config
        .sources
        .iter()
        .map(|s| (s.clone(), Arc::new(WorkerState::new(s.clone()))))
        .collect();
    let process = Arc::new(ProcessState::default());
    let endpoint = match config.metrics_listen {
        Some(addr) => {
            let listener = serve::http::bind(addr)
                .await
                .map_err(|source| ServiceError::Listen { addr, source })?;
            let workers = Workers(
                Arc::new(
                    config
                        .sources
                        .iter()
                        .filter_map(|s| states.get(s).cloned())
                        .collect(),
                ),
                process.clone(),
            );
            tracing::info!(%addr, "serving /metrics and /healthz");
            Some(tokio::spawn(serve::http::serve(listener, workers)))
        }
        None => None,
    };
    let (retrain_tx, retrain_rx) = watch::channel(0u64);
    let mut scheduler = if opts.once {
        None
    } else {
        match start_scheduler(&config.retrain_schedule, retrain_tx.clone()).await {
            Ok(s) => Some(s),
            Err(e) => {
                if let Some(h) = &endpoint {
                    h.abort();
                }
                return Err(e);
            }
        }
    };
    let mut reports = run_scale_out(
        ScaleOutParams {
            config: config.clone(),
            client,
            once: opts.once,
            states,
            process,
            retrain: retrain_rx,
        },
        shutdown,
    )
    .await;
    if let Some(s) = scheduler.as_mut() {
        let _ = s.shutdown().await;
    }
    if let Some(h) = endpoint {
        h.abort();
    }
    drop(retrain_tx);
    reports.sort_by(|a, b| a.source.cmp(&b.source));
    Ok(ServiceReport { workers: reports })
}

/// Bumps the retrain counter every time the schedule fires (UTC).
async fn start_scheduler(
    schedule: &RetrainSchedule,
    tx: watch::Sender<u64>,
) -> Result<JobScheduler, ServiceError> {
    crate::runtime::cron_ticker(schedule.as_str(), "retrain", tx)
        .await
        .map_err(|e| ServiceError::Scheduler(e.to_string()))
}

/// `lad run --config FILE [--once]`: load and validate the config (errors name the key),
/// run until SIGINT/SIGTERM (or the backlog is done with `once`), log a summary.
pub async fn run_cli(config_path: &Path, once: bool) -> anyhow::Result<()> {
    let config = crate::config::load(config_path)
        .with_context(|| format!("invalid configuration in {}", config_path.display()))?;
    // Install the handlers before any work so an early signal is not lost.
    let shutdown = crate::runtime::shutdown_signal().context("installing signal handlers")?;
    let report = run_with(config, RunOptions { once, client: None }, shutdown).await?;
    for w in &report.workers {
        let s = &w.stats;
        tracing::info!(
            source = %w.source.key(),
            model = w.model_version.as_deref().unwrap_or("-"),
            scored = s.scored,
            anomalies = s.anomalies,
            skipped = s.skipped_total(),
            db_errors = s.db_errors,
            "summary"
        );
    }
    if let Some(w) = report.workers.iter().find(|w| w.failed.is_some()) {
        anyhow::bail!(
            "worker {} failed: {}",
            w.source.key(),
            w.failed.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
