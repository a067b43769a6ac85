//! Change streams wake idle workers: **one stream per collection**, filtered to the
//! configured hosts on the server and dispatched to the host's worker here, instead of one
//! stream per host. A stream holds a connection while it waits, so per-host streams needed
//! as many connections as hosts; per collection, a fleet of 200 hosts in three collections
//! holds three. Streams never decide what is scored (the polling query does), so a missed
//! or repeated event costs at most one poll interval.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use mongodb::bson::Document;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::{LogSource, ServiceConfig};
use crate::mongo::connection::DEFAULT_MAX_POOL_SIZE;
use crate::service::backoff::{Backoff, Shutdown};
use crate::source::mongo::watch_inserts;

/// The wake-up of every configured worker, by `(collection, hostname)`.
#[derive(Debug, Default)]
pub(crate) struct Wakers(RwLock<HashMap<(String, String), Arc<Notify>>>);

impl Wakers {
    /// The wake-up of `source` (created on first use).
    pub(crate) fn of(&self, source: &LogSource) -> Arc<Notify> {
        let key = (source.collection.clone(), source.hostname.clone());
        if let Ok(g) = self.0.read() {
            if let Some(n) = g.get(&key) {
                return n.clone();
            }
        }
        let mut g = match self.0.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.entry(key).or_default().clone()
    }

    fn wake(&self, collection: &str, hostname: &str) {
        if let Ok(g) = self.0.read() {
            if let Some(n) = g.get(&(collection.to_string(), hostname.to_string())) {
                n.notify_one();
            }
        }
    }
}

/// How many change streams a process opens: at most half the connection pool, so queries
/// always have connections left.
pub(crate) fn stream_budget(cfg: &ServiceConfig) -> usize {
    let pool = cfg.mongo.max_pool_size.unwrap_or(DEFAULT_MAX_POOL_SIZE) as usize;
    (pool / 2).max(1)
}

/// Starts one watcher per collection of `cfg` (within [`stream_budget`]); each restarts its
/// stream with backoff after an error and ends when `stop` is set.
pub(crate) fn spawn_watchers(
    cfg: &ServiceConfig,
    client: &mongodb::Client,
    wakers: Arc<Wakers>,
    stop: Shutdown,
) -> Vec<JoinHandle<()>> {
    let mut hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &cfg.sources {
        hosts
            .entry(s.collection.clone())
            .or_default()
            .push(s.hostname.clone());
    }
    let budget = stream_budget(cfg);
    if hosts.len() > budget {
        tracing::warn!(
            collections = hosts.len(),
            streams = budget,
            "more collections than change streams fit in half of MG_MAX_POOL_SIZE; the rest are polled every POLL_INTERVAL"
        );
    }
    let db = client.database(&cfg.db);
    hosts
        .into_iter()
        .take(budget)
        .map(|(collection, hosts)| {
            let logs = db.collection::<Document>(&collection);
            let field = cfg.hostname_field_of(&collection).to_string();
            let poll = cfg.poll_interval;
            let wakers = wakers.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let mut backoff = Backoff::default();
                let mut told = false;
                while !stop.is_set() {
                    let opened = std::time::Instant::now();
                    let run = watch_inserts(&logs, &field, &hosts, |h| wakers.wake(&collection, h));
                    let result = tokio::select! {
                        r = run => r,
                        _ = stop.wait() => break,
                    };
                    match result {
                        Ok(()) => tracing::debug!(%collection, "change stream ended; reopening"),
                        Err(e) if !told => {
                            told = true;
                            tracing::info!(%collection, "no change stream ({e}); polling every {poll:?} and retrying the stream with backoff");
                        }
                        Err(e) => tracing::debug!(%collection, "change stream failed again: {e}"),
                    }
                    if opened.elapsed() > std::time::Duration::from_secs(60) {
                        backoff.reset(); // it worked for a while: a fresh failure
                    }
                    if stop.sleep(backoff.next_delay()).await {
                        break;
                    }
                }
            })
        })
        .collect()
}
