//! MongoDB log documents as a source: every read service mode makes from a log collection,
//! each a single command, so the cost per batch is visible here.
//!
//! Indexes serving the reads (all created by [`MongoLogs::ensure_indexes`]):
//!
//! * `{HOSTNAME, DATETIME, _id}` — training (the newest messages of a host) and the follow
//!   query (the next documents after the resume point, in `(datetime, _id)` order);
//! * `{HOSTNAME, lad_model_version, DATETIME}` — the sweep: documents of a host that were
//!   never handled sit under the key `lad_model_version: null`, so finding the few late ones
//!   behind the resume point scans only unhandled documents, not the whole training window.
//!   The price is one index-key change per write-back (lad sets `lad_model_version`).
//! * `{HOSTNAME, lad_session_score, lad_session_key, DATETIME}` — only for a collection with
//!   `SESSION_KEY`: the session pass's documents (a key, no session score yet).

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};

use super::bson_fields::{get_path, truncate_message, MAX_MESSAGE_BYTES};

/// Field written into every scored document: the model version that scored it.
pub const VERSION_FIELD: &str = "lad_model_version";
/// Field written into documents that cannot be scored: why.
pub const SKIPPED_FIELD: &str = "lad_skipped";
/// Field counting failed scoring attempts of a document (retried by the sweep).
pub const FAILURES_FIELD: &str = "lad_scoring_failures";
/// Field with a scored document's session key (collections with `SESSION_KEY`).
pub const SESSION_KEY_FIELD: &str = "lad_session_key";
/// Field with a structured document's session event (its token, see
/// [`crate::session::events::event_token`]), written with its session key.
pub const SESSION_EVENT_FIELD: &str = "lad_session_event";
/// Field with the score of the session a document belongs to, once that session closed.
pub const SESSION_SCORE_FIELD: &str = "lad_session_score";

/// Which fields of a log document lad reads (`MESSAGE_INDEX`, `DATETIME_INDEX`,
/// `HOSTNAME_INDEX`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFields {
    pub message: String,
    pub datetime: String,
    pub hostname: String,
    /// Read whole documents (a structured `PROFILE` maps all of a document to an event),
    /// not only the message and datetime fields.
    pub whole_documents: bool,
    /// `SESSION_KEY` of the collection: the follow and sweep reads then also fetch a key
    /// field (`{FIELD: path}`), and [`MongoLogs::ensure_indexes`] adds the session index.
    pub session_key: Option<crate::session::KeySpec>,
}

/// Where a worker continues: the last handled document with a BSON-date timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    /// Its timestamp.
    pub dt: mongodb::bson::DateTime,
    /// Its `_id`; `None` for the initial point (start of the training window), which is
    /// inclusive.
    pub id: Option<Bson>,
}

/// What a training read returned.
#[derive(Debug, Default)]
pub struct TrainingRead {
    /// String messages, newest first, each cut to [`MAX_MESSAGE_BYTES`].
    pub messages: Vec<String>,
    /// Each message's timestamp (same order), when it is a BSON date.
    pub times: Vec<Option<DateTime<Utc>>>,
    /// Whether the byte budget ended the read before the entry limit or the window did.
    pub hit_byte_cap: bool,
    /// With [`LogFields::whole_documents`]: the documents themselves (newest first), and
    /// `messages` stays empty.
    pub documents: Vec<Document>,
}

/// One document as the session pass and the session model's training read see it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionDoc {
    pub id: Bson,
    /// The datetime field, when it is a BSON date (milliseconds since the epoch).
    pub at_ms: Option<i64>,
    /// The message, cut to [`MAX_MESSAGE_BYTES`], when it is a string.
    pub message: Option<String>,
    /// The extra field the read asked for: the key field (`SESSION_KEY: {FIELD: …}`) for
    /// training, `lad_session_key` for the session pass.
    pub field: Option<Bson>,
    /// A structured document's session event (`lad_session_event`, or from the training
    /// read's mapper); `None`: the event is the message's kind.
    pub event: Option<String>,
}

/// Maps a whole structured document to its message and session event (training read).
pub type EventMapper<'a> = &'a (dyn Fn(&Document) -> Option<(String, String)> + Sync);

/// `chrono` time as a BSON date (millisecond precision).
pub fn bson_dt(t: DateTime<Utc>) -> mongodb::bson::DateTime {
    mongodb::bson::DateTime::from_millis(t.timestamp_millis())
}

/// The documents of one host in one collection.
#[derive(Debug, Clone)]
pub struct MongoLogs {
    logs: Collection<Document>,
    hostname: String,
    fields: LogFields,
}

impl MongoLogs {
    /// The documents of `hostname` in `db.collection`.
    pub fn new(db: &Database, collection: &str, hostname: &str, fields: &LogFields) -> Self {
        Self {
            logs: db.collection(collection),
            hostname: hostname.to_string(),
            fields: fields.clone(),
        }
    }

    /// Name of the sweep index (see the module docs).
    pub fn sweep_index_name(&self) -> String {
        format!(
            "lad_unscored_{}_{}",
            self.fields.hostname, self.fields.datetime
        )
    }

    /// Creates both indexes if missing. An existing index with the same keys under another
    /// name is fine.
    pub async fn ensure_indexes(&self) -> Result<(), mongodb::error::Error> {
        let f = &self.fields;
        let follow = IndexModel::builder()
            .keys(doc! { &f.hostname: 1, &f.datetime: 1, "_id": 1 })
            .options(
                IndexOptions::builder()
                    .name(format!("lad_{}_{}", f.hostname, f.datetime))
                    .build(),
            )
            .build();
        let sweep = IndexModel::builder()
            .keys(doc! { &f.hostname: 1, VERSION_FIELD: 1, &f.datetime: 1 })
            .options(
                IndexOptions::builder()
                    .name(self.sweep_index_name())
                    .build(),
            )
            .build();
        let mut models = vec![follow, sweep];
        if f.session_key.is_some() {
            // The session pass reads documents with a key and no session score: they sit
            // under `lad_session_score: null` with a string key, so the pass scans only
            // those, not the documents already done or without a key.
            models.push(
                IndexModel::builder()
                    .keys(doc! { &f.hostname: 1, SESSION_SCORE_FIELD: 1, SESSION_KEY_FIELD: 1, &f.datetime: 1 })
                    .options(
                        IndexOptions::builder()
                            .name(format!("lad_sessions_{}_{}", f.hostname, f.datetime))
                            .build(),
                    )
                    .build(),
            );
        }
        for model in models {
            match self.logs.create_index(model).await {
                Ok(_) => {}
                Err(e) if matches!(&*e.kind, ErrorKind::Command(c) if matches!(c.code, 85 | 86)) => {
                    tracing::debug!("index exists under another name: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Messages for training: the newest `max` string messages of the host with a
    /// timestamp in `[start, end)`, newest first, each cut to [`MAX_MESSAGE_BYTES`], and no
    /// more than `max_bytes` in all, so the memory a training holds is bounded whatever the
    /// messages' sizes. The cursor streams in driver batches; nothing else is kept.
    pub async fn training_messages(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        max: u64,
        max_bytes: u64,
    ) -> Result<TrainingRead, mongodb::error::Error> {
        let f = &self.fields;
        let filter = doc! {
            &f.hostname: &self.hostname,
            &f.datetime: { "$gte": bson_dt(start), "$lt": bson_dt(end) },
        };
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let find = self
            .logs
            .find(filter)
            .sort(doc! { &f.datetime: -1 })
            .limit(limit)
            .batch_size(u32::try_from(max.min(10_000)).unwrap_or(10_000));
        let mut cursor = if f.whole_documents {
            find.await?
        } else {
            find.projection(doc! { &f.message: 1, &f.datetime: 1, "_id": 0 })
                .await?
        };
        let mut out = TrainingRead::default();
        let mut bytes = 0u64;
        while let Some(d) = cursor.try_next().await? {
            if f.whole_documents {
                bytes += mongodb::bson::to_vec(&d).map_or(0, |v| v.len() as u64);
                if bytes > max_bytes && !out.documents.is_empty() {
                    out.hit_byte_cap = true;
                    break;
                }
                out.times.push(match get_path(&d, &f.datetime) {
                    Some(Bson::DateTime(t)) => {
                        DateTime::from_timestamp_millis(t.timestamp_millis())
                    }
                    _ => None,
                });
                out.documents.push(d);
                continue;
            }
            if let Some(Bson::String(s)) = get_path(&d, &f.message) {
                let (m, _) = truncate_message(s.clone(), MAX_MESSAGE_BYTES);
                bytes += m.len() as u64;
                if bytes > max_bytes && !out.messages.is_empty() {
                    out.hit_byte_cap = true;
                    break;
                }
                out.messages.push(m);
                out.times.push(match get_path(&d, &f.datetime) {
                    Some(Bson::DateTime(t)) => {
                        DateTime::from_timestamp_millis(t.timestamp_millis())
                    }
                    _ => None,
                });
            }
        }
        Ok(out)
    }

    /// The follow query: up to `limit` documents of the host after `resume`, in
    /// `(datetime, _id)` order, that were never handled (neither scored nor skipped).
    ///
    /// Documents whose datetime is missing, null or not a BSON date cannot be found by a
    /// date range, so two extra `$or` branches fetch those; they sort before all dates, so
    /// they come first and are marked in the same batch. `upper` (now minus
    /// `LATE_ARRIVAL_GRACE`) keeps the resume point from overtaking documents that are still
    /// on their way and from jumping to future timestamps.
    pub async fn next_batch(
        &self,
        resume: &Resume,
        upper: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Document>, mongodb::error::Error> {
        let dtf = &self.fields.datetime;
        let upper = bson_dt(upper);
        let mut branches = Vec::new();
        match &resume.id {
            Some(id) => {
                branches.push(doc! { dtf: { "$gt": resume.dt, "$lte": upper } });
                branches.push(doc! { dtf: resume.dt, "_id": { "$gt": id.clone() } });
            }
            None => branches.push(doc! { dtf: { "$gte": resume.dt, "$lte": upper } }),
        }
        branches.push(doc! { dtf: Bson::Null });
        branches.push(doc! {
            dtf: { "$type": ["string", "number", "bool", "object", "objectId", "timestamp"] },
        });
        let filter = doc! {
            &self.fields.hostname: &self.hostname,
            SKIPPED_FIELD: { "$exists": false },
            VERSION_FIELD: { "$exists": false },
            "$or": branches,
        };
        self.find_sorted(filter, limit, None).await
    }

    /// The sweep: up to `limit` documents of the host *behind* `resume` and inside the
    /// training window (`window_start`), that were never handled: late arrivals, documents
    /// with the resume point's timestamp and a smaller `_id` (minted by another process),
    /// and documents whose scoring failed and is to be retried. Read through the sweep
    /// index, so its cost grows with the number of unhandled documents only.
    pub async fn sweep_batch(
        &self,
        window_start: DateTime<Utc>,
        resume: &Resume,
        limit: u32,
    ) -> Result<Vec<Document>, mongodb::error::Error> {
        let dtf = &self.fields.datetime;
        let start = bson_dt(window_start);
        if start >= resume.dt && resume.id.is_none() {
            return Ok(Vec::new());
        }
        let mut branches = vec![doc! { dtf: { "$gte": start, "$lt": resume.dt } }];
        if let Some(id) = &resume.id {
            branches.push(doc! { dtf: resume.dt, "_id": { "$lt": id.clone() } });
        }
        let filter = doc! {
            &self.fields.hostname: &self.hostname,
            VERSION_FIELD: Bson::Null,
            SKIPPED_FIELD: Bson::Null,
            "$or": branches,
        };
        self.find_sorted(filter, limit, Some(self.sweep_index_name()))
            .await
    }

    /// The session model's training read: the newest `max` documents of the host in
    /// `[start, end)` (newest first), with the message, the time and `key_field` (a
    /// `SESSION_KEY: {FIELD: …}` path), at most `max_bytes` of messages in all.
    pub async fn session_training(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        max: u64,
        max_bytes: u64,
        key_field: Option<&str>,
        events: Option<EventMapper<'_>>,
    ) -> Result<Vec<SessionDoc>, mongodb::error::Error> {
        let f = &self.fields;
        let filter = doc! {
            &f.hostname: &self.hostname,
            &f.datetime: { "$gte": bson_dt(start), "$lt": bson_dt(end) },
        };
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut projection = doc! { &f.message: 1, &f.datetime: 1 };
        if let Some(k) = key_field {
            projection.insert(k, 1);
        }
        let mut find = self
            .logs
            .find(filter)
            .sort(doc! { &f.datetime: -1 })
            .limit(limit)
            .batch_size(u32::try_from(max.min(10_000)).unwrap_or(10_000));
        if events.is_none() {
            find = find.projection(projection);
        }
        let mut cursor = find.await?;
        let mut out = Vec::new();
        let mut bytes = 0u64;
        while let Some(d) = cursor.try_next().await? {
            let mut row = self.session_doc(&d, key_field);
            if let Some(map) = events {
                match map(&d) {
                    Some((message, event)) => {
                        row.message = Some(message);
                        row.event = Some(event);
                    }
                    None => continue,
                }
            }
            bytes += row.message.as_ref().map_or(0, |m| m.len() as u64);
            if bytes > max_bytes && !out.is_empty() {
                break;
            }
            out.push(row);
        }
        Ok(out)
    }

    /// The session pass's read: up to `limit` documents of the host from `window_start` on
    /// that have a session key and no session score yet, in `(datetime, _id)` order, with
    /// their message, time and key. Served by the session index (see
    /// [`MongoLogs::ensure_indexes`]).
    pub async fn open_session_docs(
        &self,
        window_start: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SessionDoc>, mongodb::error::Error> {
        let f = &self.fields;
        let filter = doc! {
            &f.hostname: &self.hostname,
            SESSION_SCORE_FIELD: Bson::Null,
            SESSION_KEY_FIELD: { "$type": "string" },
            VERSION_FIELD: { "$exists": true },
            &f.datetime: { "$gte": bson_dt(window_start) },
        };
        let docs: Vec<Document> = self
            .logs
            .find(filter)
            .sort(doc! { &f.datetime: 1, "_id": 1 })
            .limit(i64::from(limit))
            .batch_size(limit.min(10_000))
            .projection(doc! { &f.message: 1, &f.datetime: 1, SESSION_KEY_FIELD: 1, SESSION_EVENT_FIELD: 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .map(|d| self.session_doc(d, Some(SESSION_KEY_FIELD)))
            .collect())
    }

    fn session_doc(&self, d: &Document, field: Option<&str>) -> SessionDoc {
        let f = &self.fields;
        SessionDoc {
            id: d.get("_id").cloned().unwrap_or(Bson::Null),
            at_ms: match get_path(d, &f.datetime) {
                Some(Bson::DateTime(t)) => Some(t.timestamp_millis()),
                _ => None,
            },
            message: match get_path(d, &f.message) {
                Some(Bson::String(s)) => Some(truncate_message(s.clone(), MAX_MESSAGE_BYTES).0),
                _ => None,
            },
            field: field.and_then(|k| get_path(d, k)).cloned(),
            event: match d.get(SESSION_EVENT_FIELD) {
                Some(Bson::String(s)) => Some(s.clone()),
                _ => None,
            },
        }
    }

    async fn find_sorted(
        &self,
        filter: Document,
        limit: u32,
        hint: Option<String>,
    ) -> Result<Vec<Document>, mongodb::error::Error> {
        let dtf = &self.fields.datetime;
        let mut find = self
            .logs
            .find(filter)
            .sort(doc! { dtf: 1, "_id": 1 })
            .limit(i64::from(limit))
            .batch_size(limit);
        if !self.fields.whole_documents {
            let mut projection = doc! { &self.fields.message: 1, dtf: 1, FAILURES_FIELD: 1 };
            if let Some(crate::session::KeySpec::Field(path)) = &self.fields.session_key {
                projection.insert(path, 1);
            }
            find = find.projection(projection);
        }
        if let Some(h) = hint {
            find = find.hint(mongodb::options::Hint::Name(h));
        }
        find.await?.try_collect().await
    }
}

/// Follows inserts into one collection through one change stream and calls `on_insert`
/// with the host name of each new document of one of `hosts`. Only the host field of each
/// event crosses the wire. Returns when the stream ends or fails (the server may not offer
/// change streams: a standalone `mongod`).
pub async fn watch_inserts(
    logs: &Collection<Document>,
    hostname_field: &str,
    hosts: &[String],
    mut on_insert: impl FnMut(&str),
) -> Result<(), mongodb::error::Error> {
    use futures_util::StreamExt;
    let host_path = format!("fullDocument.{hostname_field}");
    let pipeline = [
        doc! { "$match": { "operationType": "insert", &host_path: { "$in": hosts } } },
        doc! { "$project": { "operationType": 1, &host_path: 1 } },
    ];
    let mut stream = logs.watch().pipeline(pipeline).await?;
    while let Some(event) = stream.next().await {
        let event = event?;
        if let Some(Bson::String(h)) = event
            .full_document
            .as_ref()
            .and_then(|d| get_path(d, hostname_field))
        {
            on_insert(h);
        }
    }
    Ok(())
}
