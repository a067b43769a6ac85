//! The threat layer in service mode (`THREAT_RULES`): one engine per worker, fitted on the
//! host's training window (by [`crate::service::pipeline::baselines`]) (oldest first, so its windows and baselines see time pass as the
//! host lived it), then fed every scored document in `(datetime, _id)` order. Its finding
//! and the line score become one verdict ([`crate::threat::triage`]): `lad_threat` and
//! `lad_severity` on every anomaly, and a burst or rule can raise an anomaly the line model
//! does not see. The engine's windows live in memory: after a restart they refill from the
//! new documents (the baseline is refitted from the window).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::threat::syslog::event_from_message;
use crate::threat::{ThreatEngine, ThreatFinding};

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
    /// An engine fitted on a baseline that ended at `fitted_until`, shared with the
    /// scoring task.
    pub(crate) fn shared(engine: ThreatEngine, fitted_until: DateTime<Utc>) -> SharedEngine {
        Arc::new(Mutex::new(Self {
            engine,
            fitted_until,
            replaying: false,
        }))
    }

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
