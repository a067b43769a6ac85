//! (b) Restart: stop the service mid-stream, insert more, start again. Every document is
//! scored exactly once (each `_id` appears in exactly one update statement over all runs,
//! seen through the driver's command monitoring) and none is skipped. Then the state
//! document is deleted (as if the resume point had been lost): documents already scored by
//! the current model are still not rescored.

mod common;

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use common::*;
use mongodb::bson::{doc, Document};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_scores_every_document_exactly_once() {
    let Some(h) = Harness::monitored("restart_scores_every_document_exactly_once").await else {
        return;
    };
    let coll = h.coll("syslog");
    let now = Utc::now();
    insert(
        &coll,
        fixture(
            "app-01",
            1500,
            now - Duration::hours(3),
            now - Duration::minutes(5),
            100,
            21,
        ),
    )
    .await;
    let cfg = h.config(&[("syslog", &["app-01"])], "BATCH_SIZE: 50\n");

    // Run 1: a long-running service, stopped as soon as it has written something.
    let run1 = start_service(cfg.clone(), Some(h.client.clone()));
    let started = wait_scored(&coll, 1, StdDuration::from_secs(300)).await;
    assert!(started, "run 1 never wrote a batch");
    let r1 = run1.stop().await;
    let s1 = r1.workers[0].stats.scored;
    eprintln!("run 1 stopped after scoring {s1} of 1500 documents");
    let v1 = r1.workers[0].model_version.clone().expect("model");

    // More documents arrive while the service is down.
    insert(
        &coll,
        fixture(
            "app-01",
            300,
            now - Duration::minutes(4),
            now - Duration::seconds(1),
            100,
            22,
        ),
    )
    .await;

    // Run 2: backlog only.
    let r2 = h.run_once(cfg.clone()).await;
    let w2 = &r2.workers[0];
    assert_eq!(
        w2.model_version.as_deref(),
        Some(v1.as_str()),
        "run 2 should reuse the fresh saved model"
    );
    assert_eq!(
        s1 + w2.stats.scored,
        1800,
        "run 1 scored {s1}, run 2 {}",
        w2.stats.scored
    );

    // Run 3: resume point lost; nothing new must be scored except the 50 new documents.
    h.db.collection::<Document>("lad_state")
        .delete_many(doc! {})
        .await
        .expect("delete state");
    insert(
        &coll,
        fixture("app-01", 50, now - Duration::seconds(1), Utc::now(), 0, 23),
    )
    .await;
    let r3 = h.run_once(cfg).await;
    assert_eq!(
        r3.workers[0].stats.scored, 50,
        "documents rescored after losing the resume point"
    );

    assert_eq!(count(&coll, doc! {}).await, 1850);
    assert_eq!(
        count(
            &coll,
            doc! {"lad_model_version": v1.as_str(), "anomaly_score": {"$type": "double"}}
        )
        .await,
        1850
    );
    assert_eq!(
        count(&coll, doc! {"lad_skipped": {"$exists": true}}).await,
        0
    );

    let mut writes: HashMap<String, usize> = HashMap::new();
    for c in h
        .log
        .take()
        .iter()
        .filter(|c| c.name == "update" && c.db == h.db_name && c.target == "syslog")
    {
        for id in &c.ids {
            *writes.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    assert_eq!(writes.len(), 1850, "every document written");
    let twice: Vec<_> = writes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} documents written more than once",
        twice.len()
    );
    h.finish().await;
}
