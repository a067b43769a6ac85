//! `lad status --config FILE [--json]`: who owns which worker, where each one stands, and
//! which `lad run` processes are alive, read from the state collection (nothing else is
//! needed: the leases live there).

use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document};
use serde::Serialize;

use crate::config::ServiceConfig;
use crate::service::coordination::state::{StateStore, PROCESS_PREFIX};
use crate::service::error::StoreError;

/// One worker as the state collection records it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    pub source: String,
    /// Process holding the lease now (`None`: free, expired or never taken).
    pub owner: Option<String>,
    /// Seconds until the lease expires (negative: expired), in the server's clock.
    pub lease_expires_in: Option<f64>,
    /// Fencing token of the current or last owner.
    pub token: i64,
    /// Resume point.
    pub last_datetime: Option<DateTime<Utc>>,
    pub model_version: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Documents scored by all processes, ever.
    pub scored: i64,
    pub swept_late: i64,
    pub swept_id_tie: i64,
    pub swept_retry: i64,
    pub scoring_failures: i64,
}

/// One `lad run` process.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessStatus {
    pub owner: String,
    pub host: String,
    pub pid: i64,
    pub once: bool,
    pub alive: bool,
    /// Workers it held at its last heartbeat.
    pub owned: i64,
    pub started_at: Option<DateTime<Utc>>,
}

/// Everything `lad status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Server time the status was read at.
    pub now: DateTime<Utc>,
    pub workers: Vec<WorkerStatus>,
    pub processes: Vec<ProcessStatus>,
}

fn date(d: &Document, k: &str) -> Option<DateTime<Utc>> {
    match d.get(k) {
        Some(Bson::DateTime(t)) => DateTime::<Utc>::from_timestamp_millis(t.timestamp_millis()),
        _ => None,
    }
}

fn int(d: Option<&Bson>) -> i64 {
    match d {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(x)) => *x as i64,
        _ => 0,
    }
}

fn stat(d: &Document, path: &[&str]) -> i64 {
    let mut cur = d.get("stats");
    for p in path {
        cur = match cur {
            Some(Bson::Document(x)) => x.get(*p),
            _ => None,
        };
    }
    int(cur)
}

/// Reads the status of every configured worker and every process.
pub async fn read_status(
    cfg: &ServiceConfig,
    client: &mongodb::Client,
) -> Result<Status, StoreError> {
    let store = StateStore::new(&client.database(&cfg.db), &cfg.state_collection);
    let now = Utc::now() + store.server_offset().await?;
    let docs = store.all().await?;
    let by_id: std::collections::HashMap<&str, &Document> = docs
        .iter()
        .filter_map(|d| d.get_str("_id").ok().map(|id| (id, d)))
        .collect();
    let workers = cfg
        .sources
        .iter()
        .map(|s| {
            let key = s.key();
            let d = by_id.get(key.as_str());
            let expires = d.and_then(|d| date(d, "lease_expires"));
            let owner = d
                .and_then(|d| d.get_str("lease_owner").ok())
                .filter(|_| expires.is_some_and(|e| e > now))
                .map(str::to_string);
            let get = |p: &[&str]| d.map_or(0, |d| stat(d, p));
            WorkerStatus {
                source: key.clone(),
                owner,
                lease_expires_in: expires.map(|e| (e - now).num_milliseconds() as f64 / 1000.0),
                token: d.map_or(0, |d| int(d.get("lease_token"))),
                last_datetime: d.and_then(|d| date(d, "last_datetime")),
                model_version: d
                    .and_then(|d| d.get_str("model_version").ok())
                    .map(str::to_string),
                updated_at: d.and_then(|d| date(d, "updated_at")),
                scored: get(&["scored"]),
                swept_late: get(&["swept", "late"]),
                swept_id_tie: get(&["swept", "id_tie"]),
                swept_retry: get(&["swept", "retry"]),
                scoring_failures: get(&["scoring_failures"]),
            }
        })
        .collect();
    let processes = docs
        .iter()
        .filter(|d| {
            d.get_str("_id")
                .is_ok_and(|id| id.starts_with(PROCESS_PREFIX))
        })
        .map(|d| ProcessStatus {
            owner: d.get_str("owner").unwrap_or("?").to_string(),
            host: d.get_str("host").unwrap_or("?").to_string(),
            pid: int(d.get("pid")),
            once: d.get_bool("once").unwrap_or(false),
            alive: date(d, "expires").is_some_and(|e| e > now),
            owned: int(d.get("owned")),
            started_at: date(d, "started_at"),
        })
        .collect();
    Ok(Status {
        now,
        workers,
        processes,
    })
}

impl Status {
    /// The human-readable table `lad status` prints.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<32} {:<36} {:>9} {:>6} {:<24} {:>9} {:>12}\n",
            "WORKER", "OWNER", "LEASE", "TOKEN", "RESUME POINT", "SCORED", "LATE/TIE/RTY"
        );
        for w in &self.workers {
            let lease = match (&w.owner, w.lease_expires_in) {
                (Some(_), Some(s)) => format!("{s:.0}s left"),
                (None, Some(_)) => "free".into(),
                _ => "never".into(),
            };
            out.push_str(&format!(
                "{:<32} {:<36} {:>9} {:>6} {:<24} {:>9} {:>12}\n",
                w.source,
                w.owner.as_deref().unwrap_or("-"),
                lease,
                w.token,
                w.last_datetime
                    .map_or("-".into(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                w.scored,
                format!("{}/{}/{}", w.swept_late, w.swept_id_tie, w.swept_retry),
            ));
        }
        out.push('\n');
        out.push_str(&format!(
            "{:<36} {:<8} {:>6} {:>6}\n",
            "PROCESS", "STATE", "OWNS", "PID"
        ));
        for p in &self.processes {
            let state = match (p.alive, p.once) {
                (true, true) => "once",
                (true, false) => "alive",
                (false, _) => "gone",
            };
            out.push_str(&format!(
                "{:<36} {:<8} {:>6} {:>6}\n",
                p.owner, state, p.owned, p.pid
            ));
        }
        out
    }
}

/// `lad status --config FILE [--json]`.
pub async fn status_cli(config_path: &Path, json: bool) -> anyhow::Result<()> {
    let config = crate::config::load(config_path)
        .with_context(|| format!("invalid configuration in {}", config_path.display()))?;
    let client = config.mongo.connect().await?;
    let status = read_status(&config, &client).await.map_err(|e| {
        anyhow::anyhow!(
            "reading {}.{}: {}",
            config.db,
            config.state_collection,
            config.mongo.scrub(&e.to_string())
        )
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", status.table());
    }
    Ok(())
}
