//! Scale-out on MongoDB itself: any number of `lad run` processes with the same config
//! share the `(collection, hostname)` workers through leases in the state collection (see
//! [`coordination::state`](crate::service::coordination::state) for the protocol and [`coordination::lease`](crate::service::coordination::lease) for the local side). No second
//! coordination service.
//!
//! Every `LEASE_TIME / 3` each process runs one *round*:
//!
//! 1. reads the server's clock (`hello`), so expiry times mean the same to every process;
//! 2. renews its heartbeat document and every lease it holds (two commands for all of
//!    them); a lease whose token changed was taken over: its worker is stopped at once;
//! 3. computes its fair share, `ceil(workers / live processes)`; beyond it, it releases
//!    workers (each finishes its batch, saves its resume point, then gives the lease back);
//!    below it, it acquires free or expired leases and starts their workers.
//!
//! A process that dies stops renewing: its leases expire after `LEASE_TIME`, its heartbeat
//! too, the others' fair share grows, and within one more round they take its workers over,
//! each resuming from the saved point. The first acquisition waits one short round so that
//! processes started together see each other instead of one taking everything. `--once`
//! runs take only free leases, wait up to `2 × LEASE_TIME` for held ones, and do not count
//! as members.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::config::{LogSource, ServiceConfig};
use crate::service::backoff::Shutdown;
use crate::service::coordination::lease::Lease;
use crate::service::coordination::state::{Member, StateStore};
use crate::service::coordination::wake::{spawn_watchers, Wakers};
use crate::service::pipeline::context::WorkerCtx;
use crate::service::pipeline::stats::{WorkerReport, WorkerStats};
use crate::service::pipeline::worker::run_worker;
use crate::service::pipeline::worker_state::{ProcessState, WorkerState};

/// What the scale-out loop needs from `run_with`.
pub(crate) struct ScaleOutParams {
    pub config: Arc<ServiceConfig>,
    pub client: mongodb::Client,
    pub once: bool,
    pub states: HashMap<LogSource, Arc<WorkerState>>,
    pub process: Arc<ProcessState>,
    pub retrain: watch::Receiver<u64>,
}

/// A worker this process runs.
struct Held {
    lease: Arc<Lease>,
    stop: watch::Sender<bool>,
    /// Asked to stop because this process holds more than its share.
    releasing: bool,
}

struct ScaleOut {
    p: ScaleOutParams,
    me: Member,
    owner: Arc<str>,
    store: StateStore,
    permits: Arc<Semaphore>,
    wakers: Arc<Wakers>,
    held: BTreeMap<LogSource, Held>,
    tasks: JoinSet<WorkerReport>,
    by_task: HashMap<tokio::task::Id, LogSource>,
    reports: BTreeMap<LogSource, WorkerReport>,
    /// `--once`: workers that are done (or given up).
    finished: HashSet<LogSource>,
    stopping: bool,
    rounds: u64,
    started: Instant,
}

/// Runs the scale-out loop until `shutdown` resolves (or, with `once`, until every worker is
/// done); returns one report per configured worker.
pub(crate) async fn run_scale_out(
    p: ScaleOutParams,
    shutdown: impl Future<Output = ()> + Send,
) -> Vec<WorkerReport> {
    let me = Member::this_process(p.once);
    if let Ok(mut g) = p.process.owner.lock() {
        g.clone_from(&me.owner);
    }
    tracing::info!(owner = %me.owner, lease_time = ?p.config.lease_time, "joining the lad fleet");
    let mut f = ScaleOut::new(p, me);
    let (watch_stop, watch_rx) = watch::channel(false);
    let watchers = if f.p.once {
        Vec::new()
    } else {
        spawn_watchers(
            &f.p.config,
            &f.p.client,
            f.wakers.clone(),
            Shutdown::new(watch_rx),
        )
    };
    let interval = f.p.config.lease_time / 3;
    // The first round only announces this process; acquisition starts with the second, a
    // moment later, so processes started together share from the start.
    let settle = if f.p.once {
        Duration::ZERO
    } else {
        interval.min(Duration::from_secs(2))
    };
    let mut next_round = tokio::time::Instant::now();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        if f.stopping && f.tasks.is_empty() {
            break;
        }
        if f.p.once && f.tasks.is_empty() && f.finished.len() >= f.p.config.sources.len() {
            break;
        }
        tokio::select! {
            _ = &mut shutdown, if !f.stopping => {
                tracing::info!("stop requested: finishing batches in flight");
                f.stopping = true;
                for h in f.held.values() {
                    let _ = h.stop.send(true);
                }
            }
            joined = f.tasks.join_next_with_id(), if !f.tasks.is_empty() => {
                if let Some(j) = joined {
                    f.worker_ended(j).await;
                }
            }
            _ = tokio::time::sleep_until(next_round) => {
                // Rounds keep their cadence from their start, however long one takes.
                let began = tokio::time::Instant::now();
                f.round().await;
                let wait = if f.rounds == 1 { settle } else { interval };
                next_round = began + wait;
            }
        }
    }
    let _ = watch_stop.send(true);
    for w in watchers {
        w.abort();
    }
    if let Err(e) = f.store.leave(&f.me).await {
        tracing::debug!("could not remove the process heartbeat: {e}");
    }
    f.reports.into_values().collect()
}

impl ScaleOut {
    /// This process's view before its first round: no workers held, none finished.
    fn new(p: ScaleOutParams, me: Member) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let db = p.client.database(&p.config.db);
        Self {
            owner: me.owner.as_str().into(),
            store: StateStore::new(&db, &p.config.state_collection),
            me,
            permits: Arc::new(Semaphore::new(cpus)),
            wakers: Arc::new(Wakers::default()),
            held: BTreeMap::new(),
            tasks: JoinSet::new(),
            by_task: HashMap::new(),
            reports: p
                .config
                .sources
                .iter()
                .map(|s| {
                    (
                        s.clone(),
                        WorkerReport {
                            source: s.clone(),
                            model_version: None,
                            stats: WorkerStats::default(),
                            failed: None,
                            ran: false,
                        },
                    )
                })
                .collect(),
            finished: HashSet::new(),
            stopping: false,
            rounds: 0,
            started: Instant::now(),
            p,
        }
    }

    fn sources(&self) -> &[LogSource] {
        &self.p.config.sources
    }

    fn state_of(&self, s: &LogSource) -> Arc<WorkerState> {
        self.p
            .states
            .get(s)
            .cloned()
            .unwrap_or_else(|| Arc::new(WorkerState::new(s.clone())))
    }

    /// Heartbeat, renewals, then releases or acquisitions towards the fair share.
    async fn round(&mut self) {
        self.rounds += 1;
        let cfg = self.p.config.clone();
        let offset = match self.store.server_offset().await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!("lease round: MongoDB unavailable ({}); leases are not renewed, workers stop writing {:?} after their last renewal", cfg.mongo.scrub(&e.to_string()), cfg.lease_time * 2 / 3);
                return;
            }
        };
        let now = Utc::now() + offset;
        let active = self.held.values().filter(|h| !h.lease.is_lost()).count();
        if let Err(e) = self
            .store
            .heartbeat(&self.me, now, cfg.lease_time, active)
            .await
        {
            tracing::warn!(
                "lease round: heartbeat failed: {}",
                cfg.mongo.scrub(&e.to_string())
            );
            return;
        }
        self.renew(offset).await;
        if self.stopping || self.rounds == 1 && !self.p.once {
            return;
        }
        let live = if self.p.once {
            1
        } else {
            match self.store.live_members(now).await {
                Ok(n) => n.max(1) as usize,
                Err(e) => {
                    tracing::warn!("lease round: counting processes failed: {e}");
                    return;
                }
            }
        };
        let total = self.sources().len();
        let fair = total.div_ceil(live);
        let mine: Vec<LogSource> = self
            .held
            .iter()
            .filter(|(_, h)| !h.lease.is_lost() && !h.releasing)
            .map(|(s, _)| s.clone())
            .collect();
        if !self.p.once && mine.len() > fair {
            for s in mine.iter().rev().take(mine.len() - fair) {
                if let Some(h) = self.held.get_mut(s) {
                    tracing::info!(source = %s.key(), live, fair, "releasing: this process holds more than its share");
                    h.releasing = true;
                    let _ = h.stop.send(true);
                }
            }
        } else if mine.len() < fair {
            self.acquire(fair - mine.len(), offset).await;
        }
        if self.p.once && self.started.elapsed() > cfg.lease_time * 2 + cfg.lease_time / 3 {
            for s in self.sources().to_vec() {
                if !self.held.contains_key(&s) && self.finished.insert(s.clone()) {
                    tracing::warn!(source = %s.key(), "held by another lad process the whole time; not scored by this --once run");
                }
            }
        }
        self.p.process.started.store(true, Ordering::SeqCst);
    }

    /// Renews every held lease; stops the workers whose lease was taken over.
    ///
    /// The local deadline counts from the moment the renewal is sent, and the new server-side
    /// expiry from the server time at that same moment (`offset` is the server clock's), so
    /// however long the rest of the round took, the server-side expiry stays a third of the
    /// lease time beyond the local deadline.
    async fn renew(&mut self, offset: chrono::Duration) {
        let keys: Vec<String> = self
            .held
            .iter()
            .filter(|(_, h)| !h.lease.is_lost())
            .map(|(s, _)| s.key())
            .collect();
        if keys.is_empty() {
            return;
        }
        let cfg = self.p.config.clone();
        let sent = Instant::now();
        let now = Utc::now() + offset;
        match self
            .store
            .renew(&keys, &self.owner, now, cfg.lease_time)
            .await
        {
            Ok(tokens) => {
                for (s, h) in &self.held {
                    if h.lease.is_lost() {
                        continue;
                    }
                    if tokens.get(&s.key()) == Some(&h.lease.token) {
                        h.lease.renewed(sent);
                    } else {
                        tracing::warn!(source = %s.key(), token = h.lease.token, "lease taken over by another lad process; stopping this worker");
                        h.lease.lose();
                        self.state_of(s).leases_lost.fetch_add(1, Ordering::Relaxed);
                        let _ = h.stop.send(true);
                    }
                }
            }
            Err(e) => tracing::warn!(
                "lease round: renewing {} leases failed: {}",
                keys.len(),
                cfg.mongo.scrub(&e.to_string())
            ),
        }
    }

    /// Acquires up to `want` free leases and starts their workers.
    async fn acquire(&mut self, want: usize, offset: chrono::Duration) {
        let candidates: Vec<LogSource> = self
            .sources()
            .iter()
            .filter(|s| !self.held.contains_key(*s) && !self.finished.contains(*s))
            .cloned()
            .collect();
        if candidates.is_empty() {
            return;
        }
        let keys: Vec<String> = candidates.iter().map(LogSource::key).collect();
        let now = Utc::now() + offset;
        let rows = match self.store.leases(&keys).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("lease round: reading leases failed: {e}");
                return;
            }
        };
        let mut free: Vec<LogSource> = candidates
            .into_iter()
            .filter(|s| rows.get(&s.key()).is_none_or(|r| r.is_free(now)))
            .collect();
        // Each process tries the free workers in its own order, so processes that start
        // together mostly contend for different documents.
        free.sort_by_key(|s| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (&*self.owner, s).hash(&mut h);
            h.finish()
        });
        let lease_time = self.p.config.lease_time;
        let mut got = 0;
        for s in free {
            if got >= want {
                break;
            }
            // As for renewals: local deadline and server expiry from the same moment.
            let sent = Instant::now();
            let now = Utc::now() + offset;
            match self.store.acquire(&s, &self.owner, now, lease_time).await {
                Ok(Some(token)) => {
                    got += 1;
                    let lease = Arc::new(Lease::new(
                        s.key(),
                        self.owner.clone(),
                        token,
                        sent,
                        lease_time,
                    ));
                    tracing::info!(source = %s.key(), token, "lease acquired");
                    self.spawn(s, lease, Duration::ZERO);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(source = %s.key(), "acquiring the lease failed: {e}");
                    break;
                }
            }
        }
    }

    /// Starts the worker of `s` under `lease` after `delay`.
    fn spawn(&mut self, s: LogSource, lease: Arc<Lease>, delay: Duration) {
        let (stop, stop_rx) = watch::channel(self.stopping);
        let wstate = self.state_of(&s);
        wstate.set_token(Some(lease.token));
        if delay.is_zero() {
            wstate.leases_acquired.fetch_add(1, Ordering::Relaxed);
        }
        let ctx = Arc::new(WorkerCtx::new(
            self.p.config.clone(),
            &self.p.client,
            s.clone(),
            lease.clone(),
            self.p.once,
            self.permits.clone(),
            wstate,
        ));
        let retrain = self.p.retrain.clone();
        let inserted = self.wakers.of(&s);
        let mut stopped = Shutdown::new(stop_rx.clone());
        let h = self.tasks.spawn(async move {
            if !delay.is_zero() && stopped.sleep(delay).await {
                return ctx.report(None);
            }
            run_worker(ctx, Shutdown::new(stop_rx), retrain, inserted).await
        });
        self.by_task.insert(h.id(), s.clone());
        self.held.insert(
            s,
            Held {
                lease,
                stop,
                releasing: false,
            },
        );
    }

    /// A worker task ended: record its report, give its lease back (unless lost), or restart
    /// it if it crashed.
    async fn worker_ended(
        &mut self,
        joined: Result<(tokio::task::Id, WorkerReport), tokio::task::JoinError>,
    ) {
        let (id, result) = match joined {
            Ok((id, r)) => (id, Ok(r)),
            Err(e) => (e.id(), Err(e)),
        };
        let Some(s) = self.by_task.remove(&id) else {
            return;
        };
        let Some(h) = self.held.remove(&s) else {
            return;
        };
        match result {
            Ok(report) => {
                self.reports.insert(s.clone(), report);
            }
            Err(e) => {
                tracing::error!(source = %s.key(), "worker crashed ({e}); this is a bug in lad");
                if !self.stopping && !self.p.once && !h.lease.is_lost() && !h.releasing {
                    tracing::info!(source = %s.key(), "restarting the worker from its resume point in 10 s");
                    self.spawn(s, h.lease, Duration::from_secs(10));
                    return;
                }
                if let Some(r) = self.reports.get_mut(&s) {
                    r.failed = Some(e.to_string());
                }
            }
        }
        let wstate = self.state_of(&s);
        wstate.set_token(None);
        wstate.clear_model();
        if self.p.once {
            self.finished.insert(s.clone());
        }
        if !h.lease.is_lost() {
            if let Err(e) = self.store.release(&h.lease).await {
                tracing::debug!(source = %s.key(), "could not release the lease ({e}); it expires after LEASE_TIME");
            } else {
                tracing::debug!(source = %s.key(), "lease released");
            }
        }
    }
}
