//! MongoDB as the sink of verdicts: the write-back of scores (or skip reasons) into the log
//! documents, one unordered `update` command per batch, one statement per document.
//!
//! Every statement is **write-once**: its filter requires the document to be still
//! unhandled (no `lad_model_version`, no `lad_skipped`). Whoever writes first wins and a
//! repeated or late write (a batch redone after a crash, a process that lost its lease
//! while its command was on the wire) matches nothing, so no document is ever scored twice.
//!
//! The `update` command is used instead of `Client::bulk_write` because it is one round
//! trip on every MongoDB version (bulkWrite needs 8.0) and does exactly the same job here.

use mongodb::bson::{doc, Bson, Document};
use mongodb::Database;

use crate::source::mongo::{SESSION_SCORE_FIELD, SKIPPED_FIELD, VERSION_FIELD};

/// One update statement.
#[derive(Debug, Clone)]
pub struct UpdateStmt {
    /// `_id` of the document.
    pub id: Bson,
    /// `$set` contents.
    pub set: Document,
    /// `$inc` contents (failure counters), if any.
    pub inc: Option<Document>,
}

/// Outcome of one `update` command.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriteOutcome {
    /// Documents matched (`n`): statements whose document was still unhandled.
    pub matched: u64,
    /// Statements the server rejected (logged; the documents are not retried).
    pub write_errors: u64,
}

/// Why a write-back failed as a whole; the caller retries the batch.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The driver reported an error (network, server selection, command failure).
    #[error("{0}")]
    Mongo(#[from] mongodb::error::Error),
    /// The write was applied but not acknowledged by the requested write concern.
    #[error("write concern error: {0}")]
    WriteConcern(String),
}

/// Writes verdicts into one collection.
#[derive(Debug, Clone)]
pub struct MongoVerdicts {
    db: Database,
    collection: String,
}

impl MongoVerdicts {
    /// The sink for `db.collection`.
    pub fn new(db: &Database, collection: &str) -> Self {
        Self {
            db: db.clone(),
            collection: collection.to_string(),
        }
    }

    /// Applies all statements with one unordered, write-once `update` command.
    pub async fn write(&self, stmts: Vec<UpdateStmt>) -> Result<WriteOutcome, SinkError> {
        if stmts.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let updates: Vec<Document> = stmts
            .into_iter()
            .map(|s| {
                let mut u = doc! { "$set": s.set };
                if let Some(inc) = s.inc {
                    u.insert("$inc", inc);
                }
                doc! {
                    "q": {
                        "_id": s.id,
                        VERSION_FIELD: { "$exists": false },
                        SKIPPED_FIELD: { "$exists": false },
                    },
                    "u": u,
                }
            })
            .collect();
        self.run_update(updates).await
    }

    /// Writes session verdicts: one multi-document statement per session, `$set` on the
    /// session's `_id`s that have no `lad_session_score` yet (write-once like
    /// [`MongoVerdicts::write`]: a redone or concurrent write matches nothing), all in one
    /// unordered `update` command.
    pub async fn write_sessions(
        &self,
        sessions: Vec<(Vec<Bson>, Document)>,
    ) -> Result<WriteOutcome, SinkError> {
        if sessions.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let updates: Vec<Document> = sessions
            .into_iter()
            .map(|(ids, set)| {
                doc! {
                    "q": { "_id": { "$in": ids }, SESSION_SCORE_FIELD: { "$exists": false } },
                    "u": { "$set": set },
                    "multi": true,
                }
            })
            .collect();
        self.run_update(updates).await
    }

    async fn run_update(&self, updates: Vec<Document>) -> Result<WriteOutcome, SinkError> {
        let reply = self
            .db
            .run_command(doc! {
                "update": &self.collection,
                "updates": updates,
                "ordered": false,
            })
            .await?;
        if let Ok(wce) = reply.get_document("writeConcernError") {
            return Err(SinkError::WriteConcern(
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
                    tracing::warn!(collection = %self.collection, "update rejected by the server: {msg}");
                }
            }
        }
        Ok(WriteOutcome {
            matched,
            write_errors,
        })
    }
}
