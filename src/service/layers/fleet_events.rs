//! Fleet-wide novelty: a new kind of message that many hosts flag at about the same time is
//! one incident, not one anomaly per host.
//!
//! Every worker reports each anomaly of a kind new to its host (`template_count == 0`) with
//! the kind's key (a hash of the masked tokens, the same on every host) to one document per
//! (collection, kind) in `FLEET_EVENTS_COLLECTION`, by an atomic upsert: `hosts` (distinct),
//! `count`, `first_seen`, `last_seen`, and the first documents' ids. When `FLEET_MIN_HOSTS`
//! hosts have reported it within `FLEET_WINDOW` of its first sighting, exactly one worker
//! wins the conditional switch to `raised` (a compare-and-set on the server, so this holds
//! across processes), tags the documents reported so far with `lad_fleet_event`, and counts
//! the event; documents reported later are tagged as they come. A kind first seen longer
//! than `FLEET_WINDOW` ago that never reached the host count is started afresh.

use chrono::{DateTime, Utc};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};

/// Field tagging a log document with the fleet event it belongs to.
pub const TAG_FIELD: &str = "lad_fleet_event";
/// A document flagged as a kind of message its host's model has never seen.
#[derive(Debug, Clone)]
pub(crate) struct NewKind {
    pub id: mongodb::bson::Bson,
    /// The message's masked token sequence (same on every host for the same kind).
    pub key: u64,
    pub template: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Document ids kept per event for tagging once it is raised.
const MAX_DOC_IDS: i32 = 1000;

/// The fleet events of one collection, as one worker reports to them.
#[derive(Debug, Clone)]
pub struct FleetEvents {
    events: Collection<Document>,
    logs: Collection<Document>,
    collection: String,
    hostname: String,
    min_hosts: u32,
    window: chrono::Duration,
}

/// What reporting a batch's new kinds did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reported {
    /// Events this worker raised (0 or more).
    pub raised: u64,
    /// Documents tagged with an event id.
    pub tagged: u64,
}

impl FleetEvents {
    pub fn new(
        db: &Database,
        events_collection: &str,
        collection: &str,
        hostname: &str,
        min_hosts: u32,
        window: std::time::Duration,
    ) -> Self {
        Self {
            events: db.collection(events_collection),
            logs: db.collection(collection),
            collection: collection.to_string(),
            hostname: hostname.to_string(),
            min_hosts: min_hosts.max(1),
            window: chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// Reports the new kinds of one written batch.
    pub async fn report(&self, kinds: &[NewKind]) -> Result<Reported, mongodb::error::Error> {
        let mut out = Reported::default();
        for k in kinds {
            let r = self.report_one(k).await?;
            out.raised += r.raised;
            out.tagged += r.tagged;
        }
        Ok(out)
    }

    async fn report_one(&self, k: &NewKind) -> Result<Reported, mongodb::error::Error> {
        let id = format!("{}:{:016x}", self.collection, k.key);
        let at = crate::source::mongo::bson_dt(k.at);
        // A stale candidate (first seen over a window ago, never raised) starts afresh.
        let stale_before = crate::source::mongo::bson_dt(
            k.at.checked_sub_signed(self.window)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        );
        self.events
            .delete_one(doc! { "_id": &id, "raised": false, "first_seen": { "$lt": stale_before } })
            .await?;
        let update = doc! {
            "$setOnInsert": {
                "collection": &self.collection,
                "template": &k.template,
                "raised": false,
            },
            "$addToSet": { "hosts": &self.hostname },
            "$inc": { "count": 1_i64 },
            "$min": { "first_seen": at },
            "$max": { "last_seen": at },
            "$push": { "documents": { "$each": [k.id.clone()], "$slice": MAX_DOC_IDS } },
        };
        let ev = self
            .events
            .find_one_and_update(doc! { "_id": &id }, update)
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await;
        let ev = match ev {
            Ok(Some(ev)) => ev,
            Ok(None) => return Ok(Reported::default()),
            // Two first reports at once: one upsert loses on the _id; report again.
            Err(e) if is_duplicate_key(&e) => {
                return Box::pin(self.report_one(k)).await;
            }
            Err(e) => return Err(e),
        };
        let mut out = Reported::default();
        let hosts = ev.get_array("hosts").map_or(0, |h| h.len());
        if ev.get_bool("raised").unwrap_or(false) {
            self.tag(std::slice::from_ref(&k.id), &id).await?;
            out.tagged += 1;
            return Ok(out);
        }
        let first = ev
            .get_datetime("first_seen")
            .ok()
            .and_then(|t| DateTime::from_timestamp_millis(t.timestamp_millis()))
            .ok_or(())
            .ok();
        let last = ev
            .get_datetime("last_seen")
            .ok()
            .and_then(|t| DateTime::from_timestamp_millis(t.timestamp_millis()))
            .ok_or(())
            .ok();
        let within = match (first, last) {
            (Some(f), Some(l)) => l - f <= self.window,
            _ => false,
        };
        if hosts < self.min_hosts as usize || !within {
            return Ok(out);
        }
        let won = self
            .events
            .update_one(
                doc! { "_id": &id, "raised": false },
                doc! { "$set": { "raised": true, "raised_at": crate::source::mongo::bson_dt(Utc::now()) } },
            )
            .await?;
        if won.modified_count == 1 {
            out.raised = 1;
            // Everything reported so far, this document included; later ones are tagged
            // as they are reported.
            let docs: Vec<Bson> = match self.events.find_one(doc! { "_id": &id }).await? {
                Some(d) => d.get_array("documents").cloned().unwrap_or_default(),
                None => vec![k.id.clone()],
            };
            out.tagged += self.tag(&docs, &id).await?;
            tracing::warn!(
                collection = %self.collection, event = %id, hosts,
                template = %k.template,
                "fleet event: the same new kind of message on {hosts} hosts"
            );
        } else {
            // Raised by another worker meanwhile: it tagged what it saw; tag this one.
            out.tagged += self.tag(std::slice::from_ref(&k.id), &id).await?;
        }
        Ok(out)
    }

    async fn tag(&self, ids: &[Bson], event: &str) -> Result<u64, mongodb::error::Error> {
        if ids.is_empty() {
            return Ok(0);
        }
        let r = self
            .logs
            .update_many(
                doc! { "_id": { "$in": ids.to_vec() } },
                doc! { "$set": { TAG_FIELD: event } },
            )
            .await?;
        Ok(r.matched_count)
    }
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*e.kind {
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        _ => false,
    }
}
