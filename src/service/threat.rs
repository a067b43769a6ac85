//! The threat layer in service mode (`THREAT_RULES`): one engine per worker, fitted on the
//! host's training window (oldest first, so its windows and baselines see time pass as the
//! host lived it), then fed every scored document in `(datetime, _id)` order. Its finding
//! and the line score become one verdict ([`crate::threat::triage`]): `lad_threat` and
//! `lad_severity` on every anomaly, and a burst or rule can raise an anomaly the line model
//! does not see. The engine's windows live in memory: after a restart they refill from the
//! new documents (the baseline is refitted from the window).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::context::WorkerCtx;
use crate::threat::syslog::event_from_message;
use crate::threat::{ThreatEngine, ThreatFinding, ThreatParams};

/// A worker's engine, shared with its scoring task.
pub(crate) type SharedEngine = Arc<Mutex<EngineState>>;

/// The engine and what it was fitted on.
#[derive(Debug)]
pub(crate) struct EngineState {
    engine: ThreatEngine,
    /// End of the baseline it was fitted on.
    fitted_until: DateTime<Utc>,
    /// Whether it is replaying the baseline (see [`EngineState::observe`]).
    replaying: bool,
}

impl EngineState {
    /// Scores one document. A document from inside the fitted baseline (the first start
    /// scores the backlog it trained on) restarts the engine's windows once, so the backlog
    /// is replayed in its own time order, as `lad threat eval --split self` does, instead of
    /// piling up at the end of the baseline as one huge burst.
    pub(crate) fn observe(
        &mut self,
        message: &str,
        host: &str,
        at: DateTime<Utc>,
    ) -> ThreatFinding {
        if at < self.fitted_until && !self.replaying {
            self.engine.restart_stream();
            self.replaying = true;
        }
        self.engine
            .observe(&event_from_message(message, host, Some(at)))
    }
}

/// Fits a new engine on the host's training window; `None` when the threat layer is off,
/// or when the read fails (logged; the worker scores without the threat layer until the
/// next retrain).
pub(crate) async fn fit_engine(ctx: &WorkerCtx) -> Option<SharedEngine> {
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
                let evs = super::doc::events_of(d, profile, &host, *t, &mut stats).ok()?;
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
            Some(Arc::new(Mutex::new(EngineState {
                engine,
                fitted_until: end,
                replaying: false,
            })))
        }
        Err(e) => {
            tracing::error!(source = %ctx.key, "fitting the threat layer failed: {e}");
            None
        }
    }
}
