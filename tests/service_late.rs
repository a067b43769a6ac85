//! No document left behind: documents that reach the database late — timestamps up to ten
//! minutes behind the resume point, written by three concurrent writers (each with its own
//! client) whose ObjectIds are minted ahead of time and inserted shuffled, so `_id` order
//! says nothing about arrival — are all scored, each exactly once, by the sweep behind the
//! resume point (`SWEEP_INTERVAL`) and the follow loop together.
//!
//! "Exactly once" is counted on the wire: with command monitoring, the `n` (documents
//! matched) of every `update` command the service sent to the log collection adds up to
//! the number of documents, and every document carries `lad_model_version`; a document
//! written twice would make the sum larger, a document missed would leave it unscored.

mod common;

use std::collections::HashMap;
use std::time::Instant;

use chrono::{Duration, Utc};
use common::*;
use mongodb::bson::{doc, oid::ObjectId, Bson, Document};

const WRITERS: u64 = 3;
const PER_WRITER: usize = 200;

/// One writer: `PER_WRITER` documents for `host`, about half "now" (truncated to the second,
/// so writers collide on timestamps) and half up to 10 minutes late, inserted in small
/// batches over a few seconds in shuffled `_id` order.
async fn writer(uri: String, db: String, host: &'static str, seed: u64) -> Vec<Bson> {
    let c = client(&uri).await;
    let coll = c.database(&db).collection::<Document>("syslog");
    let mut r = Rng::new(seed);
    // Minted now, inserted later and shuffled: ObjectIds out of arrival order.
    let mut ids: Vec<ObjectId> = (0..PER_WRITER).map(|_| ObjectId::new()).collect();
    for i in (1..ids.len()).rev() {
        let j = r.below(i as u64 + 1) as usize;
        ids.swap(i, j);
    }
    let mut written = Vec::new();
    for chunk in ids.chunks(10) {
        let now = Utc::now();
        let docs: Vec<Document> = chunk
            .iter()
            .map(|id| {
                let t = if r.below(2) == 0 {
                    // Same second for every writer: `_id` ties on the datetime.
                    now - Duration::milliseconds(i64::from(now.timestamp_subsec_millis()))
                } else {
                    now - Duration::seconds(1 + r.below(600) as i64)
                };
                doc! {
                    "_id": *id,
                    "hostname": host,
                    "received_at": mongodb::bson::DateTime::from_millis(t.timestamp_millis()),
                    "message": normal_message(&mut r),
                }
            })
            .collect();
        coll.insert_many(docs).await.expect("writer insert");
        written.extend(chunk.iter().map(|id| Bson::ObjectId(*id)));
        tokio::time::sleep(std::time::Duration::from_millis(50 + r.below(100))).await;
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_documents_from_three_writers_are_scored_exactly_once() {
    let Some(h) =
        Harness::monitored("late_documents_from_three_writers_are_scored_exactly_once").await
    else {
        return;
    };
    let coll = h.coll("syslog");
    let now = Utc::now();
    // Training data and a backlog, then the service follows new documents.
    insert(
        &coll,
        fixture(
            "h1",
            300,
            now - Duration::hours(2),
            now - Duration::hours(1),
            0,
            3,
        ),
    )
    .await;
    let service = h.start(h.config(&[("syslog", &["h1"])], "SWEEP_INTERVAL: 2\n"));
    assert!(
        wait_scored(&coll, 300, std::time::Duration::from_secs(60)).await,
        "backlog not scored"
    );

    let t0 = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(h.uri.clone(), h.db_name.clone(), "h1", 100 + w)))
        .collect();
    let mut ids = Vec::new();
    for w in writers {
        ids.extend(w.await.expect("writer task"));
    }
    let inserted = t0.elapsed();
    let total = 300 + WRITERS * PER_WRITER as u64;
    let all = wait_scored(&coll, total, std::time::Duration::from_secs(90)).await;
    let scored_after = t0.elapsed();
    // One more sweep interval, so a double write (if any) would show up in the count below.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let report = service.stop().await;
    let unscored = count(
        &coll,
        doc! { "_id": { "$in": ids.clone() }, "lad_model_version": { "$exists": false } },
    )
    .await;
    assert!(
        all,
        "{unscored} of {} late documents not scored within 90 s",
        ids.len()
    );
    assert_eq!(unscored, 0);
    assert_eq!(
        count(&coll, doc! { "lad_skipped": { "$exists": true } }).await,
        0
    );

    let cmds: Vec<_> = h
        .log
        .take()
        .into_iter()
        .filter(|c| c.db == h.db_name && c.name == "update" && c.target == "syslog")
        .collect();
    let matched: i64 = cmds.iter().map(|c| c.matched).sum();
    assert_eq!(
        matched, total as i64,
        "documents written by the service's update commands (each must be written exactly once)"
    );
    // And no document even had a statement sent twice.
    let mut statements: HashMap<String, u32> = HashMap::new();
    for c in &cmds {
        for id in &c.ids {
            *statements.entry(id.to_string()).or_default() += 1;
        }
    }
    let repeated = statements.values().filter(|&&k| k > 1).count();
    assert_eq!(repeated, 0, "documents with more than one write statement");
    assert_eq!(statements.len() as u64, total);

    let t = report.totals();
    assert_eq!(t.scored, total);
    assert!(
        t.late_scored > 0,
        "the sweep found none of the late documents: {t:?}"
    );
    eprintln!(
        "{} late/out-of-order documents from {WRITERS} writers: inserted in {:.1}s, all scored \
         {:.1}s after the first insert; follow loop {}, sweep: late {}, id ties {}, {} sweeps",
        ids.len(),
        inserted.as_secs_f64(),
        scored_after.as_secs_f64(),
        t.scored - t.late_scored - t.tie_scored,
        t.late_scored,
        t.tie_scored,
        t.sweeps
    );
    h.finish().await;
}
