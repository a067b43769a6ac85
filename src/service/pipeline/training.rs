//! Getting a model for a worker: a fresh one from disk, or a new one trained on the host's
//! recent messages.
//!
//! Fitting runs on its own OS thread, not on tokio's blocking pool: a fit on 250,000
//! messages can take minutes, and a detached thread neither delays process exit on
//! SIGTERM (the runtime waits for blocking-pool tasks) nor takes a pool slot from scoring.
//! A semaphore bounds how many fits run at once, so a midnight retrain of many hosts does
//! not oversubscribe the CPUs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::config::RetrainSchedule;
use crate::model::entity::EntityParams;
use crate::model::{HostModel, ModelParams};
use crate::profile::Event;
use crate::service::backoff::{Backoff, Shutdown};
use crate::service::pipeline::context::WorkerCtx;

/// Without a usable schedule history, a saved model younger than this is reused.
const FALLBACK_MAX_AGE: chrono::Duration = chrono::Duration::hours(24);

/// A saved model is fresh when no scheduled retrain has happened since it was trained
/// (or, if the schedule has no previous occurrence, when it is younger than 24 h).
pub fn is_fresh(trained_at: DateTime<Utc>, schedule: &RetrainSchedule, now: DateTime<Utc>) -> bool {
    if trained_at > now + chrono::Duration::minutes(5) {
        return false; // clock trouble: do not trust it
    }
    match schedule.previous(now) {
        Some(prev) => trained_at >= prev,
        None => now - trained_at < FALLBACK_MAX_AGE,
    }
}

/// The model saved under the worker's directory, if it loads and is still fresh.
pub(crate) async fn load_fresh(ctx: &WorkerCtx) -> Option<HostModel> {
    let dir = ctx.config.model_dir(&ctx.source);
    if !dir.exists() {
        return None;
    }
    let d = dir.clone();
    let entity = entity_params(ctx);
    let per_entity = entity.is_some();
    let loaded = tokio::task::spawn_blocking(move || HostModel::load(&d, per_entity)).await;
    let model = match loaded {
        Ok(Ok((m, report))) => {
            for (gen, e) in &report.skipped {
                tracing::warn!(source = %ctx.key, generation = %gen.display(), "saved model generation skipped ({e}); using the previous one, {}", report.generation.display());
            }
            m
        }
        Ok(Err(e)) => {
            tracing::warn!(source = %ctx.key, dir = %dir.display(), "cannot load saved model ({e}); training a new one");
            return None;
        }
        Err(e) => {
            tracing::warn!(source = %ctx.key, dir = %dir.display(), "loading saved model failed ({e}); training a new one");
            return None;
        }
    };
    if &model.info().params != ctx.config.model_params_of(&ctx.source.collection) {
        tracing::info!(source = %ctx.key, "saved model was trained with other parameters (LOF_*, SCORE_THRESHOLD, SEED); training a new one");
        return None;
    }
    if model.entities().map(|e| e.params()) != entity.as_ref() {
        tracing::info!(source = %ctx.key, "saved model was trained with other entity settings (ENTITY_INDEX, MIN_ENTITY_EVENTS, IGNORE_*, ABUSE_FILES); training a new one");
        return None;
    }
    let now = Utc::now();
    if is_fresh(model.trained_at(), &ctx.config.retrain_schedule, now) {
        tracing::info!(source = %ctx.key, version = model.version(), trained_at = %model.trained_at(), "using saved model");
        Some(model)
    } else {
        tracing::info!(source = %ctx.key, trained_at = %model.trained_at(), "saved model predates the last scheduled retrain; training a new one");
        None
    }
}

/// The entity settings of the worker's collection, when its models are per entity.
fn entity_params(ctx: &WorkerCtx) -> Option<EntityParams> {
    let spec = ctx.config.spec(&ctx.source.collection);
    spec.per_entity().then(|| spec.entity.clone())
}

/// What a model is fitted on.
pub(crate) enum TrainingData {
    /// Message strings (syslog collections).
    Messages(Vec<String>),
    /// Events of a structured profile, with the entity settings when per entity.
    Events(Vec<Event>, Option<EntityParams>),
}

impl TrainingData {
    fn len(&self) -> usize {
        match self {
            Self::Messages(m) => m.len(),
            Self::Events(e, _) => e.len(),
        }
    }

    fn fit(&self, params: &ModelParams) -> Result<HostModel, crate::model::ModelError> {
        match self {
            Self::Messages(messages) => {
                let refs: Vec<&str> = messages.iter().map(String::as_str).collect();
                crate::model::Model::fit(&refs, params).map(HostModel::from)
            }
            Self::Events(events, entity) => HostModel::fit_events(events, params, entity.as_ref()),
        }
    }
}

/// The training read as training data: messages as they are, or a structured collection's
/// documents mapped to events (oldest first, as the engine's online memory saw them).
pub(crate) fn training_data(
    ctx: &WorkerCtx,
    read: crate::source::mongo::TrainingRead,
) -> TrainingData {
    let Some(profile) = &ctx.profile else {
        return TrainingData::Messages(read.messages);
    };
    let mut stats = crate::profile::ProfileStats::default();
    let mut events = Vec::with_capacity(read.documents.len());
    let mut rejected = 0u64;
    for (d, t) in read.documents.iter().zip(&read.times).rev() {
        match crate::service::doc::events_of(d, profile, &ctx.source.hostname, *t, &mut stats) {
            Ok(evs) => events.extend(evs),
            Err(_) => rejected += 1,
        }
    }
    if rejected > 0 {
        tracing::warn!(source = %ctx.key, rejected, "training documents that are no event of PROFILE {}; they are left out", profile.kind());
    }
    crate::service::pipeline::context::log_profile_stats(&ctx.key, &stats);
    TrainingData::Events(events, entity_params(ctx))
}

/// Fits on a dedicated thread and saves the model; panics inside the engine become errors.
async fn fit_and_save(
    data: TrainingData,
    params: ModelParams,
    dir: &Path,
    key: &str,
) -> Result<HostModel, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let dir = dir.to_path_buf();
    let key_owned = key.to_string();
    std::thread::Builder::new()
        .name("lad-train".into())
        .spawn(move || {
            let result = data.fit(&params).map_err(|e| e.to_string());
            if let Ok(m) = &result {
                if let Err(e) = m.save(&dir) {
                    tracing::error!(source = %key_owned, dir = %dir.display(), "cannot save model ({e}); it is used but will be retrained after a restart");
                }
            }
            let _ = tx.send(result);
        })
        .map_err(|e| format!("cannot start training thread: {e}"))?;
    rx.await
        .map_err(|_| "the engine panicked during training".to_string())?
}

/// Trains a new model, retrying on database errors (with backoff) and on too little data
/// (after `TRAIN_RETRY_INTERVAL`). `None` when stopping, or in `--once` mode when no model
/// can be trained now.
///
/// The CPU permit is taken *before* the training messages are read and held until the fit
/// ends, so a midnight retrain of a whole fleet holds at most one host's messages per CPU
/// in memory (each read capped at `TRAIN_MAX_BYTES`), not every host's at once.
pub(crate) async fn train(ctx: &WorkerCtx, shutdown: &mut Shutdown) -> Option<Arc<HostModel>> {
    let cfg = &ctx.config;
    let mut backoff = Backoff::default();
    let retry = cfg.train_retry_interval;
    loop {
        if shutdown.is_set() {
            return None;
        }
        let permit = tokio::select! {
            p = ctx.train_permits.clone().acquire_owned() => p.ok()?,
            _ = shutdown.wait() => return None,
        };
        let end = Utc::now();
        let start = cfg.window_start(end);
        let read = match ctx
            .logs
            .training_messages(start, end, cfg.train_max_entries, cfg.train_max_bytes)
            .await
        {
            Ok(m) => m,
            Err(e) => {
                drop(permit);
                ctx.db_error(
                    "loading training messages",
                    &e.into(),
                    &mut backoff,
                    shutdown,
                )
                .await?;
                continue;
            }
        };
        backoff.reset();
        let hit_byte_cap = read.hit_byte_cap;
        let messages = training_data(ctx, read);
        if hit_byte_cap {
            tracing::info!(source = %ctx.key, messages = messages.len(), "training read stopped at TRAIN_MAX_BYTES = {}", cfg.train_max_bytes);
        }
        if (messages.len() as u64) < cfg.min_train_entries {
            drop(permit);
            let n = messages.len();
            let min = cfg.min_train_entries;
            if ctx.once {
                tracing::warn!(source = %ctx.key, "only {n} usable training messages since {start} (MIN_TRAIN_ENTRIES = {min}); nothing scored for this host");
                return None;
            }
            tracing::warn!(source = %ctx.key, "only {n} usable training messages since {start} (MIN_TRAIN_ENTRIES = {min}); retrying in {}", secs(retry));
            if shutdown.sleep(retry).await {
                return None;
            }
            continue;
        }
        let n = messages.len();
        let t0 = Instant::now();
        tracing::info!(source = %ctx.key, messages = n, "training");
        let dir = cfg.model_dir(&ctx.source);
        let params = cfg.model_params_of(&ctx.source.collection).clone();
        let result = fit_and_save(messages, params, &dir, &ctx.key).await;
        drop(permit);
        match result {
            Ok(model) => {
                match model.entities() {
                    Some(e) => {
                        tracing::info!(source = %ctx.key, version = model.version(), messages = n, entity_models = e.entities().count(), secs = t0.elapsed().as_secs_f64(), "model trained (host model plus one per entity with MIN_ENTITY_EVENTS events)")
                    }
                    None => {
                        tracing::info!(source = %ctx.key, version = model.version(), messages = n, secs = t0.elapsed().as_secs_f64(), "model trained")
                    }
                }
                ctx.stats_mut(|s| s.trainings += 1);
                return Some(Arc::new(model));
            }
            Err(e) if ctx.once => {
                tracing::error!(source = %ctx.key, "training failed: {e}");
                return None;
            }
            Err(e) => {
                tracing::error!(source = %ctx.key, "training failed: {e}; retrying in {}", secs(retry));
                if shutdown.sleep(retry).await {
                    return None;
                }
            }
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("date")
            .with_timezone(&Utc)
    }

    #[test]
    fn fresh_means_after_last_scheduled_retrain() {
        let daily = RetrainSchedule::parse("0 0 0 * * *").expect("cron");
        let now = t("2024-05-02T13:00:00Z");
        assert!(is_fresh(t("2024-05-02T00:30:00Z"), &daily, now));
        assert!(!is_fresh(t("2024-05-01T23:00:00Z"), &daily, now));
        assert!(!is_fresh(t("2024-05-03T00:00:00Z"), &daily, now));
    }
}
