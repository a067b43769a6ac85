//! New documents are scored right away where the server offers change streams: with a
//! two-minute poll interval, a document inserted while the worker is idle is scored within
//! seconds. (Polling stays the source of truth; the stream only wakes the worker.)

mod common;

use chrono::{Duration, Utc};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_wake_the_worker_before_the_poll_interval() {
    let Some(h) = Harness::new("inserts_wake_the_worker_before_the_poll_interval").await else {
        return;
    };
    let coll = h.coll("syslog");
    let now = Utc::now();
    insert(
        &coll,
        fixture(
            "h1",
            300,
            now - Duration::hours(2),
            now - Duration::hours(1),
            0,
            7,
        ),
    )
    .await;
    let yaml = h
        .yaml(&[("syslog", &["h1"])], "")
        .replace("POLL_INTERVAL: 1\n", "POLL_INTERVAL: 120\n");
    let service = start_service(config(&yaml), Some(h.client.clone()));
    let backlog = wait_scored(&coll, 300, std::time::Duration::from_secs(60)).await;
    assert!(backlog, "backlog not scored");
    // Let the worker go idle on its two-minute wait, with the stream open.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let fresh = fixture("h1", 5, Utc::now() - Duration::seconds(1), Utc::now(), 0, 8);
    insert(&coll, fresh).await;
    let all_scored = wait_scored(&coll, 305, std::time::Duration::from_secs(30)).await;
    let report = service.stop().await;
    assert!(
        all_scored,
        "documents inserted while idle were not scored within 30 s"
    );
    assert_eq!(report.totals().scored, 305);
}
