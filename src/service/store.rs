//! Every MongoDB operation a worker performs, each a single command, so the cost per batch
//! is visible here: one `find` (first batch = whole batch), one `update` with one statement
//! per document (`ordered: false`), one upsert of the worker's state document.
//!
//! The `update` command is used instead of `Client::bulk_write` because it is one round
//! trip on every MongoDB version (bulkWrite needs 8.0) and does exactly the same job here.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::{IndexOptions, WriteConcern};
use mongodb::{Collection, Database, IndexModel};

use super::doc::{truncate_message, MAX_MESSAGE_BYTES};
use crate::config::{LogSource, ServiceConfig};

/// A database failure; workers retry these with backoff.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The driver reported an error (network, server selection, command failure).
    #[error("{0}")]
    Mongo(#[from] mongodb::error::Error),
    /// The write was applied but not acknowledged by the requested write concern.
    #[error("write concern error: {0}")]
    WriteConcern(String),
}

impl StoreError {
    /// Authentication / authorization failures will not fix themselves by retrying quickly.
    pub fn is_auth(&self) -> bool {
        match self {
            Self::Mongo(e) => is_auth_error(e),
            Self::WriteConcern(_) => false,
        }
    }
}

/// Authentication failed or the user lacks a privilege.
pub fn is_auth_error(e: &mongodb::error::Error) -> bool {
    match &*e.kind {
        ErrorKind::Authentication { .. } => true,
        ErrorKind::Command(c) => matches!(c.code, 13 | 18),
        _ => false,
    }
}

/// Where a worker continues: the last scored document with a BSON-date timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    /// Its timestamp.
    pub dt: mongodb::bson::DateTime,
    /// Its `_id`; `None` for the initial point (start of the training window), which is
    /// inclusive.
    pub id: Option<Bson>,
}

/// One update statement of the `update` command.
#[derive(Debug, Clone)]
pub struct UpdateStmt {
    /// `_id` of the document.
    pub id: Bson,
    /// `$set` contents.
    pub set: Document,
}

/// Outcome of one `update` command.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriteOutcome {
    /// Documents matched (`n`).
    pub matched: u64,
    /// Statements the server rejected (logged; the documents are not retried).
    pub write_errors: u64,
}

/// The collections of one worker.
pub struct Store {
    db: Database,
    logs: Collection<Document>,
    state: Collection<Document>,
    source: LogSource,
    message_field: String,
    datetime_field: String,
    hostname_field: String,
}

pub(crate) fn bson_dt(t: DateTime<Utc>) -> mongodb::bson::DateTime {
    mongodb::bson::DateTime::from_millis(t.timestamp_millis())
}

impl Store {
    /// Handles for `source` in `config.db`.
    pub fn new(client: &mongodb::Client, config: &ServiceConfig, source: &LogSource) -> Self {
        let db = client.database(&config.db);
        Self {
            logs: db.collection(&source.collection),
            state: db.collection(&config.state_collection),
            db,
            source: source.clone(),
            message_field: config.message_field.clone(),
            datetime_field: config.datetime_field.clone(),
            hostname_field: config.hostname_field.clone(),
        }
    }

    /// Creates the `(hostname, datetime, _id)` index the training query and the follow
    /// query both use. `_id` is in the key so the follow query's sort `(datetime, _id)`
    /// streams from the index. An existing index with the same keys under another name is
    /// fine.
    /// Wakes `notify` on every insert of a document of this host, through a change stream.
    ///
    /// Change streams only shorten the wait: the polling query stays the one source of what
    /// gets scored, so a missed or duplicated event cannot lose or double-score a document.
    /// Returns when the server does not offer change streams (a standalone `mongod`) or the
    /// stream fails; the caller then simply keeps polling.
    pub async fn watch_inserts(&self, notify: &tokio::sync::Notify) -> Result<(), StoreError> {
        use futures_util::StreamExt;
        let pipeline = [doc! { "$match": {
            "operationType": "insert",
            format!("fullDocument.{}", self.hostname_field): &self.source.hostname,
        } }];
        let mut stream = self.logs.watch().pipeline(pipeline).await?;
        while let Some(event) = stream.next().await {
            event?;
            notify.notify_one();
        }
        Ok(())
    }

    pub async fn ensure_index(&self) -> Result<(), StoreError> {
        let keys = doc! { &self.hostname_field: 1, &self.datetime_field: 1, "_id": 1 };
        let name = format!("lad_{}_{}", self.hostname_field, self.datetime_field);
        let model = IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().name(name).build())
            .build();
        match self.logs.create_index(model).await {
            Ok(_) => Ok(()),
            Err(e) if matches!(&*e.kind, ErrorKind::Command(c) if matches!(c.code, 85 | 86)) => {
                tracing::debug!(source = %self.source.key(), "index exists under another name: {e}");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Messages for training: the newest `max` string messages of the host with a
    /// timestamp in `[start, end)`, newest first, each cut to [`MAX_MESSAGE_BYTES`].
    pub async fn training_messages(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        max: u64,
    ) -> Result<Vec<String>, StoreError> {
        let filter = doc! {
            &self.hostname_field: &self.source.hostname,
            &self.datetime_field: { "$gte": bson_dt(start), "$lt": bson_dt(end) },
        };
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut cursor = self
            .logs
            .find(filter)
            .sort(doc! { &self.datetime_field: -1 })
            .limit(limit)
            .batch_size(u32::try_from(max.min(10_000)).unwrap_or(10_000))
            .projection(doc! { &self.message_field: 1, "_id": 0 })
            .await?;
        let mut out = Vec::new();
        while let Some(d) = cursor.try_next().await? {
            if let Some(Bson::String(s)) = super::doc::get_path(&d, &self.message_field) {
                out.push(truncate_message(s.clone(), MAX_MESSAGE_BYTES).0);
            }
        }
        Ok(out)
    }

    /// The follow query: up to `limit` documents of the host after `resume`, in
    /// `(datetime, _id)` order, that are not yet scored by `version` and not skipped.
    ///
    /// Documents whose datetime is missing, null or not a BSON date cannot be found by a
    /// date range, so two extra `$or` branches fetch those that were never handled; they
    /// sort before all dates, so they come first and are marked in the same batch.
    /// `upper` (now minus `LATE_ARRIVAL_GRACE`) keeps the resume point from overtaking
    /// documents that are still on their way and from jumping to future timestamps.
    pub async fn next_batch(
        &self,
        resume: &Resume,
        upper: DateTime<Utc>,
        version: &str,
        limit: u32,
    ) -> Result<Vec<Document>, StoreError> {
        let dtf = &self.datetime_field;
        let upper = bson_dt(upper);
        let mut branches = Vec::new();
        match &resume.id {
            Some(id) => {
                branches.push(doc! { dtf: { "$gt": resume.dt, "$lte": upper } });
                branches.push(doc! { dtf: resume.dt, "_id": { "$gt": id.clone() } });
            }
            None => branches.push(doc! { dtf: { "$gte": resume.dt, "$lte": upper } }),
        }
        // Never-handled documents without a usable date: missing/null, or another type.
        branches.push(doc! { dtf: Bson::Null, "lad_model_version": { "$exists": false } });
        branches.push(doc! {
            dtf: { "$type": ["string", "number", "bool", "object", "objectId", "timestamp"] },
            "lad_model_version": { "$exists": false },
        });
        let filter = doc! {
            &self.hostname_field: &self.source.hostname,
            "lad_skipped": { "$exists": false },
            "lad_model_version": { "$ne": version },
            "$or": branches,
        };
        let cursor = self
            .logs
            .find(filter)
            .sort(doc! { dtf: 1, "_id": 1 })
            .limit(i64::from(limit))
            .batch_size(limit)
            .projection(doc! { &self.message_field: 1, dtf: 1 })
            .await?;
        Ok(cursor.try_collect().await?)
    }

    /// Applies all statements with one unordered `update` command.
    pub async fn write(&self, stmts: Vec<UpdateStmt>) -> Result<WriteOutcome, StoreError> {
        if stmts.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let updates: Vec<Document> = stmts
            .into_iter()
            .map(|s| doc! { "q": { "_id": s.id }, "u": { "$set": s.set } })
            .collect();
        let reply = self
            .db
            .run_command(doc! {
                "update": &self.source.collection,
                "updates": updates,
                "ordered": false,
            })
            .await?;
        if let Ok(wce) = reply.get_document("writeConcernError") {
            return Err(StoreError::WriteConcern(
                wce.get_str("errmsg").unwrap_or("unknown").to_string(),
            ));
        }
        let matched = match reply.get("n") {
            Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
            Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
            _ => 0,
        };
        let mut write_errors = 0;
        if let Ok(errs) = reply.get_array("writeErrors") {
            for e in errs {
                write_errors += 1;
                if write_errors <= 5 {
                    let msg = match e {
                        Bson::Document(d) => d.get_str("errmsg").unwrap_or("?").to_string(),
                        _ => "?".into(),
                    };
                    tracing::warn!(source = %self.source.key(), "update rejected by the server: {msg}");
                }
            }
        }
        Ok(WriteOutcome {
            matched,
            write_errors,
        })
    }

    /// The saved resume point, if any.
    pub async fn load_resume(&self) -> Result<Option<Resume>, StoreError> {
        let Some(d) = self
            .state
            .find_one(doc! { "_id": self.source.key() })
            .await?
        else {
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

    /// Upserts the state document: resume point, model version and counter increments.
    pub async fn save_state(
        &self,
        resume: &Resume,
        version: &str,
        inc: Document,
    ) -> Result<(), StoreError> {
        let set = doc! {
            "collection": &self.source.collection,
            "hostname": &self.source.hostname,
            "last_datetime": resume.dt,
            "last_id": resume.id.clone().unwrap_or(Bson::Null),
            "model_version": version,
            "updated_at": bson_dt(Utc::now()),
        };
        let mut update = doc! { "$set": set };
        if !inc.is_empty() {
            update.insert("$inc", inc);
        }
        self.state
            .update_one(doc! { "_id": self.source.key() }, update)
            .upsert(true)
            // Journaled: once acknowledged, the batch written before it is durable too
            // (the journal is sequential), so a server crash cannot take back a saved
            // resume point.
            .write_concern(WriteConcern::builder().journal(true).build())
            .await?;
        Ok(())
    }
}
