//! Feedback in service mode: users mark a document with `lad_feedback: "normal"` or
//! `"anomaly"` (from any Mongo client, or `lad feedback --config … --id …`). Each worker
//! picks its host's marks up on every sweep, records them in `FEEDBACK_COLLECTION` (one
//! document per marked document, so recording twice is harmless), applies them to the
//! running model at once, and applies all of its host's recorded feedback to every model it
//! loads or trains: a mark survives retrains and restarts.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::{Collection, Database};

use crate::model::feedback::{FeedbackEntry, Verdict};
use crate::model::HostModel;

/// The field users set on a log document.
pub const MARK_FIELD: &str = "lad_feedback";
/// Set by lad once the mark is recorded, so it is picked up once.
pub const APPLIED_FIELD: &str = "lad_feedback_applied";
/// Marks picked up per sweep, at most (the rest on the next one).
const HARVEST_LIMIT: i64 = 500;

/// One host's feedback, recorded and applied.
#[derive(Debug, Clone)]
pub struct FeedbackStore {
    feedback: Collection<Document>,
    logs: Collection<Document>,
    collection: String,
    hostname: String,
    hostname_field: String,
}

/// A recorded piece of feedback as `lad feedback list --config` shows it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub collection: String,
    pub hostname: String,
    pub entry: FeedbackEntry,
}

impl FeedbackStore {
    pub fn new(
        db: &Database,
        feedback_collection: &str,
        collection: &str,
        hostname: &str,
        hostname_field: &str,
    ) -> Self {
        Self {
            feedback: db.collection(feedback_collection),
            logs: db.collection(collection),
            collection: collection.to_string(),
            hostname: hostname.to_string(),
            hostname_field: hostname_field.to_string(),
        }
    }

    /// Every recorded verdict of this host, oldest first.
    pub async fn load(&self) -> Result<Vec<FeedbackEntry>, mongodb::error::Error> {
        let docs: Vec<Document> = self
            .feedback
            .find(doc! { "collection": &self.collection, "hostname": &self.hostname })
            .sort(doc! { "at": 1, "_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(entry_of).collect())
    }

    /// Applies this host's recorded feedback to `model` (replacing what it had).
    pub async fn apply_all(&self, model: &HostModel) -> Result<usize, mongodb::error::Error> {
        let entries = self.load().await?;
        model.set_feedback(&entries);
        Ok(entries.len())
    }

    /// Picks up new marks on this host's documents: records each, applies it to `model`,
    /// and flags the document as picked up. Returns how many were picked up.
    /// `message_of` gives a document's message as the model sees it (the message field, or
    /// a structured profile's event message).
    pub async fn harvest(
        &self,
        model: &HostModel,
        message_of: impl Fn(&Document) -> Option<String>,
    ) -> Result<usize, mongodb::error::Error> {
        let marked: Vec<Document> = self
            .logs
            .find(doc! {
                &self.hostname_field: &self.hostname,
                MARK_FIELD: { "$exists": true },
                APPLIED_FIELD: { "$exists": false },
            })
            .limit(HARVEST_LIMIT)
            .await?
            .try_collect()
            .await?;
        let mut n = 0;
        for d in &marked {
            let Some(id) = d.get("_id").cloned() else {
                continue;
            };
            let verdict = d
                .get_str(MARK_FIELD)
                .ok()
                .and_then(|v| v.parse::<Verdict>().ok());
            let message = message_of(d);
            let (Some(verdict), Some(message)) = (verdict, message) else {
                // Not a verdict, or no message to learn from: say so on the document.
                self.logs
                    .update_one(
                        doc! { "_id": id },
                        doc! { "$set": { APPLIED_FIELD: "ignored: lad_feedback must be \"normal\" or \"anomaly\" on a document with a string message" } },
                    )
                    .await?;
                continue;
            };
            let entry = FeedbackEntry {
                message,
                verdict,
                at: Utc::now(),
                id: Some(id_text(&id)),
            };
            self.record(&id, &entry).await?;
            model.add_feedback(&entry);
            self.logs
                .update_one(
                    doc! { "_id": id },
                    doc! { "$set": { APPLIED_FIELD: crate::source::mongo::bson_dt(Utc::now()) } },
                )
                .await?;
            n += 1;
        }
        if n > 0 {
            tracing::info!(collection = %self.collection, hostname = %self.hostname, marks = n, "feedback applied");
        }
        Ok(n)
    }

    /// Records `entry`, given on the document `id` (an upsert: recording twice is one record).
    async fn record(&self, id: &Bson, entry: &FeedbackEntry) -> Result<(), mongodb::error::Error> {
        let key = format!("{}:{}", self.collection, id_text(id));
        self.feedback
            .update_one(
                doc! { "_id": key },
                doc! { "$set": {
                    "collection": &self.collection,
                    "hostname": &self.hostname,
                    "document_id": id.clone(),
                    "message": &entry.message,
                    "verdict": entry.verdict.as_str(),
                    "at": crate::source::mongo::bson_dt(entry.at),
                } },
            )
            .upsert(true)
            .await?;
        Ok(())
    }
}

/// Every recorded verdict in `feedback_collection`, by collection and host.
pub async fn list_all(
    db: &Database,
    feedback_collection: &str,
) -> Result<Vec<Recorded>, mongodb::error::Error> {
    let docs: Vec<Document> = db
        .collection::<Document>(feedback_collection)
        .find(doc! {})
        .sort(doc! { "collection": 1, "hostname": 1, "at": 1 })
        .await?
        .try_collect()
        .await?;
    Ok(docs
        .iter()
        .filter_map(|d| {
            Some(Recorded {
                collection: d.get_str("collection").ok()?.to_string(),
                hostname: d.get_str("hostname").ok()?.to_string(),
                entry: entry_of(d)?,
            })
        })
        .collect())
}

fn entry_of(d: &Document) -> Option<FeedbackEntry> {
    let at: DateTime<Utc> =
        DateTime::from_timestamp_millis(d.get_datetime("at").ok()?.timestamp_millis())?;
    Some(FeedbackEntry {
        message: d.get_str("message").ok()?.to_string(),
        verdict: d.get_str("verdict").ok()?.parse().ok()?,
        at,
        id: d.get("document_id").map(id_text),
    })
}

/// A document id as text (ObjectIds as hex).
pub fn id_text(id: &Bson) -> String {
    match id {
        Bson::ObjectId(o) => o.to_hex(),
        Bson::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `lad feedback --config … --id ID VERDICT`: marks the document `ID` (an ObjectId in hex,
/// or a string id) in the configured collections; the worker of its host picks the mark up
/// on its next sweep (within `SWEEP_INTERVAL`). Returns the collection it was found in.
pub async fn mark_cli(
    config_path: &std::path::Path,
    id: &str,
    verdict: Verdict,
) -> anyhow::Result<String> {
    use anyhow::Context;
    let config = crate::config::load(config_path)
        .with_context(|| format!("invalid configuration in {}", config_path.display()))?;
    let client = config.mongo.connect().await?;
    let db = client.database(&config.db);
    let key = match mongodb::bson::oid::ObjectId::parse_str(id) {
        Ok(o) => Bson::ObjectId(o),
        Err(_) => Bson::String(id.to_string()),
    };
    let mut collections: Vec<&str> = config
        .sources
        .iter()
        .map(|s| s.collection.as_str())
        .collect();
    collections.sort_unstable();
    collections.dedup();
    for c in collections {
        let r = db
            .collection::<Document>(c)
            .update_one(
                doc! { "_id": key.clone() },
                doc! { "$set": { MARK_FIELD: verdict.as_str() }, "$unset": { APPLIED_FIELD: "" } },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", config.mongo.scrub(&e.to_string())))?;
        if r.matched_count == 1 {
            return Ok(c.to_string());
        }
    }
    anyhow::bail!("no document with _id {id} in the configured collections (LOG_SOURCES)")
}

/// `lad feedback list --config …`: every recorded verdict.
pub async fn list_cli(config_path: &std::path::Path) -> anyhow::Result<Vec<Recorded>> {
    use anyhow::Context;
    let config = crate::config::load(config_path)
        .with_context(|| format!("invalid configuration in {}", config_path.display()))?;
    let client = config.mongo.connect().await?;
    list_all(&client.database(&config.db), &config.feedback_collection)
        .await
        .map_err(|e| anyhow::anyhow!("{}", config.mongo.scrub(&e.to_string())))
}
