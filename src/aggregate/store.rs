//! Every MongoDB command the aggregator sends, and the crash-safe write protocol.
//!
//! Writing one batch takes three phases:
//!
//! 1. **insert** every aggregate with `status: "pending"`, `source_collection` and the
//!    `source_ids` of its anomalies (one `insert` command; `_id`s are generated here);
//! 2. **link**: set `aggregated_message_id` on the source documents that do not have one
//!    yet — one `update` command carrying one multi-document statement per aggregate
//!    (`{_id: {$in: source_ids}}`), up to [`LINK_STATEMENTS_PER_COMMAND`] aggregates per
//!    command, so a batch costs one round trip, not one per document (or per cluster);
//! 3. **complete**: `status: "complete"` and `source_ids` removed (one `update`).
//!
//! A crash (or a lost connection) anywhere leaves pending aggregates behind, never
//! anomalies counted twice: anomalies without a link are read again by the next run, and
//! before every run [`Store::recover`] finishes each pending aggregate (links + complete)
//! when none of its anomalies has meanwhile been linked to another aggregate, and rolls it
//! back (unlinks, deletes) otherwise.

use futures_util::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::options::FindOptions;
use mongodb::{Collection, Database};

use super::batch::{Aggregate, Anomaly};
use super::config::{AggregatorConfig, CollectionPair};
use super::run::CrashPoint;
use crate::source::bson_fields::{get_path, parse_datetime, truncate_message, MAX_MESSAGE_BYTES};

/// Field set on each source document: the `_id` of its aggregate.
pub const LINK_FIELD: &str = "aggregated_message_id";
/// Aggregate field: `"pending"` until the links are written, then `"complete"`.
pub const STATUS_FIELD: &str = "status";
/// [`STATUS_FIELD`] while the links may be missing.
pub const STATUS_PENDING: &str = "pending";
/// [`STATUS_FIELD`] once every source document links to the aggregate.
pub const STATUS_COMPLETE: &str = "complete";
/// Aggregate field (pending only): the `_id`s of the source documents.
pub const SOURCE_IDS_FIELD: &str = "source_ids";
/// Aggregate field: the input collection the anomalies came from.
pub const SOURCE_COLLECTION_FIELD: &str = "source_collection";
/// Aggregates linked per `update` command.
pub const LINK_STATEMENTS_PER_COMMAND: usize = 1_000;
/// Source `_id`s per `update` command (keeps a command far below 16 MiB).
const LINK_IDS_PER_COMMAND: usize = 200_000;

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The driver reported an error (network, server selection, command failure).
    #[error("{0}")]
    Mongo(#[from] mongodb::error::Error),
    /// The server rejected a write or did not acknowledge it.
    #[error("{0}")]
    Write(String),
    /// Test hook: the run stopped after a phase ([`CrashPoint`]).
    #[error("simulated crash after the {0:?} phase")]
    SimulatedCrash(CrashPoint),
}

/// Anomalies read for one run.
#[derive(Debug, Default)]
pub struct ReadBatch {
    /// `_id`s, same order as `anomalies`.
    pub ids: Vec<Bson>,
    /// The anomalies, sorted by time.
    pub anomalies: Vec<Anomaly>,
    /// Documents skipped: message missing or not a string, datetime unusable.
    pub skipped: u64,
}

/// What recovery did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Pending aggregates completed.
    pub finished: u64,
    /// Pending aggregates deleted (and their links removed).
    pub rolled_back: u64,
}

/// The two collections of one [`CollectionPair`].
pub struct Store {
    input_db: Database,
    input: Collection<Document>,
    target: Collection<Document>,
    pair: CollectionPair,
    message_field: String,
    datetime_field: String,
    hostname_field: String,
}

fn count(reply: &Document, key: &str) -> u64 {
    match reply.get(key) {
        Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Bson::Double(n)) if *n >= 0.0 => *n as u64,
        _ => 0,
    }
}

fn check_write_reply(reply: &Document) -> Result<(), StoreError> {
    if let Ok(wce) = reply.get_document("writeConcernError") {
        return Err(StoreError::Write(format!(
            "write concern error: {}",
            wce.get_str("errmsg").unwrap_or("unknown")
        )));
    }
    if let Ok(errs) = reply.get_array("writeErrors") {
        if let Some(Bson::Document(d)) = errs.first() {
            return Err(StoreError::Write(format!(
                "{} update statement(s) rejected, first: {}",
                errs.len(),
                d.get_str("errmsg").unwrap_or("?")
            )));
        }
    }
    Ok(())
}

impl Store {
    /// Handles for `pair`.
    pub fn new(client: &mongodb::Client, config: &AggregatorConfig, pair: &CollectionPair) -> Self {
        let input_db = client.database(&config.input_db);
        Self {
            input: input_db.collection(&pair.input),
            target: client.database(&config.target_db).collection(&pair.target),
            input_db,
            pair: pair.clone(),
            message_field: config.message_field.clone(),
            datetime_field: config.datetime_field.clone(),
            hostname_field: config.hostname_field.clone(),
        }
    }

    /// The target collection (tests, reports).
    pub fn target(&self) -> &Collection<Document> {
        &self.target
    }

    /// Anomalies (`is_anomaly: 1`) with a datetime at or after `since` and no
    /// `aggregated_message_id`, oldest first, at most `limit`. BSON dates are filtered by
    /// the server; RFC 3339 strings (which service mode also accepts) are pre-filtered with
    /// a one-day margin and checked here.
    pub async fn read(&self, since: DateTime, limit: u64) -> Result<ReadBatch, StoreError> {
        let dtf = self.datetime_field.as_str();
        let day_before = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(
            since.timestamp_millis().saturating_sub(86_400_000),
        )
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
        let filter = doc! {
            "is_anomaly": { "$in": [1, true] },
            LINK_FIELD: { "$exists": false },
            "$or": [ { dtf: { "$gte": since } }, { dtf: { "$gte": day_before } } ],
        };
        let opts = FindOptions::builder()
            .sort(doc! { dtf: 1, "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .batch_size(10_000)
            .projection(doc! {
                &self.message_field: 1,
                dtf: 1,
                &self.hostname_field: 1,
                "anomaly_score": 1,
            })
            .build();
        let mut cursor = self.input.find(filter).with_options(opts).await?;
        let mut rows: Vec<(Bson, Anomaly)> = Vec::new();
        let mut skipped = 0;
        let since_ms = since.timestamp_millis();
        while let Some(d) = cursor.try_next().await? {
            let Some(id) = d.get("_id").cloned() else {
                continue;
            };
            let Ok(dt) = parse_datetime(get_path(&d, dtf)) else {
                skipped += 1;
                continue;
            };
            let datetime_ms = dt.timestamp_millis();
            if datetime_ms < since_ms {
                continue; // a string date inside the one-day margin
            }
            let message = match get_path(&d, &self.message_field) {
                Some(Bson::String(s)) => truncate_message(s.clone(), MAX_MESSAGE_BYTES).0,
                _ => {
                    skipped += 1;
                    continue;
                }
            };
            let hostname = match get_path(&d, &self.hostname_field) {
                Some(Bson::String(s)) => Some(s.clone()),
                Some(Bson::Int32(n)) => Some(n.to_string()),
                Some(Bson::Int64(n)) => Some(n.to_string()),
                _ => None,
            };
            let score = match d.get("anomaly_score") {
                Some(Bson::Double(x)) if x.is_finite() => Some(*x),
                Some(Bson::Int32(x)) => Some(f64::from(*x)),
                Some(Bson::Int64(x)) => Some(*x as f64),
                _ => None,
            };
            rows.push((
                id,
                Anomaly {
                    message,
                    datetime_ms,
                    hostname,
                    score,
                },
            ));
        }
        // Dates and strings come back as two sorted runs; one stable sort merges them.
        rows.sort_by_key(|(_, a)| a.datetime_ms);
        let (ids, anomalies) = rows.into_iter().unzip();
        Ok(ReadBatch {
            ids,
            anomalies,
            skipped,
        })
    }

    /// The pending document for `agg` (phase 1).
    pub fn pending_doc(
        &self,
        id: ObjectId,
        agg: &Aggregate,
        ids: &[Bson],
        now: DateTime,
    ) -> Document {
        let source_ids: Vec<Bson> = agg.members.iter().map(|&m| ids[m].clone()).collect();
        doc! {
            "_id": id,
            "message": &agg.message,
            "total_logs": i64::try_from(agg.total_logs()).unwrap_or(i64::MAX),
            "average_datetime": DateTime::from_millis(agg.average_datetime_ms),
            "average_anomaly_score": agg.average_anomaly_score.map_or(Bson::Null, Bson::Double),
            "most_frequent_hostname": agg.most_frequent_hostname.clone().map_or(Bson::Null, Bson::String),
            "was_added_at": now,
            STATUS_FIELD: STATUS_PENDING,
            SOURCE_COLLECTION_FIELD: &self.pair.input,
            SOURCE_IDS_FIELD: source_ids,
        }
    }

    /// Phase 1: inserts the pending aggregates.
    pub async fn insert_pending(&self, docs: Vec<Document>) -> Result<(), StoreError> {
        if !docs.is_empty() {
            self.target.insert_many(docs).await?;
        }
        Ok(())
    }

    /// Phase 2: links each aggregate's source documents to it (those not linked yet), with
    /// as few `update` commands as possible. Returns the documents linked.
    pub async fn link(&self, links: &[(ObjectId, Vec<Bson>)]) -> Result<u64, StoreError> {
        let mut linked = 0;
        let mut i = 0;
        while i < links.len() {
            let mut stmts = Vec::new();
            let mut ids = 0;
            while i < links.len()
                && stmts.len() < LINK_STATEMENTS_PER_COMMAND
                && (stmts.is_empty() || ids + links[i].1.len() <= LINK_IDS_PER_COMMAND)
            {
                let (agg, members) = &links[i];
                ids += members.len();
                stmts.push(doc! {
                    "q": { "_id": { "$in": members.clone() }, LINK_FIELD: { "$exists": false } },
                    "u": { "$set": { LINK_FIELD: *agg } },
                    "multi": true,
                });
                i += 1;
            }
            let reply = self
                .input_db
                .run_command(doc! { "update": &self.pair.input, "updates": stmts, "ordered": true })
                .await?;
            check_write_reply(&reply)?;
            linked += count(&reply, "nModified");
        }
        Ok(linked)
    }

    /// Phase 3: marks aggregates complete and drops their `source_ids`.
    pub async fn complete(&self, ids: &[ObjectId]) -> Result<(), StoreError> {
        for chunk in ids.chunks(10_000) {
            self.target
                .update_many(
                    doc! { "_id": { "$in": chunk.to_vec() }, STATUS_FIELD: STATUS_PENDING },
                    doc! {
                        "$set": { STATUS_FIELD: STATUS_COMPLETE },
                        "$unset": { SOURCE_IDS_FIELD: "" },
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Finishes or rolls back the pending aggregates of this input collection (see the
    /// module docs).
    pub async fn recover(&self) -> Result<Recovered, StoreError> {
        let mut out = Recovered::default();
        let pending: Vec<Document> = self
            .target
            .find(doc! { STATUS_FIELD: STATUS_PENDING, SOURCE_COLLECTION_FIELD: &self.pair.input })
            .projection(doc! { "_id": 1, SOURCE_IDS_FIELD: 1 })
            .await?
            .try_collect()
            .await?;
        for p in pending {
            let Some(Bson::ObjectId(agg)) = p.get("_id").cloned() else {
                continue;
            };
            let members = match p.get(SOURCE_IDS_FIELD) {
                Some(Bson::Array(a)) => Some(a.clone()),
                _ => None,
            };
            let conflicts = match &members {
                Some(m) => {
                    self.input
                        .count_documents(doc! {
                            "_id": { "$in": m.clone() },
                            LINK_FIELD: { "$exists": true, "$ne": agg },
                        })
                        .await?
                }
                None => 1,
            };
            if let (0, Some(m)) = (conflicts, members) {
                let n = self.link(&[(agg, m)]).await?;
                self.complete(&[agg]).await?;
                tracing::info!(aggregate = %agg, collection = %self.pair.target, linked = n, "finished a pending aggregate left by an interrupted run");
                out.finished += 1;
            } else {
                let unlink = match p.get(SOURCE_IDS_FIELD) {
                    Some(Bson::Array(a)) => doc! { "_id": { "$in": a.clone() }, LINK_FIELD: agg },
                    _ => doc! { LINK_FIELD: agg },
                };
                self.input
                    .update_many(unlink, doc! { "$unset": { LINK_FIELD: "" } })
                    .await?;
                self.target.delete_one(doc! { "_id": agg }).await?;
                tracing::warn!(aggregate = %agg, collection = %self.pair.target, "rolled back a pending aggregate left by an interrupted run: some of its anomalies were aggregated elsewhere meanwhile");
                out.rolled_back += 1;
            }
        }
        Ok(out)
    }
}
