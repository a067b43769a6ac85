//! What a worker (and its background retrain) shares: its config, its source and sink, the
//! state store, its lease and the counters the metrics endpoint reads. Separate from the
//! worker loop so that training, sweeping and following can all use it without depending on
//! each other.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::config::{LogSource, ServiceConfig};
use crate::model::HostModel;
use crate::service::backoff::{Backoff, Shutdown};
use crate::service::coordination::lease::Lease;
use crate::service::coordination::state::StateStore;
use crate::service::error::StoreError;
use crate::service::pipeline::stats::{WorkerReport, WorkerStats};
use crate::service::pipeline::worker_state::WorkerState;
use crate::sink::mongo::{MongoVerdicts, UpdateStmt};
use crate::source::mongo::{LogFields, MongoLogs};

/// Everything one worker uses.
pub(crate) struct WorkerCtx {
    pub config: Arc<ServiceConfig>,
    pub source: LogSource,
    /// `collection/hostname`, for logs and as the state document's `_id`.
    pub key: String,
    /// Where its documents come from.
    pub logs: MongoLogs,
    /// Where verdicts go.
    pub sink: MongoVerdicts,
    /// Resume point, counters, lease.
    pub state: StateStore,
    /// The lease this worker runs under; checked before every write.
    pub lease: Arc<Lease>,
    /// `--once`: give up instead of waiting, stop when the backlog is done.
    pub once: bool,
    pub train_permits: Arc<Semaphore>,
    /// Model in use, counters and health, shared with the metrics endpoint.
    pub wstate: Arc<WorkerState>,
    /// This host's feedback.
    pub feedback: crate::service::layers::feedback_harvest::FeedbackStore,
    /// The collection's fleet events, as this host reports to them.
    pub fleet_events: crate::service::layers::fleet_events::FleetEvents,
    /// The threat layer's engine (`THREAT_RULES`), once fitted.
    pub threat: std::sync::Mutex<Option<crate::service::layers::threat_feed::SharedEngine>>,
    /// The collection's structured `PROFILE`, if any (built once).
    pub profile: Option<crate::profile::Profile>,
    /// What the profile counted: missing, invalid and unknown fields, since the last report.
    pub profile_stats: std::sync::Mutex<crate::profile::ProfileStats>,
    /// Session keys and the session model (`SESSION_KEY`).
    pub sessions: crate::service::layers::sessions::Sessions,
}

/// The fields of the config that the Mongo source reads.
pub(crate) fn log_fields(cfg: &ServiceConfig, collection: &str) -> LogFields {
    LogFields {
        message: cfg.message_field_of(collection).to_string(),
        datetime: cfg.datetime_field_of(collection).to_string(),
        hostname: cfg.hostname_field_of(collection).to_string(),
        whole_documents: cfg.spec(collection).is_structured(),
        session_key: cfg.spec(collection).session.as_ref().map(|s| s.key.clone()),
    }
}

impl WorkerCtx {
    /// Context of the worker for `source`, running under `lease`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: Arc<ServiceConfig>,
        client: &mongodb::Client,
        source: LogSource,
        lease: Arc<Lease>,
        once: bool,
        train_permits: Arc<Semaphore>,
        wstate: Arc<WorkerState>,
    ) -> Self {
        let db = client.database(&config.db);
        let spec = config.spec(&source.collection);
        let profile = spec
            .profile
            .map(|k| crate::profile::Profile::new(k, spec.profile_options.clone()));
        Self {
            profile,
            profile_stats: std::sync::Mutex::new(Default::default()),
            logs: MongoLogs::new(
                &db,
                &source.collection,
                &source.hostname,
                &log_fields(&config, &source.collection),
            ),
            sink: MongoVerdicts::new(&db, &source.collection),
            feedback: crate::service::layers::feedback_harvest::FeedbackStore::new(
                &db,
                &config.feedback_collection,
                &source.collection,
                &source.hostname,
                config.hostname_field_of(&source.collection),
            ),
            fleet_events: crate::service::layers::fleet_events::FleetEvents::new(
                &db,
                &config.fleet_events_collection,
                &source.collection,
                &source.hostname,
                config.fleet_min_hosts,
                config.fleet_window,
            ),
            state: StateStore::new(&db, &config.state_collection),
            sessions: crate::service::layers::sessions::Sessions::new(
                config.spec(&source.collection).session.as_ref(),
                &source.key(),
            ),
            key: source.key(),
            config,
            source,
            lease,
            once,
            train_permits,
            wstate,
            threat: std::sync::Mutex::new(None),
        }
    }

    pub(crate) fn current_model(&self) -> Option<Arc<HostModel>> {
        self.wstate.model()
    }

    /// The threat engine in use, if the threat layer is on and fitted.
    pub(crate) fn threat_engine(
        &self,
    ) -> Option<crate::service::layers::threat_feed::SharedEngine> {
        match self.threat.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(crate) fn set_model(&self, m: Arc<HostModel>) {
        match self.wstate.model.write() {
            Ok(mut g) => *g = Some(m),
            Err(poisoned) => *poisoned.into_inner() = Some(m),
        }
    }

    pub(crate) fn stats_mut(&self, f: impl FnOnce(&mut WorkerStats)) {
        match self.wstate.stats.lock() {
            Ok(mut g) => f(&mut g),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// This worker's report: its counters since the process started.
    pub(crate) fn report(&self, failed: Option<String>) -> WorkerReport {
        WorkerReport {
            source: self.source.clone(),
            model_version: self.current_model().map(|m| m.version().to_string()),
            stats: self.wstate.stats(),
            failed,
            ran: true,
        }
    }

    /// Applies this host's recorded feedback to a model it is about to use. A failure is
    /// logged, not fatal: the model scores without it until the next sweep re-reads it.
    pub(crate) async fn apply_feedback(&self, model: &HostModel) {
        match self.feedback.apply_all(model).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(source = %self.key, feedback = n, "feedback applied to the model")
            }
            Err(e) => {
                tracing::warn!(source = %self.key, "reading feedback: {}", self.config.mongo.scrub(&e.to_string()))
            }
        }
    }

    /// After a batch is written and its resume point saved: new kinds to the fleet events.
    /// Failures are logged: the documents are scored and saved already, and fleet events
    /// are a summary on top of them.
    pub(crate) async fn after_write(
        &self,
        new_kinds: &[crate::service::layers::fleet_events::NewKind],
    ) {
        if new_kinds.is_empty() {
            return;
        }
        match self.fleet_events.report(new_kinds).await {
            Ok(r) => self.stats_mut(|s| {
                s.fleet_events += r.raised;
                s.fleet_tagged += r.tagged;
            }),
            Err(e) => {
                tracing::warn!(source = %self.key, "reporting new kinds to the fleet events: {}", self.config.mongo.scrub(&e.to_string()))
            }
        }
    }

    /// Picks up feedback marks on this host's documents (each sweep).
    pub(crate) async fn harvest_feedback(&self, model: &HostModel) -> Result<(), StoreError> {
        let shape = self.shape();
        let n = self
            .feedback
            .harvest(model, |d| match shape.profile {
                Some(p) => {
                    let mut stats = crate::profile::ProfileStats::default();
                    let evs =
                        crate::service::doc::events_of(d, p, shape.host, None, &mut stats).ok()?;
                    evs.into_iter().next().map(|e| e.message)
                }
                None => match crate::service::doc::get_path(d, shape.message) {
                    Some(mongodb::bson::Bson::String(s)) => Some(s.clone()),
                    _ => None,
                },
            })
            .await?;
        if n > 0 {
            self.stats_mut(|s| s.feedback_applied += n as u64);
        }
        Ok(())
    }

    /// The documents of one read, ready to score (the read's buffer is dropped).
    pub(crate) fn prepare_all(
        &self,
        docs: Vec<mongodb::bson::Document>,
    ) -> Vec<crate::service::doc::Prepared> {
        let shape = self.shape();
        let mut stats = crate::profile::ProfileStats::default();
        let out = docs
            .iter()
            .filter_map(|d| {
                let mut p = crate::service::doc::prepare(d, &shape, &mut stats)?;
                p.session_key = self.sessions.key_of(d, &p);
                if p.session_key.is_some() {
                    p.session_event = crate::service::layers::sessions::event_of(&p);
                }
                Some(p)
            })
            .collect();
        if self.profile.is_some() {
            self.add_profile_stats(stats);
        }
        out
    }

    /// How this worker reads its documents.
    pub(crate) fn shape(&self) -> crate::service::doc::Shape<'_> {
        let c = &self.source.collection;
        crate::service::doc::Shape {
            message: self.config.message_field_of(c),
            datetime: self.config.datetime_field_of(c),
            profile: self.profile.as_ref(),
            host: &self.source.hostname,
        }
    }

    /// Adds a read's profile counts; every 10,000 events the fields the profile missed or
    /// did not know are logged (with counts) and the counts start again, so a collection
    /// whose documents lack the user field says so without a log line per document.
    pub(crate) fn add_profile_stats(&self, stats: crate::profile::ProfileStats) {
        let mut g = self.profile_stats.lock().unwrap_or_else(|p| p.into_inner());
        g.merge(stats, 0);
        if g.events >= 10_000 {
            let done = std::mem::take(&mut *g);
            drop(g);
            log_profile_stats(&self.key, &done);
        }
    }

    /// Scores prepared documents with `model` and this host's threat engine (see
    /// [`crate::service::pipeline::verdict::verdicts`]); `kind` says why the sweep found a document.
    pub(crate) async fn verdicts(
        &self,
        model: &Arc<HostModel>,
        prepared: Vec<crate::service::doc::Prepared>,
        kind: impl Fn(&crate::service::doc::Prepared) -> Option<crate::service::doc::SweepKind>,
    ) -> crate::service::pipeline::verdict::Verdicts {
        crate::service::pipeline::verdict::verdicts(
            model,
            self.threat_engine(),
            &self.source.hostname,
            prepared,
            &self.config,
            kind,
        )
        .await
    }

    /// Commits one batch of verdicts, in the order that makes a crash harmless: the
    /// write-once update command, then (lease checked) the resume point `resume` fenced by
    /// the lease's token with the batch's counters, then the fleet-event reports. Returns
    /// the batch's counters.
    pub(crate) async fn commit(
        &self,
        model: &HostModel,
        v: crate::service::pipeline::verdict::Verdicts,
        resume: &crate::source::mongo::Resume,
        batches: u64,
    ) -> Result<WorkerStats, StoreError> {
        let mut batch = v.stats;
        batch.batches = batches;
        self.write_back(v.stmts, &mut batch).await?;
        self.stats_mut(|s| s.add(&batch));
        self.lease.check()?;
        self.state
            .save(
                &self.lease,
                &self.source,
                resume,
                model.version(),
                batch.to_inc(),
            )
            .await?;
        self.after_write(&v.new_kinds).await;
        Ok(batch)
    }

    /// Writes `stmts` (after checking the lease) and adds the outcome to `batch`.
    pub(crate) async fn write_back(
        &self,
        stmts: Vec<UpdateStmt>,
        batch: &mut WorkerStats,
    ) -> Result<(), StoreError> {
        self.lease.check()?;
        let expected = stmts.len() as u64;
        let outcome = self.sink.write(stmts).await?;
        batch.write_errors = outcome.write_errors;
        let missed = expected.saturating_sub(outcome.matched + outcome.write_errors);
        if missed > 0 {
            // Write-once statements that matched nothing: already handled by someone else.
            tracing::debug!(source = %self.key, matched = outcome.matched, expected, "some documents were already handled");
            batch.not_applied += missed;
            batch.scored = batch.scored.saturating_sub(missed);
        }
        Ok(())
    }

    /// Logs a failed database step and waits the next backoff delay. `None` when stopping
    /// was requested meanwhile, or the lease is lost (use with `?`).
    pub(crate) async fn db_error(
        &self,
        what: &str,
        e: &StoreError,
        backoff: &mut Backoff,
        shutdown: &mut Shutdown,
    ) -> Option<()> {
        if matches!(e, StoreError::LeaseLost { .. }) || self.lease.is_lost() {
            tracing::warn!(source = %self.key, "{what}: {e}");
            return None;
        }
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
        if matches!(e, StoreError::LeaseExpired { .. }) {
            tracing::warn!(source = %self.key, attempt, "{what}: {msg}; checking again in {:.1}s", delay.as_secs_f64());
        } else {
            self.stats_mut(|s| s.db_errors += 1);
            self.wstate.set_error(Some(format!("{what}: {msg}")));
            if e.is_auth() {
                tracing::error!(source = %self.key, attempt, "{what}: MongoDB {target} refused the credentials or privileges: {msg}; retrying in {:.1}s", delay.as_secs_f64());
            } else {
                tracing::warn!(source = %self.key, attempt, "{what}: MongoDB {target} unavailable: {msg}; retrying in {:.1}s", delay.as_secs_f64());
            }
        }
        if shutdown.sleep(delay).await {
            None
        } else {
            Some(())
        }
    }
}

/// Logs what a profile counted: events, and the missing / invalid / unknown fields.
pub(crate) fn log_profile_stats(key: &str, s: &crate::profile::ProfileStats) {
    let top = |m: &std::collections::BTreeMap<String, u64>| {
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.iter()
            .take(8)
            .map(|(k, n)| format!("{k} ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    tracing::info!(
        source = %key,
        events = s.events,
        missing = %top(&s.missing),
        invalid = %top(&s.invalid),
        unknown = %top(&s.unknown),
        "profile fields: missing, invalid and unknown ones with their counts"
    );
}

/// Retries `op` with backoff until it succeeds; `None` when stopping (or the lease is lost).
macro_rules! retry {
    ($ctx:expr, $what:expr, $shutdown:expr, $op:expr) => {{
        let mut backoff = $crate::service::backoff::Backoff::default();
        loop {
            match $op.await {
                Ok(v) => {
                    if backoff.failures > 0 {
                        tracing::info!(source = %$ctx.key, "{}: MongoDB reachable again", $what);
                    }
                    break Some(v);
                }
                Err(e) => {
                    let e: $crate::service::error::StoreError = e.into();
                    if $ctx.db_error($what, &e, &mut backoff, $shutdown).await.is_none() {
                        break None;
                    }
                }
            }
        }
    }};
}
pub(crate) use retry;
