//! Running the aggregator: one pass over every collection pair ([`run_once`]), on a cron
//! schedule ([`run_with`]), or from the command line ([`run_cli`]).

use std::future::Future;
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, DateTime};
use serde::Serialize;
use tokio::sync::watch;
use tokio_cron_scheduler::JobScheduler;

use super::batch::{aggregate, BatchParams, Timings};
use super::config::{AggregatorConfig, CollectionPair};
use super::store::{Recovered, Store, StoreError};
use crate::mongo::connection::is_auth_error;
use crate::mongo::MongoError;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// Connecting failed in a way retrying will not fix (bad URI, CA file, credentials).
    #[error(transparent)]
    Mongo(#[from] MongoError),
    /// A command failed for one collection pair.
    #[error("{input} -> {target}: {message}")]
    Store {
        /// Input collection.
        input: String,
        /// Target collection.
        target: String,
        /// What failed (password scrubbed).
        message: String,
    },
    /// The schedule could not be set up.
    #[error("AGGR_SCHEDULE: cannot schedule runs: {0}")]
    Scheduler(String),
    /// A test asked the run to stop after a phase ([`CrashPoint`]).
    #[error("simulated crash after the {0:?} phase")]
    SimulatedCrash(CrashPoint),
}

/// Where a test run stops, leaving the database as a crash at that point would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// After inserting the pending aggregates, before any link.
    AfterInsert,
    /// After linking, before marking the aggregates complete.
    AfterLink,
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// One pass now, then return (no schedule).
    pub once: bool,
    /// Use this client instead of connecting with `config.mongo` (tests add command
    /// monitoring this way).
    pub client: Option<mongodb::Client>,
    /// Test hook: stop the first pass after this phase, as a crash would.
    #[doc(hidden)]
    pub crash_after: Option<CrashPoint>,
}

/// What one pass did for one collection pair.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PairReport {
    /// Input collection.
    pub input: String,
    /// Target collection.
    pub target: String,
    /// Pending aggregates of an interrupted run that were completed.
    pub recovered_finished: u64,
    /// Pending aggregates of an interrupted run that were rolled back.
    pub recovered_rolled_back: u64,
    /// Anomalies read.
    pub anomalies: usize,
    /// Documents skipped (message or datetime unusable).
    pub skipped: u64,
    /// Aggregates written (clusters + noise points).
    pub aggregates: usize,
    /// Of which DBSCAN clusters.
    pub clusters: usize,
    /// Source documents linked to an aggregate.
    pub linked: u64,
    /// Vectorize / cluster / template times.
    pub timings: Timings,
    /// Wall time of the pass for this pair, including MongoDB.
    pub total_s: f64,
}

/// What one pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// One entry per collection pair, in config order.
    pub pairs: Vec<PairReport>,
}

/// Everything [`run_with`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceReport {
    /// Passes that completed.
    pub runs: Vec<RunReport>,
    /// Passes that failed (the error message each).
    pub failures: Vec<String>,
}

fn store_err(pair: &CollectionPair, config: &AggregatorConfig, e: &StoreError) -> AggregateError {
    AggregateError::Store {
        input: pair.input.clone(),
        target: pair.target.clone(),
        message: config.mongo.scrub(&e.to_string()),
    }
}

async fn run_pair(
    client: &mongodb::Client,
    config: &AggregatorConfig,
    pair: &CollectionPair,
    crash_after: Option<CrashPoint>,
) -> Result<PairReport, StoreError> {
    let started = Instant::now();
    let store = Store::new(client, config, pair);
    let Recovered {
        finished,
        rolled_back,
    } = store.recover().await?;
    let now_ms = DateTime::now().timestamp_millis();
    let span_ms = i64::try_from(config.time_span.as_millis()).unwrap_or(i64::MAX);
    let since = DateTime::from_millis(now_ms.saturating_sub(span_ms));
    let read = store.read(since, config.max_entries).await?;
    let mut report = PairReport {
        input: pair.input.clone(),
        target: pair.target.clone(),
        recovered_finished: finished,
        recovered_rolled_back: rolled_back,
        anomalies: read.anomalies.len(),
        skipped: read.skipped,
        ..Default::default()
    };
    if !read.anomalies.is_empty() {
        let params = BatchParams {
            vectors: config.vectors.clone(),
            dbscan: config.dbscan,
        };
        let anomalies = read.anomalies;
        // CPU-bound: keep it off the async worker threads.
        let batch = tokio::task::spawn_blocking(move || aggregate(&anomalies, &params))
            .await
            .map_err(|e| StoreError::Write(format!("aggregation task failed: {e}")))?;
        let now = DateTime::now();
        let mut docs = Vec::with_capacity(batch.aggregates.len());
        let mut links: Vec<(ObjectId, Vec<Bson>)> = Vec::with_capacity(batch.aggregates.len());
        for agg in &batch.aggregates {
            let id = ObjectId::new();
            docs.push(store.pending_doc(id, agg, &read.ids, now));
            links.push((
                id,
                agg.members.iter().map(|&m| read.ids[m].clone()).collect(),
            ));
        }
        store.insert_pending(docs).await?;
        if crash_after == Some(CrashPoint::AfterInsert) {
            return Err(StoreError::SimulatedCrash(CrashPoint::AfterInsert));
        }
        report.linked = store.link(&links).await?;
        if crash_after == Some(CrashPoint::AfterLink) {
            return Err(StoreError::SimulatedCrash(CrashPoint::AfterLink));
        }
        let ids: Vec<ObjectId> = links.iter().map(|l| l.0).collect();
        store.complete(&ids).await?;
        if report.linked < report.anomalies as u64 {
            tracing::warn!(
                input = %pair.input,
                expected = report.anomalies,
                linked = report.linked,
                "some anomalies were linked by another aggregator meanwhile (is a second instance running?)"
            );
        }
        report.aggregates = batch.aggregates.len();
        report.clusters = batch.clusters;
        report.timings = batch.timings;
    }
    report.total_s = started.elapsed().as_secs_f64();
    tracing::info!(
        input = %pair.input,
        target = %pair.target,
        anomalies = report.anomalies,
        skipped = report.skipped,
        aggregates = report.aggregates,
        clusters = report.clusters,
        linked = report.linked,
        recovered = report.recovered_finished,
        rolled_back = report.recovered_rolled_back,
        seconds = report.total_s,
        "aggregated"
    );
    Ok(report)
}

/// One pass over every collection pair: recover, read, aggregate, write. A failing pair is
/// reported after the others were tried; the first error is returned.
pub async fn run_once(
    client: &mongodb::Client,
    config: &AggregatorConfig,
    crash_after: Option<CrashPoint>,
) -> Result<RunReport, AggregateError> {
    let mut report = RunReport::default();
    let mut first_error = None;
    for pair in &config.collections {
        match run_pair(client, config, pair, crash_after).await {
            Ok(r) => report.pairs.push(r),
            Err(StoreError::SimulatedCrash(c)) => return Err(AggregateError::SimulatedCrash(c)),
            Err(e) => {
                let err = store_err(pair, config, &e);
                tracing::error!("{err}; its anomalies stay unaggregated until the next run");
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Runs until `shutdown` resolves: a pass each time `AGGR_SCHEDULE` fires (UTC), passes
/// never overlapping (a tick during a pass is coalesced into one more pass). With
/// `opts.once`, one pass now and return. Pending aggregates of an interrupted run are
/// finished or rolled back at start-up and before every pass.
pub async fn run_with(
    config: AggregatorConfig,
    opts: RunOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<ServiceReport, AggregateError> {
    let client = match opts.client {
        Some(c) => c,
        None => config.mongo.client().await?,
    };
    let target = config.mongo.display_target();
    match crate::mongo::connection::ping(&client).await {
        Ok(()) => {
            tracing::info!(%target, input_db = %config.input_db, target_db = %config.target_db, "connected")
        }
        Err(e) if is_auth_error(&e) || opts.once => {
            return Err(config.mongo.driver_error(e).into())
        }
        Err(e) => {
            tracing::warn!(%target, "MongoDB not reachable yet ({}); will retry at the next scheduled run", config.mongo.scrub(&e.to_string()))
        }
    }
    let mut report = ServiceReport::default();
    if opts.once {
        let r = run_once(&client, &config, opts.crash_after).await?;
        report.runs.push(r);
        return Ok(report);
    }

    // Start-up recovery, so a crashed run does not wait for the next schedule.
    for pair in &config.collections {
        if let Err(e) = Store::new(&client, &config, pair).recover().await {
            tracing::warn!("{}", store_err(pair, &config, &e));
        }
    }
    let (tx, mut ticks) = watch::channel(0u64);
    let mut sched = start_scheduler(config.schedule.as_str(), tx).await?;
    tracing::info!(schedule = config.schedule.as_str(), next = ?config.schedule.next(chrono::Utc::now()), "waiting for the schedule (UTC)");
    let mut shutdown = std::pin::pin!(shutdown);
    let mut crash_after = opts.crash_after;
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                tracing::info!("stop requested");
                break;
            }
            changed = ticks.changed() => {
                if changed.is_err() {
                    break;
                }
                ticks.borrow_and_update();
                match run_once(&client, &config, crash_after.take()).await {
                    Ok(r) => report.runs.push(r),
                    Err(e) => {
                        tracing::error!("aggregation run failed: {e}");
                        report.failures.push(e.to_string());
                    }
                }
            }
        }
    }
    let _ = sched.shutdown().await;
    Ok(report)
}

async fn start_scheduler(
    expr: &str,
    tx: watch::Sender<u64>,
) -> Result<JobScheduler, AggregateError> {
    crate::runtime::cron_ticker(expr, "aggregation", tx)
        .await
        .map_err(|e| AggregateError::Scheduler(e.to_string()))
}

/// `lad-aggregator run --config-yaml FILE [--once]`: load and validate the config (errors
/// name the key), run until SIGINT/SIGTERM (or one pass with `once`), log a summary.
pub async fn run_cli(config_path: &Path, once: bool) -> anyhow::Result<()> {
    let config = super::config::load(config_path)
        .with_context(|| format!("invalid configuration in {}", config_path.display()))?;
    let shutdown = crate::runtime::shutdown_signal().context("installing signal handlers")?;
    let opts = RunOptions {
        once,
        ..Default::default()
    };
    let report = run_with(config, opts, shutdown).await?;
    let aggregates: usize = report
        .runs
        .iter()
        .flat_map(|r| &r.pairs)
        .map(|p| p.aggregates)
        .sum();
    let anomalies: usize = report
        .runs
        .iter()
        .flat_map(|r| &r.pairs)
        .map(|p| p.anomalies)
        .sum();
    tracing::info!(
        runs = report.runs.len(),
        failed = report.failures.len(),
        anomalies,
        aggregates,
        "summary"
    );
    if once && !report.failures.is_empty() {
        anyhow::bail!("aggregation failed: {}", report.failures.join("; "));
    }
    Ok(())
}
