//! One worker per `(collection, hostname)`: get a model, then follow the host's documents
//! in `(datetime, _id)` order, scoring and writing back one batch at a time.
//!
//! Crash safety comes from the order of operations in [`process_batch`]: the resume point
//! is saved only after the batch's update command is acknowledged, and the follow query
//! skips documents already carrying the current `lad_model_version`, so a crash or
//! outage between the two writes neither skips nor rescores anything.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use mongodb::bson::{doc, Bson};
use tokio::sync::{watch, Semaphore};

use super::backoff::{Backoff, Shutdown};
use super::doc::{prepare, Action, SkipReason};
use super::metrics::WorkerState;
use super::stats::{WorkerReport, WorkerStats};
use super::store::{bson_dt, Resume, Store, StoreError, UpdateStmt};
use super::training::{load_fresh, train};
use crate::config::{LogSource, ServiceConfig};
use crate::model::{Model, Score};

/// Everything a worker (and its background retrain) shares.
pub(crate) struct WorkerCtx {
    pub config: Arc<ServiceConfig>,
    pub source: LogSource,
    /// `collection/hostname`, for logs.
    pub key: String,
    pub store: Store,
    /// `--once`: give up instead of waiting, stop when the backlog is done.
    pub once: bool,
    pub train_permits: Arc<Semaphore>,
    /// Model in use, counters and health, shared with the metrics endpoint.
    state: Arc<WorkerState>,
}

impl WorkerCtx {
    pub(crate) fn new(
        config: Arc<ServiceConfig>,
        client: &mongodb::Client,
        source: LogSource,
        once: bool,
        train_permits: Arc<Semaphore>,
        state: Arc<WorkerState>,
    ) -> Self {
        Self {
            store: Store::new(client, &config, &source),
            key: source.key(),
            config,
            source,
            once,
            train_permits,
            state,
        }
    }

    fn current_model(&self) -> Option<Arc<Model>> {
        self.state.model()
    }

    fn set_model(&self, m: Arc<Model>) {
        match self.state.model.write() {
            Ok(mut g) => *g = Some(m),
            Err(poisoned) => *poisoned.into_inner() = Some(m),
        }
    }

    pub(crate) fn stats_mut(&self, f: impl FnOnce(&mut WorkerStats)) {
        match self.state.stats.lock() {
            Ok(mut g) => f(&mut g),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    pub(crate) fn report(&self, failed: Option<String>) -> WorkerReport {
        WorkerReport {
            source: self.source.clone(),
            model_version: self.current_model().map(|m| m.version().to_string()),
            stats: self.state.stats(),
            failed,
        }
    }

    /// Logs a failed database operation and waits the next backoff delay. `None` when
    /// stopping was requested meanwhile (use with `?`).
    pub(crate) async fn db_error(
        &self,
        what: &str,
        e: &StoreError,
        backoff: &mut Backoff,
        shutdown: &mut Shutdown,
    ) -> Option<()> {
        self.stats_mut(|s| s.db_errors += 1);
        let delay = backoff.next_delay();
        let attempt = backoff.failures;
        let target = self.config.mongo.display_target();
        // Server-selection errors carry a whole topology dump; the first 300 characters say
        // what went wrong.
        let mut msg = self.config.mongo.scrub(&e.to_string());
        if let Some((cut, _)) = msg.char_indices().nth(300) {
            msg.truncate(cut);
            msg.push_str("...");
        }
        self.state.set_error(Some(format!("{what}: {msg}")));
        if e.is_auth() {
            tracing::error!(source = %self.key, attempt, "{what}: MongoDB {target} refused the credentials or privileges: {msg}; retrying in {:.1}s", delay.as_secs_f64());
        } else {
            tracing::warn!(source = %self.key, attempt, "{what}: MongoDB {target} unavailable: {msg}; retrying in {:.1}s", delay.as_secs_f64());
        }
        if shutdown.sleep(delay).await {
            None
        } else {
            Some(())
        }
    }
}

/// Retries `op` with backoff until it succeeds; `None` when stopping.
macro_rules! retry {
    ($ctx:expr, $what:expr, $shutdown:expr, $op:expr) => {{
        let mut backoff = Backoff::default();
        loop {
            match $op.await {
                Ok(v) => {
                    if backoff.failures > 0 {
                        tracing::info!(source = %$ctx.key, "{}: MongoDB reachable again", $what);
                    }
                    break Some(v);
                }
                Err(e) => {
                    if $ctx.db_error($what, &e, &mut backoff, $shutdown).await.is_none() {
                        break None;
                    }
                }
            }
        }
    }};
}

/// The worker's life: index, model, resume point, then batches until stopped.
pub(crate) async fn run_worker(
    ctx: Arc<WorkerCtx>,
    mut shutdown: Shutdown,
    mut retrain: watch::Receiver<u64>,
) -> WorkerReport {
    let cfg = ctx.config.clone();
    if retry!(
        ctx,
        "creating index",
        &mut shutdown,
        ctx.store.ensure_index()
    )
    .is_none()
    {
        return ctx.report(None);
    }
    let model = match load_fresh(&ctx).await {
        Some(m) => Arc::new(m),
        None => match train(&ctx, &mut shutdown).await {
            Some(m) => m,
            None => return ctx.report(None),
        },
    };
    ctx.set_model(model);

    let Some(mut resume) = load_resume(&ctx, &mut shutdown).await else {
        return ctx.report(None);
    };
    tracing::info!(source = %ctx.key, from = %resume.dt, "following new documents");

    // New documents wake the worker at once where the server offers change streams; the
    // poll interval remains the fallback (and the only mechanism on a standalone server).
    let inserted = Arc::new(tokio::sync::Notify::new());
    let watcher = (!ctx.once).then(|| {
        let (ctx, inserted) = (ctx.clone(), inserted.clone());
        tokio::spawn(async move {
            match ctx.store.watch_inserts(&inserted).await {
                Ok(()) => tracing::debug!(source = %ctx.key, "change stream ended; polling"),
                Err(e) => tracing::info!(source = %ctx.key, "no change stream ({e}); polling every {:?}", ctx.config.poll_interval),
            }
        })
    });

    retrain.borrow_and_update();
    let mut retrain_due = false;
    let mut training: Option<tokio::task::JoinHandle<()>> = None;
    let mut backoff = Backoff::default();
    let mut reload_resume = false;
    while !shutdown.is_set() {
        // Checked here too, not only while idle, so a long backlog does not delay a retrain.
        if retrain.has_changed().unwrap_or(false) {
            retrain.borrow_and_update();
            retrain_due = true;
        }
        if reload_resume {
            // After a failure, continue from what the database says was saved, not from
            // memory: a server that crashed may have lost acknowledged writes, and its
            // recovery keeps a prefix of them (the resume point is written last).
            match load_resume(&ctx, &mut shutdown).await {
                Some(r) => resume = r,
                None => break,
            }
            reload_resume = false;
        }
        if retrain_due && !ctx.once {
            retrain_due = false;
            if training.as_ref().is_some_and(|h| !h.is_finished()) {
                tracing::warn!(source = %ctx.key, "scheduled retrain skipped: the previous one is still running");
            } else {
                training = Some(tokio::spawn(background_retrain(
                    ctx.clone(),
                    shutdown.clone(),
                )));
            }
        }
        let Some(model) = ctx.current_model() else {
            break; // cannot happen: set above
        };
        match process_batch(&ctx, &mut resume, &model).await {
            Ok(n) => {
                ctx.state.set_error(None);
                if backoff.failures > 0 {
                    tracing::info!(source = %ctx.key, "MongoDB reachable again; continuing from the resume point");
                }
                backoff.reset();
                if n >= cfg.batch_size as usize {
                    continue; // backlog: next batch right away
                }
                if ctx.once {
                    break;
                }
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = tokio::time::sleep(cfg.poll_interval) => {}
                    _ = inserted.notified() => {}
                    Ok(()) = retrain.changed() => retrain_due = true,
                }
            }
            Err(e) => {
                if ctx
                    .db_error("processing a batch", &e, &mut backoff, &mut shutdown)
                    .await
                    .is_none()
                {
                    break;
                }
                reload_resume = true;
            }
        }
    }
    if let Some(w) = watcher {
        w.abort();
    }
    tracing::info!(source = %ctx.key, "worker stopped");
    ctx.report(None)
}

/// The saved resume point, or the start of the training window on a first start (so the
/// backlog inside the window is scored). `None` when stopping.
async fn load_resume(ctx: &WorkerCtx, shutdown: &mut Shutdown) -> Option<Resume> {
    let saved = retry!(
        ctx,
        "loading resume point",
        shutdown,
        ctx.store.load_resume()
    )?;
    let resume = saved.unwrap_or_else(|| {
        let span =
            chrono::Duration::from_std(ctx.config.train_time_span).unwrap_or(chrono::Duration::MAX);
        let start = Utc::now()
            .checked_sub_signed(span)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        Resume {
            dt: bson_dt(start),
            id: None,
        }
    });
    Some(resume)
}

/// Scheduled retrain: trains while the worker keeps scoring with the old model, then swaps.
async fn background_retrain(ctx: Arc<WorkerCtx>, mut shutdown: Shutdown) {
    tracing::info!(source = %ctx.key, "scheduled retrain started");
    if let Some(m) = train(&ctx, &mut shutdown).await {
        if !shutdown.is_set() {
            tracing::info!(source = %ctx.key, version = m.version(), "switched to the retrained model");
            ctx.set_model(m);
        }
    }
}

/// Scores `texts` off the async threads, in order. A text marked `true` arrived after the
/// model was trained and is remembered once scored (online novelty memory); the others
/// were part of its training window. A panic in the engine is contained: that message gets
/// `None` and the rest of the batch is scored.
async fn score_texts(model: Arc<Model>, texts: Vec<(String, bool)>) -> Vec<Option<Score>> {
    let n = texts.len();
    if n == 0 {
        return Vec::new();
    }
    let joined = tokio::task::spawn_blocking(move || {
        texts
            .iter()
            .map(|(m, new)| {
                catch_unwind(AssertUnwindSafe(|| {
                    if *new {
                        model.score_and_learn(&[m.as_str()])
                    } else {
                        model.score(&[m.as_str()])
                    }
                }))
                .ok()
                .and_then(|v| v.into_iter().next())
            })
            .collect()
    })
    .await;
    joined.unwrap_or_else(|_| (0..n).map(|_| None).collect())
}

/// One read, one update command, one state upsert. Returns the number of documents read.
async fn process_batch(
    ctx: &WorkerCtx,
    resume: &mut Resume,
    model: &Arc<Model>,
) -> Result<usize, StoreError> {
    let cfg = &ctx.config;
    let t0 = Instant::now();
    let grace = chrono::Duration::from_std(cfg.late_arrival_grace).unwrap_or_default();
    let upper = Utc::now() - grace;
    let version = model.version().to_string();
    let docs = ctx
        .store
        .next_batch(resume, upper, &version, cfg.batch_size)
        .await?;
    let n = docs.len();
    if n == 0 {
        return Ok(0);
    }
    let prepared: Vec<_> = docs
        .iter()
        .filter_map(|d| prepare(d, &cfg.message_field, &cfg.datetime_field))
        .collect();
    drop(docs);

    let mut new_resume = resume.clone();
    let mut texts = Vec::new();
    let trained_at = model.trained_at();
    for p in &prepared {
        if let Some(dt) = p.resume_dt {
            new_resume = Resume {
                dt,
                id: Some(p.id.clone()),
            };
        }
        if let Action::Score { text, at, .. } = &p.action {
            texts.push((text.clone(), *at > trained_at));
        }
    }
    let mut scores = score_texts(model.clone(), texts).await.into_iter();

    let mut batch = WorkerStats {
        batches: 1,
        ..Default::default()
    };
    let mut stmts = Vec::with_capacity(prepared.len());
    for p in prepared {
        let set = match p.action {
            Action::Score { truncated, .. } => match scores.next().flatten() {
                Some(s) => {
                    batch.scored += 1;
                    batch.anomalies += u64::from(s.is_anomaly);
                    batch.truncated += u64::from(truncated);
                    doc! {
                        "is_anomaly": i32::from(s.is_anomaly),
                        "anomaly_score": s.anomaly_score,
                        "lad_model_version": &version,
                    }
                }
                None => {
                    batch.skip(SkipReason::ScoringFailed);
                    doc! { "lad_skipped": SkipReason::ScoringFailed.as_str() }
                }
            },
            Action::Skip(reason) => {
                batch.skip(reason);
                doc! { "lad_skipped": reason.as_str() }
            }
        };
        stmts.push(UpdateStmt { id: p.id, set });
    }
    let expected = stmts.len() as u64;
    let outcome = ctx.store.write(stmts).await?;
    if outcome.matched < expected {
        tracing::debug!(source = %ctx.key, matched = outcome.matched, expected, "some documents vanished before the write");
    }
    batch.write_errors = outcome.write_errors;
    ctx.stats_mut(|s| s.add(&batch));
    ctx.store
        .save_state(&new_resume, &version, batch.to_inc())
        .await?;
    ctx.state.observe_batch(t0.elapsed());
    *resume = new_resume;
    let resume_dt = match &resume.id {
        Some(Bson::ObjectId(o)) => format!("{} / {o}", resume.dt),
        _ => resume.dt.to_string(),
    };
    tracing::info!(
        source = %ctx.key,
        docs = n,
        scored = batch.scored,
        anomalies = batch.anomalies,
        skipped = batch.skipped_total(),
        ms = t0.elapsed().as_millis() as u64,
        resume = %resume_dt,
        "batch written"
    );
    Ok(n)
}
