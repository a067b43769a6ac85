//! (a) Three hosts in two collections, 3,000 documents each with 15 injected incidents
//! (out-of-memory kills, `maximum authentication attempts exceeded`, `user NOT in sudoers`,
//! a new account, a file-system error) *inside the training window*: after `--once` with
//! default settings, every document carries `is_anomaly`, `anomaly_score` and
//! `lad_model_version`; at least 80 % of the incidents are flagged and at most 1 % of the
//! normal documents.

mod common;

use std::time::Instant;

use chrono::{Duration, Utc};
use common::*;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_of_three_hosts_is_scored() {
    let Some(h) = Harness::new("backlog_of_three_hosts_is_scored").await else {
        return;
    };

    let now = Utc::now();
    let hosts = [
        ("syslog", "web-01", 3000, 11),
        ("syslog", "db-01", 3000, 12),
        ("network", "core-sw", 3000, 13),
    ];
    let t0 = Instant::now();
    for (coll, host, n, seed) in hosts {
        let docs = incident_fixture(
            host,
            n,
            now - Duration::hours(6),
            now - Duration::minutes(1),
            15,
            seed,
        );
        insert(&h.db.collection(coll), docs).await;
    }
    // A document of another host in the same collection must stay untouched.
    insert(
        &h.db.collection("syslog"),
        fixture("not-configured", 20, now - Duration::hours(1), now, 0, 14),
    )
    .await;
    eprintln!("fixtures inserted in {:.1}s", t0.elapsed().as_secs_f64());

    let cfg = h.config(
        &[("syslog", &["web-01", "db-01"]), ("network", &["core-sw"])],
        // Default detection settings: no threshold, preset or contamination key.
        "",
    );
    let t1 = Instant::now();
    let report = h.run_once(cfg).await;
    eprintln!("service --once took {:.1}s", t1.elapsed().as_secs_f64());

    assert_eq!(report.workers.len(), 3);
    for w in &report.workers {
        assert!(w.failed.is_none(), "{w:?}");
        assert_eq!(w.stats.scored, 3000, "{}: {:?}", w.source.key(), w.stats);
        assert_eq!(w.stats.skipped_total(), 0);
        assert!(w.model_version.is_some());
    }

    let (mut tp, mut fp, mut anomalies, mut normals) = (0u64, 0u64, 0u64, 0u64);
    for (coll, host, n, _) in hosts {
        let c = h.db.collection::<Document>(coll);
        let base = doc! {"hostname": host};
        assert_eq!(count(&c, base.clone()).await, n as u64);
        let mut scored = base.clone();
        scored.insert("is_anomaly", doc! {"$in": [0, 1]});
        scored.insert("anomaly_score", doc! {"$type": "double"});
        scored.insert("lad_model_version", doc! {"$type": "string"});
        assert_eq!(
            count(&c, scored).await,
            n as u64,
            "{coll}/{host}: not every document scored"
        );
        let docs: Vec<Document> = c
            .find(base)
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("docs");
        for d in docs {
            let flagged = d.get_i32("is_anomaly").expect("is_anomaly is an int32") == 1;
            if d.get_bool("injected").unwrap_or(false) {
                anomalies += 1;
                tp += u64::from(flagged);
                if !flagged {
                    eprintln!(
                        "missed ({host}, score {:.3}): {}",
                        d.get_f64("anomaly_score").unwrap_or(f64::NAN),
                        d.get_str("message").unwrap_or("")
                    );
                }
            } else {
                normals += 1;
                fp += u64::from(flagged);
            }
        }
    }
    let untouched = count(
        &h.db.collection("syslog"),
        doc! {"hostname": "not-configured", "is_anomaly": {"$exists": true}},
    )
    .await;
    assert_eq!(untouched, 0, "a host that is not configured was scored");
    eprintln!(
        "injected anomalies flagged: {tp}/{anomalies}; normal messages flagged: {fp}/{normals}"
    );
    assert_eq!(anomalies, 45, "15 incidents per host");
    assert!(
        tp * 10 >= anomalies * 8,
        "only {tp} of {anomalies} injected incidents flagged"
    );
    assert!(
        fp * 100 <= normals,
        "{fp} of {normals} normal messages flagged"
    );

    // The state documents record where each worker stands.
    let states = count(&h.db.collection("lad_state"), doc! {}).await;
    assert_eq!(states, 3);
    h.finish().await;
}
