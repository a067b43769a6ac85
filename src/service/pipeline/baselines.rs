//! What the layers learn from a host's training window besides the host model: the
//! threat engine's baseline (`THREAT_RULES`) and the session model (`SESSION_KEY`). In:
//! the worker's context and its freshly loaded or trained host model; out: the fitted
//! engine and session model, switched into the layers' state. A failed read keeps the
//! layer as it was (logged), so scoring goes on without it until the next retrain.

use std::sync::Arc;

use chrono::Utc;
use mongodb::bson::Document;

use crate::model::HostModel;
use crate::service::layers::sessions::fit_sessions;
use crate::service::layers::threat_feed::{EngineState, SharedEngine};
use crate::service::pipeline::context::WorkerCtx;
use crate::threat::syslog::event_from_message;
use crate::threat::{ThreatEngine, ThreatParams};

/// Refits both layers' baselines for `model` (after it is loaded or retrained).
pub(crate) async fn refit(ctx: &WorkerCtx, model: &Arc<HostModel>) {
    refit_threat(ctx).await;
    fit_sessions_model(ctx, model).await;
}

/// Fits the threat engine on the training window and switches to it (no-op when off).
async fn refit_threat(ctx: &WorkerCtx) {
    if ctx.config.threat_rules.is_none() {
        return;
    }
    if let Some(e) = fit_engine(ctx).await {
        match ctx.threat.lock() {
            Ok(mut g) => *g = Some(e),
            Err(p) => *p.into_inner() = Some(e),
        }
    }
}

/// Fits a new engine on the host's training window; `None` when the threat layer is off,
/// or when the read fails (logged; the worker scores without the threat layer until the
/// next retrain).
async fn fit_engine(ctx: &WorkerCtx) -> Option<SharedEngine> {
    let cfg = &ctx.config;
    let rules = cfg.threat_rules.as_ref()?;
    let mut engine = match ThreatEngine::new(rules, ThreatParams::default()) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(source = %ctx.key, "THREAT_RULES: {e}; the threat layer is off for this host");
            return None;
        }
    };
    let end = Utc::now();
    let read = match ctx
        .logs
        .training_messages(
            cfg.window_start(end),
            end,
            cfg.train_max_entries,
            cfg.train_max_bytes,
        )
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(source = %ctx.key, "reading the threat baseline: {}; no threat layer until the next retrain", cfg.mongo.scrub(&e.to_string()));
            return None;
        }
    };
    let host = ctx.source.hostname.clone();
    // A structured collection's documents are read whole; the threat layer sees their
    // events' messages.
    let mut read = read;
    if let Some(profile) = &ctx.profile {
        let mut stats = crate::profile::ProfileStats::default();
        let (messages, times) = read
            .documents
            .iter()
            .zip(&read.times)
            .filter_map(|(d, t)| {
                let evs = crate::service::doc::events_of(d, profile, &host, *t, &mut stats).ok()?;
                Some((evs.into_iter().next()?.message, *t))
            })
            .unzip();
        read.messages = messages;
        read.times = times;
        read.documents = Vec::new();
    }
    let fitted = tokio::task::spawn_blocking(move || {
        // The read is newest first.
        let events: Vec<_> = read
            .messages
            .iter()
            .zip(&read.times)
            .rev()
            .map(|(m, t)| event_from_message(m, &host, *t))
            .collect();
        let n = events.len();
        engine.fit(&events);
        (engine, n)
    })
    .await;
    match fitted {
        Ok((engine, n)) => {
            tracing::info!(source = %ctx.key, baseline_events = n, "threat layer fitted");
            Some(EngineState::shared(engine, end))
        }
        Err(e) => {
            tracing::error!(source = %ctx.key, "fitting the threat layer failed: {e}");
            None
        }
    }
}

/// Fits the session model on the host's training window with `model`'s event kinds and
/// switches to it (no-op without `SESSION_KEY`). A failed read keeps the previous session
/// model; too few sessions leave none until the next retrain.
async fn fit_sessions_model(ctx: &WorkerCtx, model: &Arc<HostModel>) {
    let Some(keyer) = ctx.sessions.keyer.clone() else {
        return;
    };
    let cfg = &ctx.config;
    let end = Utc::now();
    // A structured collection's documents become their first event's message and token.
    let mapper = |d: &Document| {
        let profile = ctx.profile.as_ref()?;
        let mut stats = crate::profile::ProfileStats::default();
        let evs =
            crate::service::doc::events_of(d, profile, &ctx.source.hostname, None, &mut stats)
                .ok()?;
        let e = evs.first()?;
        Some((e.message.clone(), crate::session::events::event_token(e)))
    };
    let rows = match ctx
        .logs
        .session_training(
            cfg.window_start(end),
            end,
            cfg.train_max_entries,
            cfg.train_max_bytes,
            keyer.field(),
            ctx.profile
                .is_some()
                .then_some(&mapper as crate::source::mongo::EventMapper<'_>),
        )
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(source = %ctx.key, "reading the session training window: {}; keeping the previous session model", cfg.mongo.scrub(&e.to_string()));
            return;
        }
    };
    let model = model.clone();
    let timeout_ms = ctx.sessions.timeout_ms();
    let fitted =
        tokio::task::spawn_blocking(move || fit_sessions(&rows, &keyer, &model, timeout_ms)).await;
    match fitted {
        Ok(Ok(m)) => {
            tracing::info!(source = %ctx.key, sessions = m.n_train(), events = m.vocab_size(), "session model fitted");
            ctx.sessions.set_model(Some(Arc::new(m)));
        }
        Ok(Err(why)) => {
            tracing::warn!(source = %ctx.key, "{why}; no session scores until the next retrain (keyed documents wait)");
            ctx.sessions.set_model(None);
        }
        Err(e) => {
            tracing::error!(source = %ctx.key, "fitting the session model failed: {e}");
            ctx.sessions.set_model(None);
        }
    }
}
