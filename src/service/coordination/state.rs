//! The state collection (`STATE_COLLECTION`) as a store: one document per worker —
//! `_id: "<collection>/<hostname>"`, resume point, model version, counters, lease — and one
//! heartbeat document per running `lad run` process (`_id: "$process/<owner>"`; collection
//! names cannot contain `$`, so the two kinds never collide).
//!
//! Leases are plain fields of the worker document: `lease_owner` (a process instance id),
//! `lease_expires` (a date in the *server's* clock, see [`StateStore::server_now`]) and
//! `lease_token`, a counter incremented by every acquisition. Acquiring is one atomic
//! `findAndModify` with upsert whose filter only matches a free or expired lease, so two
//! processes can never both win; every later write of the owner to this document (resume
//! point, counters) is filtered on its owner id **and** token, so a process that lost the
//! lease cannot move the resume point any more: the server is the judge, not the clock of the
//! process.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::{ReturnDocument, WriteConcern};
use mongodb::{Collection, Database};

use crate::config::LogSource;
use crate::service::coordination::lease::Lease;
use crate::service::error::StoreError;
use crate::source::mongo::{bson_dt, Resume};

/// `_id` prefix of process heartbeat documents.
pub const PROCESS_PREFIX: &str = "$process/";

/// One worker's lease as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseRow {
    /// Current owner, if any.
    pub owner: Option<String>,
    /// When it expires (server clock).
    pub expires: Option<DateTime<Utc>>,
    /// Fencing token of the current (or last) owner.
    pub token: i64,
}

impl LeaseRow {
    /// Whether another process may take it at server time `now`.
    pub fn is_free(&self, now: DateTime<Utc>) -> bool {
        self.owner.is_none() || self.expires.is_none_or(|e| e < now)
    }
}

/// Who a process is, as written into its heartbeat document.
#[derive(Debug, Clone)]
pub struct Member {
    /// Unique per process instance: `<hostname>:<pid>:<random>`.
    pub owner: String,
    /// Machine name.
    pub host: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    /// A `--once` run: takes only free leases and does not count towards the fair share.
    pub once: bool,
}

impl Member {
    /// This process.
    pub fn this_process(once: bool) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::env::var("HOSTNAME"))
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let pid = std::process::id();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let salt = (u64::from(nanos) ^ (u64::from(pid) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self {
            owner: format!("{host}:{pid}:{:08x}", salt >> 32),
            host,
            pid,
            started_at: Utc::now(),
            once,
        }
    }
}

fn ms(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn date(b: Option<&Bson>) -> Option<DateTime<Utc>> {
    match b {
        Some(Bson::DateTime(d)) => DateTime::<Utc>::from_timestamp_millis(d.timestamp_millis()),
        _ => None,
    }
}

fn int(b: Option<&Bson>) -> i64 {
    match b {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(x)) => *x as i64,
        _ => 0,
    }
}

/// The state collection of one service.
#[derive(Debug, Clone)]
pub struct StateStore {
    db: Database,
    state: Collection<Document>,
}

impl StateStore {
    /// `db.<STATE_COLLECTION>`.
    pub fn new(db: &Database, collection: &str) -> Self {
        Self {
            db: db.clone(),
            state: db.collection(collection),
        }
    }

    /// The saved resume point of `key`, if any.
    pub async fn load_resume(&self, key: &str) -> Result<Option<Resume>, StoreError> {
        let Some(d) = self.state.find_one(doc! { "_id": key }).await? else {
            return Ok(None);
        };
        Ok(match d.get("last_datetime") {
            Some(Bson::DateTime(dt)) => Some(Resume {
                dt: *dt,
                id: d
                    .get("last_id")
                    .filter(|b| !matches!(b, Bson::Null))
                    .cloned(),
            }),
            _ => None,
        })
    }

    /// Saves the resume point, model version and counter increments of the lease's worker,
    /// **fenced**: only while `lease` is still the one on record. Journaled: once
    /// acknowledged, the batch written before it is durable too (the journal is sequential),
    /// so a server crash cannot take back a saved resume point.
    pub async fn save(
        &self,
        lease: &Lease,
        source: &LogSource,
        resume: &Resume,
        version: &str,
        inc: Document,
    ) -> Result<(), StoreError> {
        let set = doc! {
            "collection": &source.collection,
            "hostname": &source.hostname,
            "last_datetime": resume.dt,
            "last_id": resume.id.clone().unwrap_or(Bson::Null),
            "model_version": version,
            "updated_at": bson_dt(Utc::now()),
        };
        let mut update = doc! { "$set": set };
        if !inc.is_empty() {
            update.insert("$inc", inc);
        }
        let r = self
            .state
            .update_one(
                doc! { "_id": &lease.key, "lease_owner": &*lease.owner, "lease_token": lease.token },
                update,
            )
            .write_concern(WriteConcern::builder().journal(true).build())
            .await?;
        if r.matched_count == 0 {
            lease.lose();
            return Err(StoreError::LeaseLost {
                key: lease.key.clone(),
            });
        }
        Ok(())
    }

    /// The server's clock (`hello.localTime`), corrected by half the round trip, as an
    /// offset to add to this machine's clock. Lease expiry times are all in server time, so
    /// processes on machines whose clocks disagree still agree on who holds a lease.
    pub async fn server_offset(&self) -> Result<chrono::Duration, StoreError> {
        let t0 = Utc::now();
        let hello = self
            .db
            .client()
            .database("admin")
            .run_command(doc! { "hello": 1 })
            .await?;
        let t1 = Utc::now();
        Ok(match date(hello.get("localTime")) {
            Some(server) => server - (t0 + (t1 - t0) / 2),
            None => chrono::Duration::zero(),
        })
    }

    /// Upserts this process's heartbeat document.
    pub async fn heartbeat(
        &self,
        me: &Member,
        now: DateTime<Utc>,
        lease_time: std::time::Duration,
        owned: usize,
    ) -> Result<(), StoreError> {
        self.state
            .update_one(
                doc! { "_id": format!("{PROCESS_PREFIX}{}", me.owner) },
                doc! { "$set": {
                    "kind": "process",
                    "owner": &me.owner,
                    "host": &me.host,
                    "pid": i64::from(me.pid),
                    "once": me.once,
                    "started_at": bson_dt(me.started_at),
                    "expires": bson_dt(now + ms(lease_time)),
                    "owned": owned as i64,
                    "version": env!("CARGO_PKG_VERSION"),
                } },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Running `lad run` processes (not `--once` runs) whose heartbeat is current at `now`.
    pub async fn live_members(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(self
            .state
            .count_documents(doc! {
                "kind": "process",
                "once": { "$ne": true },
                "expires": { "$gt": bson_dt(now) },
            })
            .await?)
    }

    /// Removes this process's heartbeat (clean shutdown).
    pub async fn leave(&self, me: &Member) -> Result<(), StoreError> {
        self.state
            .delete_one(doc! { "_id": format!("{PROCESS_PREFIX}{}", me.owner) })
            .await?;
        Ok(())
    }

    /// The stored leases of `keys` (keys without a document are absent: free).
    pub async fn leases(&self, keys: &[String]) -> Result<HashMap<String, LeaseRow>, StoreError> {
        let mut cursor = self
            .state
            .find(doc! { "_id": { "$in": keys } })
            .projection(doc! { "lease_owner": 1, "lease_expires": 1, "lease_token": 1 })
            .await?;
        let mut out = HashMap::new();
        while let Some(d) = cursor.try_next().await? {
            if let Ok(id) = d.get_str("_id") {
                out.insert(
                    id.to_string(),
                    LeaseRow {
                        owner: d.get_str("lease_owner").ok().map(str::to_string),
                        expires: date(d.get("lease_expires")),
                        token: int(d.get("lease_token")),
                    },
                );
            }
        }
        Ok(out)
    }

    /// Takes the lease of `source` if it is free or expired at server time `now`; the new
    /// fencing token, or `None` when another process holds it.
    pub async fn acquire(
        &self,
        source: &LogSource,
        owner: &str,
        now: DateTime<Utc>,
        lease_time: std::time::Duration,
    ) -> Result<Option<i64>, StoreError> {
        let filter = doc! {
            "_id": source.key(),
            "$or": [
                { "lease_owner": Bson::Null },
                { "lease_expires": { "$lt": bson_dt(now) } },
            ],
        };
        let update = doc! {
            "$set": {
                "collection": &source.collection,
                "hostname": &source.hostname,
                "lease_owner": owner,
                "lease_expires": bson_dt(now + ms(lease_time)),
                "lease_acquired_at": bson_dt(now),
            },
            "$inc": { "lease_token": 1_i64 },
        };
        match self
            .state
            .find_one_and_update(filter, update)
            .upsert(true)
            .return_document(ReturnDocument::After)
            .projection(doc! { "lease_token": 1 })
            .await
        {
            Ok(Some(d)) => Ok(Some(int(d.get("lease_token")))),
            Ok(None) => Ok(None),
            // The document exists and is held: the upsert's insert hits the `_id`.
            Err(e) if is_duplicate_key(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Extends every lease of `keys` still held by `owner`; returns the token of each one
    /// that is (two commands, whatever the number of leases).
    pub async fn renew(
        &self,
        keys: &[String],
        owner: &str,
        now: DateTime<Utc>,
        lease_time: std::time::Duration,
    ) -> Result<HashMap<String, i64>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mine = doc! { "_id": { "$in": keys }, "lease_owner": owner };
        self.state
            .update_many(
                mine.clone(),
                doc! { "$set": { "lease_expires": bson_dt(now + ms(lease_time)) } },
            )
            .await?;
        let mut cursor = self
            .state
            .find(mine)
            .projection(doc! { "lease_token": 1 })
            .await?;
        let mut out = HashMap::new();
        while let Some(d) = cursor.try_next().await? {
            if let Ok(id) = d.get_str("_id") {
                out.insert(id.to_string(), int(d.get("lease_token")));
            }
        }
        Ok(out)
    }

    /// Gives a lease back (the worker stopped cleanly), so another process can take it at
    /// once instead of after `LEASE_TIME`.
    pub async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.state
            .update_one(
                doc! { "_id": &lease.key, "lease_owner": &*lease.owner, "lease_token": lease.token },
                doc! { "$set": {
                    "lease_owner": Bson::Null,
                    "lease_expires": bson_dt(DateTime::<Utc>::UNIX_EPOCH),
                    "lease_last_owner": &*lease.owner,
                } },
            )
            .await?;
        Ok(())
    }

    /// Every document of the state collection (for `lad status`).
    pub async fn all(&self) -> Result<Vec<Document>, StoreError> {
        Ok(self
            .state
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?)
    }
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    match &*e.kind {
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => w.code == 11000,
        _ => e.to_string().contains("E11000"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_is_free_when_unowned_or_expired() {
        let now = Utc::now();
        let row = |owner: Option<&str>, secs: i64| LeaseRow {
            owner: owner.map(str::to_string),
            expires: Some(now + chrono::Duration::seconds(secs)),
            token: 3,
        };
        assert!(row(None, 10).is_free(now));
        assert!(row(Some("a"), -1).is_free(now));
        assert!(!row(Some("a"), 10).is_free(now));
        assert!(LeaseRow::default().is_free(now));
    }

    #[test]
    fn members_are_unique_per_process_instance() {
        let a = Member::this_process(false);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = Member::this_process(false);
        assert_eq!(a.pid, b.pid);
        assert_ne!(a.owner, b.owner);
        assert!(a.owner.contains(&format!(":{}:", a.pid)), "{}", a.owner);
    }
}
