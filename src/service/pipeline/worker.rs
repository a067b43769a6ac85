//! One worker per `(collection, hostname)` whose lease this process holds: get a model,
//! then follow the host's documents in `(datetime, _id)` order, scoring and writing back one
//! batch at a time, and sweep behind the resume point every `SWEEP_INTERVAL` for documents
//! that were never handled.
//!
//! Crash safety comes from the order of operations in [`process_batch`]: the resume point
//! is saved only after the batch's update command is acknowledged, and the write-back is
//! write-once, so a crash or outage between the two writes neither skips nor rescores
//! anything. Before every write the lease is checked, and the resume point is saved fenced
//! by the lease's token.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use mongodb::bson::Bson;
use tokio::sync::{watch, Notify};

use crate::model::HostModel;
use crate::service::backoff::{Backoff, Shutdown};
use crate::service::error::StoreError;
use crate::service::pipeline::context::{retry, WorkerCtx};
use crate::service::pipeline::stats::WorkerReport;
use crate::service::pipeline::sweep::sweep_once;
use crate::service::pipeline::training::{load_fresh, train};
use crate::service::pipeline::{baselines, session_pass};
use crate::source::mongo::{bson_dt, Resume};

/// The worker's life: indexes, model, resume point, then batches until stopped (or, with
/// `--once`, until the backlog and the sweep are done).
pub(crate) async fn run_worker(
    ctx: Arc<WorkerCtx>,
    mut shutdown: Shutdown,
    mut retrain: watch::Receiver<u64>,
    inserted: Arc<Notify>,
) -> WorkerReport {
    let Some(resume) = start(&ctx, &mut shutdown).await else {
        return ctx.report(None);
    };
    tracing::info!(source = %ctx.key, from = %resume.dt, token = ctx.lease.token, "following new documents");
    retrain.borrow_and_update();
    let mut follow = Follow::new(resume, &ctx);
    follow
        .run(&ctx, &mut shutdown, &mut retrain, &inserted)
        .await;
    if let Some(t) = follow.training {
        if !t.is_finished() {
            t.abort();
        }
    }
    tracing::info!(source = %ctx.key, "worker stopped");
    ctx.report(None)
}

/// Indexes, then the model (kept from before a lease hand-over, loaded when fresh, else
/// trained) with its feedback and layer baselines, then the resume point. `None` when
/// stopping or no model could be had.
async fn start(ctx: &WorkerCtx, shutdown: &mut Shutdown) -> Option<Resume> {
    retry!(ctx, "creating indexes", shutdown, ctx.logs.ensure_indexes())?;
    let model = match ctx.current_model() {
        // Picked up again after a lease handover back to this process: keep the model.
        Some(m) => m,
        None => match load_fresh(ctx).await {
            Some(m) => Arc::new(m),
            None => train(ctx, shutdown).await?,
        },
    };
    ctx.apply_feedback(&model).await;
    baselines::refit(ctx, &model).await;
    ctx.set_model(model);
    load_resume(ctx, shutdown).await
}

/// What the follow loop does after a step.
enum Next {
    /// Go on at once (backlog, or a sweep just ran).
    Continue,
    /// Caught up: wait for new documents, the poll interval or the next sweep.
    Wait,
    /// `--once` and done.
    Stop,
}

/// The follow loop's state between steps.
struct Follow {
    resume: Resume,
    retrain_due: bool,
    training: Option<tokio::task::JoinHandle<()>>,
    backoff: Backoff,
    /// After a failure: continue from what the database saved, not from memory.
    reload_resume: bool,
    sweep_due: Instant,
    backlog_done: bool,
    last_swept: bool,
    swept_after_backlog: bool,
    /// The follow loop has read every document up to this time (for closing sessions).
    scored_through: chrono::DateTime<Utc>,
    grace: chrono::Duration,
}

impl Follow {
    fn new(resume: Resume, ctx: &WorkerCtx) -> Self {
        Self {
            scored_through: chrono_dt(resume.dt),
            resume,
            retrain_due: false,
            training: None,
            backoff: Backoff::default(),
            reload_resume: false,
            sweep_due: Instant::now(),
            backlog_done: false,
            last_swept: false,
            swept_after_backlog: false,
            grace: chrono::Duration::from_std(ctx.config.late_arrival_grace).unwrap_or_default(),
        }
    }

    async fn run(
        &mut self,
        ctx: &Arc<WorkerCtx>,
        shutdown: &mut Shutdown,
        retrain: &mut watch::Receiver<u64>,
        inserted: &Notify,
    ) {
        while !shutdown.is_set() {
            // Checked here too, not only while idle, so a long backlog does not delay a
            // retrain.
            if retrain.has_changed().unwrap_or(false) {
                retrain.borrow_and_update();
                self.retrain_due = true;
            }
            if self.reload_resume {
                // After a failure, continue from what the database says was saved, not
                // from memory: a server that crashed may have lost acknowledged writes, and
                // its recovery keeps a prefix of them (the resume point is written last).
                match load_resume(ctx, shutdown).await {
                    Some(r) => self.resume = r,
                    None => break,
                }
                self.reload_resume = false;
            }
            self.start_due_retrain(ctx, shutdown);
            let Some(model) = ctx.current_model() else {
                break; // cannot happen: set in `start`
            };
            // Sweep when due, but never twice in a row while the follow loop has work: a
            // pile of late documents must not hold up new ones.
            let sweep_now = Instant::now() >= self.sweep_due && !self.last_swept;
            self.last_swept = sweep_now;
            let follow_upper = Utc::now() - self.grace;
            match self.step(ctx, &model, sweep_now).await {
                Ok((n, swept)) => {
                    match self.after_step(ctx, &model, n, swept, follow_upper).await {
                        Next::Continue => {}
                        Next::Stop => break,
                        Next::Wait => {
                            let wait = ctx
                                .config
                                .poll_interval
                                .min(self.sweep_due.saturating_duration_since(Instant::now()));
                            tokio::select! {
                                _ = shutdown.wait() => break,
                                _ = tokio::time::sleep(wait) => {}
                                _ = inserted.notified() => {}
                                Ok(()) = retrain.changed() => self.retrain_due = true,
                            }
                        }
                    }
                }
                Err(e) => {
                    if ctx
                        .db_error("processing a batch", &e, &mut self.backoff, shutdown)
                        .await
                        .is_none()
                    {
                        break;
                    }
                    self.reload_resume = !matches!(e, StoreError::LeaseExpired { .. });
                }
            }
        }
    }

    /// Starts a due scheduled retrain in the background (not with `--once`, and not while
    /// the previous one runs).
    fn start_due_retrain(&mut self, ctx: &Arc<WorkerCtx>, shutdown: &Shutdown) {
        if !self.retrain_due || ctx.once {
            return;
        }
        self.retrain_due = false;
        if self.training.as_ref().is_some_and(|h| !h.is_finished()) {
            tracing::warn!(source = %ctx.key, "scheduled retrain skipped: the previous one is still running");
        } else {
            self.training = Some(tokio::spawn(background_retrain(
                ctx.clone(),
                shutdown.clone(),
            )));
        }
    }

    /// One sweep (with the feedback harvest before it) or one follow batch: the number of
    /// documents read and whether it was the sweep.
    async fn step(
        &mut self,
        ctx: &WorkerCtx,
        model: &Arc<HostModel>,
        sweep_now: bool,
    ) -> Result<(usize, bool), StoreError> {
        let cfg = &ctx.config;
        if !sweep_now {
            return process_batch(ctx, &mut self.resume, model)
                .await
                .map(|n| (n, false));
        }
        if let Err(e) = ctx.harvest_feedback(model).await {
            tracing::warn!(source = %ctx.key, "picking up feedback: {}", cfg.mongo.scrub(&e.to_string()));
        }
        let n = sweep_once(ctx, &self.resume, model).await?;
        if n < cfg.batch_size as usize {
            self.sweep_due = Instant::now() + cfg.sweep_interval;
        }
        Ok((n, true))
    }

    /// After a successful step: health, session passes, and what comes next.
    async fn after_step(
        &mut self,
        ctx: &WorkerCtx,
        model: &Arc<HostModel>,
        n: usize,
        swept: bool,
        follow_upper: chrono::DateTime<Utc>,
    ) -> Next {
        let full = n >= ctx.config.batch_size as usize;
        ctx.wstate.set_error(None);
        if self.backoff.failures > 0 {
            tracing::info!(source = %ctx.key, "MongoDB reachable again; continuing from the resume point");
        }
        self.backoff.reset();
        if !swept {
            self.scored_through = if full {
                self.scored_through.max(chrono_dt(self.resume.dt))
            } else {
                follow_upper
            };
        }
        if full {
            return Next::Continue; // backlog: next batch right away
        }
        if swept {
            session_pass::run_pass(ctx, model, self.scored_through, false).await;
            // The sweep is done for now; the follow query runs next (never two sweeps in a
            // row), so a sweep never delays the backlog or new documents.
            if self.backlog_done {
                self.swept_after_backlog = true;
            }
            return Next::Continue;
        }
        self.backlog_done = true;
        if !ctx.once {
            return Next::Wait;
        }
        if self.swept_after_backlog {
            // Backlog followed, then swept behind it once: end of input, so every open
            // session is complete.
            session_pass::run_pass(ctx, model, self.scored_through, true).await;
            return Next::Stop;
        }
        self.sweep_due = Instant::now();
        Next::Continue
    }
}

fn chrono_dt(t: mongodb::bson::DateTime) -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or_default()
}

/// The saved resume point, or the start of the training window on a first start (so the
/// backlog inside the window is scored). `None` when stopping.
async fn load_resume(ctx: &WorkerCtx, shutdown: &mut Shutdown) -> Option<Resume> {
    let saved = retry!(
        ctx,
        "loading resume point",
        shutdown,
        ctx.state.load_resume(&ctx.key)
    )?;
    Some(saved.unwrap_or_else(|| Resume {
        dt: bson_dt(ctx.config.window_start(Utc::now())),
        id: None,
    }))
}

/// Scheduled retrain: trains while the worker keeps scoring with the old model, then swaps.
async fn background_retrain(ctx: Arc<WorkerCtx>, mut shutdown: Shutdown) {
    tracing::info!(source = %ctx.key, "scheduled retrain started");
    if let Some(m) = train(&ctx, &mut shutdown).await {
        if !shutdown.is_set() {
            ctx.apply_feedback(&m).await;
            baselines::refit(&ctx, &m).await;
            tracing::info!(source = %ctx.key, version = m.version(), "switched to the retrained model");
            ctx.set_model(m);
        }
    }
}

/// One read, one update command, one fenced state update. Returns the number of documents
/// read.
async fn process_batch(
    ctx: &WorkerCtx,
    resume: &mut Resume,
    model: &Arc<HostModel>,
) -> Result<usize, StoreError> {
    let cfg = &ctx.config;
    let t0 = Instant::now();
    let grace = chrono::Duration::from_std(cfg.late_arrival_grace).unwrap_or_default();
    let upper = Utc::now() - grace;
    let docs = ctx.logs.next_batch(resume, upper, cfg.batch_size).await?;
    let n = docs.len();
    if n == 0 {
        return Ok(0);
    }
    let prepared = ctx.prepare_all(docs);
    let mut new_resume = resume.clone();
    for p in &prepared {
        if let Some(dt) = p.resume_dt {
            new_resume = Resume {
                dt,
                id: Some(p.id.clone()),
            };
        }
    }
    let v = ctx.verdicts(model, prepared, |_| None).await;
    let batch = ctx.commit(model, v, &new_resume, 1).await?;
    ctx.wstate.observe_batch(t0.elapsed());
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
