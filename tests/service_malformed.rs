//! (d) Malformed documents are marked with `lad_skipped: "<reason>"`, counted per reason,
//! and never stop the worker; edge cases that can be scored (empty string, 1 MiB message,
//! RFC 3339 string timestamp) are scored.

mod common;

use chrono::{Duration, Utc};
use common::*;
use mongodb::bson::{doc, Bson, DateTime, Document};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_documents_are_marked_and_counted() {
    let Some(h) = Harness::new("malformed_documents_are_marked_and_counted").await else {
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
            31,
        ),
    )
    .await;

    let t = |m: i64| DateTime::from_millis((now - Duration::minutes(m)).timestamp_millis());
    let rfc3339 = (now - Duration::minutes(3)).to_rfc3339();
    let bad: Vec<(&str, Document)> = vec![
        ("no message", doc! {"hostname": "h1", "received_at": t(30)}),
        (
            "null message",
            doc! {"hostname": "h1", "received_at": t(29), "message": Bson::Null},
        ),
        (
            "number",
            doc! {"hostname": "h1", "received_at": t(28), "message": 42},
        ),
        (
            "object",
            doc! {"hostname": "h1", "received_at": t(27), "message": {"text": "hi"}},
        ),
        (
            "array",
            doc! {"hostname": "h1", "received_at": t(26), "message": ["a", "b"]},
        ),
        (
            "empty",
            doc! {"hostname": "h1", "received_at": t(25), "message": ""},
        ),
        (
            "huge",
            doc! {"hostname": "h1", "received_at": t(24), "message": "A".repeat(1 << 20)},
        ),
        (
            "no timestamp",
            doc! {"hostname": "h1", "message": "sshd[1]: Accepted publickey for root"},
        ),
        (
            "null timestamp",
            doc! {"hostname": "h1", "message": "CRON[2]: session closed", "received_at": Bson::Null},
        ),
        (
            "garbage timestamp",
            doc! {"hostname": "h1", "message": "CRON[3]: session closed", "received_at": "yesterday-ish"},
        ),
        (
            "numeric timestamp",
            doc! {"hostname": "h1", "message": "CRON[4]: session closed", "received_at": 1_700_000_000},
        ),
        (
            "rfc3339 timestamp",
            doc! {"hostname": "h1", "message": "CRON[5]: session closed for user root", "received_at": rfc3339},
        ),
        (
            "after the bad ones",
            doc! {"hostname": "h1", "received_at": t(1), "message": "systemd[1]: Started Session 7 of user bob."},
        ),
    ];
    let mut ids = Vec::new();
    for (name, d) in &bad {
        let r = coll.insert_one(d.clone()).await.expect("insert");
        ids.push((*name, r.inserted_id));
    }

    let cfg = h.config(&[("syslog", &["h1"])], "BATCH_SIZE: 100\n");
    let report = h.run_once(cfg).await;
    let w = &report.workers[0];
    assert!(w.failed.is_none());
    let expect_skipped = [
        ("message_missing", 2),
        ("message_not_string", 3),
        ("datetime_missing", 2),
        ("datetime_unparseable", 1),
        ("datetime_not_date", 1),
    ];
    for (k, n) in expect_skipped {
        assert_eq!(
            w.stats.skipped.get(k).copied().unwrap_or(0),
            n,
            "skip counter {k}: {:?}",
            w.stats
        );
    }
    assert_eq!(w.stats.skipped_total(), 9);
    assert_eq!(w.stats.scored, 300 + 4, "{:?}", w.stats);
    assert_eq!(w.stats.truncated, 1);

    let reason = |name: &str| {
        let coll = coll.clone();
        let id = ids
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| id.clone())
            .expect("known doc");
        async move {
            let d = coll
                .find_one(doc! {"_id": id})
                .projection(doc! {"message": 0})
                .await
                .expect("find")
                .expect("doc");
            (
                d.get_str("lad_skipped").ok().map(str::to_string),
                d.get_i32("is_anomaly").ok(),
            )
        }
    };
    for (label, expected) in [
        ("no message", "message missing"),
        ("number", "message not a string"),
        ("object", "message not a string"),
        ("array", "message not a string"),
        ("no timestamp", "datetime missing"),
        ("garbage timestamp", "datetime unparseable"),
        ("numeric timestamp", "datetime not a date"),
    ] {
        assert_eq!(reason(label).await.0.as_deref(), Some(expected), "{label}");
    }
    for scored in ["empty", "huge", "rfc3339 timestamp", "after the bad ones"] {
        let (skip, flag) = reason(scored).await;
        assert_eq!(skip, None, "{scored} was skipped");
        assert!(flag.is_some(), "{scored} was not scored");
    }

    // The worker's counters are also in its state document.
    let state =
        h.db.collection::<Document>("lad_state")
            .find_one(doc! {"_id": "syslog/h1"})
            .await
            .expect("state")
            .expect("state doc");
    let skipped = state
        .get_document("stats")
        .and_then(|s| s.get_document("skipped"))
        .expect("stats.skipped");
    assert_eq!(skipped.get_i64("message_not_string").ok(), Some(3));

    // A second pass finds nothing left to do.
    let cfg = h.config(&[("syslog", &["h1"])], "");
    let again = h.run_once(cfg).await;
    assert_eq!(
        again.workers[0].stats.scored + again.workers[0].stats.skipped_total(),
        0
    );
    h.finish().await;
}
