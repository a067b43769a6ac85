//! (c) Outage: the database server is killed and restarted (same port, same data) while
//! the service runs. The service does not crash, logs and backs off, and once the server
//! is back it scores everything, including documents inserted after the restart.
//!
//! Needs `LAD_TEST_MONGO_CTL` (set by scripts/test.sh) to stop and start the server; this
//! test lives in its own test binary so no other test runs while the server is down.

mod common;

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use common::*;
use mongodb::bson::doc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_survives_a_database_outage() {
    let Some(h) = Harness::new("service_survives_a_database_outage").await else {
        return;
    };
    let Some(ctl) = ServerCtl::from_env("service_survives_a_database_outage") else {
        return;
    };
    let coll = h.coll("syslog");
    let now = Utc::now();
    insert(
        &coll,
        fixture(
            "h1",
            800,
            now - Duration::hours(2),
            now - Duration::minutes(10),
            100,
            51,
        ),
    )
    .await;
    let cfg = h.config(&[("syslog", &["h1"])], "BATCH_SIZE: 100\n");

    let service = start_service(cfg, None);
    assert!(
        wait_scored(&coll, 1, StdDuration::from_secs(300)).await,
        "nothing scored before the outage"
    );

    eprintln!("killing the database server");
    ctl.run("kill");
    tokio::time::sleep(StdDuration::from_secs(4)).await;
    assert!(!service.is_finished(), "service stopped during the outage");
    eprintln!("starting the database server again");
    ctl.run("start");

    insert(
        &coll,
        fixture(
            "h1",
            200,
            now - Duration::minutes(9),
            now - Duration::seconds(1),
            100,
            52,
        ),
    )
    .await;
    let all = wait_scored(&coll, 1000, StdDuration::from_secs(180)).await;
    let report = service.stop().await;
    assert!(all, "not every document was scored after the outage");
    let w = &report.workers[0];
    assert!(w.failed.is_none());
    assert!(
        w.stats.db_errors >= 1,
        "the outage went unnoticed: {:?}",
        w.stats
    );
    assert_eq!(
        count(&coll, doc! {"anomaly_score": {"$type": "double"}}).await,
        1000
    );
    eprintln!("database errors retried: {}", w.stats.db_errors);
    h.finish().await;
}
