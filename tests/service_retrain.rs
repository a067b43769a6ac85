//! Scheduled retraining: with `RETRAIN_SCHEDULE` firing every few seconds, the worker trains
//! in the background, swaps the model, and keeps scoring. New documents get the new
//! `lad_model_version`, and every document is scored exactly once.

mod common;

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use common::*;
use mongodb::bson::doc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_retrain_swaps_the_model() {
    let Some(h) = Harness::new("scheduled_retrain_swaps_the_model").await else {
        return;
    };
    let coll = h.coll("syslog");
    let now = Utc::now();
    insert(
        &coll,
        fixture(
            "h1",
            300,
            now - Duration::hours(1),
            now - Duration::minutes(10),
            0,
            81,
        ),
    )
    .await;
    let cfg = h.config(
        &[("syslog", &["h1"])],
        "RETRAIN_SCHEDULE: \"*/3 * * * * *\"\n",
    );

    let service = start_service(cfg, None);
    // Keep new documents coming until two model versions have scored documents.
    let t0 = Instant::now();
    let mut seed = 100;
    let mut inserted = 300u64;
    let mut versions = Vec::new();
    while t0.elapsed() < StdDuration::from_secs(240) {
        seed += 1;
        let t = Utc::now();
        insert(
            &coll,
            fixture("h1", 20, t - Duration::seconds(1), t, 0, seed),
        )
        .await;
        inserted += 20;
        tokio::time::sleep(StdDuration::from_secs(1)).await;
        versions = coll
            .distinct("lad_model_version", doc! {})
            .await
            .expect("distinct");
        if versions.len() >= 2 {
            break;
        }
    }
    assert!(
        versions.len() >= 2,
        "no retrained model was used: {versions:?}"
    );
    // Let the last inserts be scored, then stop.
    let all = wait_scored(&coll, inserted, StdDuration::from_secs(120)).await;
    let report = service.stop().await;
    assert!(all, "documents left unscored");
    let w = &report.workers[0];
    assert!(w.stats.trainings >= 2, "{:?}", w.stats);
    assert_eq!(
        w.stats.scored, inserted,
        "every document scored exactly once"
    );
    h.finish().await;
}
