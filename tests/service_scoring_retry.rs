//! `scoring failed` is not permanent on the first failure: a document the engine fails on
//! (here through the `LAD_TEST_SCORING_PANIC` hook, since the engine itself never panics on
//! input) keeps its reason in `lad_scoring_error`, counts its failures in
//! `lad_scoring_failures`, and is retried by the sweep until it is scored or
//! `SCORING_MAX_ATTEMPTS` is reached; then it is marked `lad_skipped: "scoring failed"` and
//! left alone.

mod common;

use chrono::{Duration, Utc};
use common::*;
use mongodb::bson::{doc, Bson, Document};

fn int(d: &Document, k: &str) -> i64 {
    match d.get(k) {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        _ => -1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_scoring_is_retried_a_bounded_number_of_times_with_the_reason() {
    // Read once per process, before the first document is scored; this binary has one test.
    std::env::set_var(lad::service::PANIC_HOOK_ENV, "poison-always|flaky-twice:2");
    let Some(h) =
        Harness::new("failed_scoring_is_retried_a_bounded_number_of_times_with_the_reason").await
    else {
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
            5,
        ),
    )
    .await;
    let service = h.start(h.config(
        &[("syslog", &["h1"])],
        "SWEEP_INTERVAL: 1\nSCORING_MAX_ATTEMPTS: 3\n",
    ));
    assert!(
        wait_scored(&coll, 300, std::time::Duration::from_secs(60)).await,
        "backlog not scored"
    );
    let t = mongodb::bson::DateTime::from_millis(Utc::now().timestamp_millis());
    let mut r = Rng::new(6);
    for (tag, msg) in [
        ("poison", "app[7]: poison-always payload".to_string()),
        ("flaky", "app[8]: flaky-twice payload".to_string()),
        ("normal", normal_message(&mut r)),
    ] {
        coll.insert_one(doc! { "hostname": "h1", "received_at": t, "message": msg, "tag": tag })
            .await
            .expect("insert");
    }
    let settled = wait_until(std::time::Duration::from_secs(30), || async {
        count(&coll, doc! { "tag": "poison", "lad_skipped": "scoring failed" }).await == 1
            && count(
                &coll,
                doc! { "tag": { "$in": ["flaky", "normal"] }, "lad_model_version": { "$exists": true } },
            )
            .await
                == 2
    })
    .await;
    // Three more sweeps: the given-up document is not tried again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let report = service.stop().await;
    let get = |tag: &'static str| {
        let coll = coll.clone();
        async move {
            coll.find_one(doc! { "tag": tag })
                .await
                .expect("find")
                .expect("document")
        }
    };
    let (poison, flaky, normal) = (get("poison").await, get("flaky").await, get("normal").await);
    assert!(
        settled,
        "not settled within 30 s: {poison:?} {flaky:?} {normal:?}"
    );

    assert_eq!(poison.get_str("lad_skipped").ok(), Some("scoring failed"));
    assert_eq!(int(&poison, "lad_scoring_failures"), 3, "{poison:?}");
    let reason = poison.get_str(lad::service::ERROR_FIELD).unwrap_or("");
    assert!(
        reason.contains("the engine panicked") && reason.contains("poison-always"),
        "reason kept: {reason:?}"
    );
    assert!(poison.get("lad_model_version").is_none());

    assert!(flaky.get_str("lad_model_version").is_ok(), "{flaky:?}");
    assert_eq!(int(&flaky, "lad_scoring_failures"), 2, "{flaky:?}");
    assert!(flaky.get("lad_skipped").is_none());

    assert!(normal.get_str("lad_model_version").is_ok(), "{normal:?}");
    assert!(normal.get("lad_scoring_failures").is_none());

    let t = report.totals();
    assert_eq!(t.scoring_failures, 5, "{t:?}");
    assert_eq!(t.retry_scored, 1, "{t:?}");
    assert_eq!(t.skipped.get("scoring_failed").copied(), Some(1), "{t:?}");
    assert_eq!(t.scored, 302, "{t:?}");
    h.finish().await;
}
