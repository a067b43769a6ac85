//! Explanations, feedback and fleet-wide novelty in service mode, against the real server:
//! every anomaly document carries a short `lad_reason`; a `lad_feedback: "normal"` mark on
//! one document stops its kind being flagged (a control host without the mark still flags
//! it), and the mark survives a retrain and a restart; the same new kind on 40 hosts within
//! minutes is exactly one fleet event listing the 40 hosts.

mod common;

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use common::*;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::Collection;

fn oom(i: u64) -> String {
    format!(
        "kernel: Out of memory: Killed process {} (java) total-vm:{}kB, anon-rss:4194304kB",
        4000 + i,
        8_000_000 + i
    )
}

const UNRELATED: &str = "mdadm: DegradedArray event detected on md device /dev/md0";

fn docs(host: &str, messages: &[String]) -> Vec<Document> {
    let t = Utc::now() - Duration::seconds(2);
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let at = t + Duration::milliseconds(i as i64);
            doc! {
                "hostname": host,
                "received_at": mongodb::bson::DateTime::from_millis(at.timestamp_millis()),
                "message": m,
            }
        })
        .collect()
}

async fn flagged(coll: &Collection<Document>, host: &str, like: &str) -> (u64, u64) {
    let all = count(
        coll,
        doc! { "hostname": host, "message": { "$regex": like }, "lad_model_version": { "$exists": true } },
    )
    .await;
    let hit = count(
        coll,
        doc! { "hostname": host, "message": { "$regex": like }, "is_anomaly": 1 },
    )
    .await;
    (hit, all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasons_on_anomalies_and_feedback_that_sticks() {
    let Some(h) = Harness::new("reasons_on_anomalies_and_feedback_that_sticks").await else {
        return;
    };
    let coll = h.coll("syslog");
    let now = Utc::now();
    for (host, seed) in [("h1", 11), ("h2", 11)] {
        let train = fixture(
            host,
            600,
            now - Duration::hours(2),
            now - Duration::minutes(10),
            0,
            seed,
        );
        insert(&coll, train).await;
    }
    let extra = "SWEEP_INTERVAL: 1\n";
    let cfg = h.config(&[("syslog", &["h1", "h2"])], extra);
    let service = h.start(cfg);
    assert!(wait_scored(&coll, 1200, StdDuration::from_secs(120)).await);

    // A new kind appears on both hosts; h1's analyst says it is normal here.
    for host in ["h1", "h2"] {
        insert(&coll, docs(host, &[oom(0)])).await;
    }
    assert!(wait_scored(&coll, 1202, StdDuration::from_secs(60)).await);
    let first = coll
        .find_one(doc! { "hostname": "h1", "message": oom(0) })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.get_i32("is_anomaly").unwrap(), 1, "{first:?}");
    coll.update_one(
        doc! { "_id": first.get("_id").unwrap().clone() },
        doc! { "$set": { "lad_feedback": "normal" } },
    )
    .await
    .unwrap();
    let applied = wait_until(StdDuration::from_secs(60), || async {
        count(&coll, doc! { "lad_feedback_applied": { "$exists": true } }).await == 1
    })
    .await;
    assert!(applied, "the mark was not picked up");

    // The next 100 of the kind on both hosts, and an unrelated new kind.
    for host in ["h1", "h2"] {
        let mut m: Vec<String> = (1..=100).map(oom).collect();
        m.push(UNRELATED.to_string());
        insert(&coll, docs(host, &m)).await;
    }
    assert!(wait_scored(&coll, 1404, StdDuration::from_secs(120)).await);
    let report = service.stop().await;
    let (h1_hit, h1_all) = flagged(&coll, "h1", "Out of memory").await;
    let (h2_hit, _) = flagged(&coll, "h2", "Out of memory").await;
    assert_eq!(h1_all, 101);
    // The first (marked) document was scored before the mark: 0 of the next 100 flagged.
    assert_eq!(
        h1_hit, 1,
        "after the mark, 0 of the next 100 of its kind are flagged"
    );
    assert!(
        h2_hit >= 2,
        "the control host still flags the kind ({h2_hit})"
    );
    assert_eq!(
        flagged(&coll, "h1", "DegradedArray").await.0,
        1,
        "unrelated still flagged"
    );
    assert_eq!(report.totals().feedback_applied, 1);

    // lad_reason on every anomaly, short.
    let anomalies: Vec<Document> = coll
        .find(doc! { "is_anomaly": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(!anomalies.is_empty());
    let mut sizes: Vec<usize> = Vec::new();
    for d in &anomalies {
        let r = d
            .get_document("lad_reason")
            .unwrap_or_else(|_| panic!("no lad_reason: {d:?}"));
        assert!(r.get_str("why").is_ok() && r.get("of").is_some(), "{r:?}");
        sizes.push(serde_json::to_string(r).unwrap().len());
    }
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2];
    assert!(median <= 300, "median lad_reason {median} bytes");
    let quiet = count(
        &coll,
        doc! { "is_anomaly": 0, "lad_reason": { "$exists": true } },
    )
    .await;
    assert_eq!(quiet, 0, "reasons only on anomalies unless REASON_FOR_ALL");

    // Retrain (a fresh model directory) and restart: the mark still holds.
    let fresh = tempfile::tempdir().unwrap();
    let yaml = h.yaml(&[("syslog", &["h1", "h2"])], extra);
    let yaml = yaml.replace(
        &format!("MODEL_BASE_DIR: \"{}\"", h.models.path().display()),
        &format!("MODEL_BASE_DIR: \"{}\"", fresh.path().display()),
    );
    assert!(yaml.contains(&fresh.path().display().to_string()));
    let before: Vec<mongodb::bson::Bson> = coll
        .distinct("lad_model_version", doc! { "hostname": "h1" })
        .await
        .unwrap();
    let service = h.start(config(&yaml));
    let m: Vec<String> = (101..=200).map(oom).collect();
    insert(&coll, docs("h1", &m)).await;
    assert!(wait_scored(&coll, 1504, StdDuration::from_secs(120)).await);
    let report = service.stop().await;
    assert!(report.totals().trainings >= 1, "{:?}", report.totals());
    let after: Vec<mongodb::bson::Bson> = coll
        .distinct("lad_model_version", doc! { "hostname": "h1" })
        .await
        .unwrap();
    assert!(
        after.len() > before.len(),
        "a new model version scored: {after:?}"
    );
    let (h1_hit, h1_all) = flagged(&coll, "h1", "Out of memory").await;
    assert_eq!(h1_all, 201);
    assert_eq!(h1_hit, 1, "the mark survives the retrain and the restart");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_new_kind_on_40_hosts_is_one_fleet_event() {
    let Some(h) = Harness::new("the_same_new_kind_on_40_hosts_is_one_fleet_event").await else {
        return;
    };
    let coll = h.coll("syslog");
    let now = Utc::now();
    let hosts: Vec<String> = (0..40).map(|i| format!("web{i:02}")).collect();
    for (i, host) in hosts.iter().enumerate() {
        let train = fixture(
            host,
            100,
            now - Duration::hours(2),
            now - Duration::minutes(15),
            0,
            100 + i as u64,
        );
        insert(&coll, train).await;
    }
    let refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
    // 40 workers polling every second would keep the single-threaded test server busy:
    // poll rarely and let the change stream wake the workers.
    let yaml = h
        .yaml(
            &[("syslog", &refs)],
            "FLEET_MIN_HOSTS: 5\nFLEET_WINDOW: 600\nSWEEP_INTERVAL: 300\n",
        )
        .replace("POLL_INTERVAL: 1\n", "POLL_INTERVAL: 60\n");
    let cfg = config(&yaml);
    let t0 = std::time::Instant::now();
    let service = h.start(cfg);
    assert!(wait_scored(&coll, 4000, StdDuration::from_secs(400)).await);
    eprintln!(
        "40 hosts trained and their backlog scored in {:?}",
        t0.elapsed()
    );
    // A new error kind reaching the whole fleet (a bad deploy, an expired certificate).
    let new_kind =
        "vault-agent: FATAL: certificate verify failed for upstream vault.internal: unknown issuer";
    for host in &hosts {
        insert(&coll, docs(host, &[new_kind.to_string()])).await;
    }
    assert!(wait_scored(&coll, 4040, StdDuration::from_secs(120)).await);
    eprintln!("new kind scored on 40 hosts after {:?}", t0.elapsed());
    let tagged = wait_until(StdDuration::from_secs(60), || async {
        count(&coll, doc! { "lad_fleet_event": { "$exists": true } }).await == 40
    })
    .await;
    let report = service.stop().await;
    let flagged_new = count(&coll, doc! { "message": new_kind, "is_anomaly": 1 }).await;
    assert_eq!(flagged_new, 40, "every host flags the new kind");
    let events: Vec<Document> = h
        .coll("lad_fleet_events")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "exactly one fleet event: {events:?}");
    let ev = &events[0];
    assert!(ev.get_bool("raised").unwrap());
    assert_eq!(ev.get_array("hosts").unwrap().len(), 40);
    assert_eq!(ev.get_i64("count").unwrap(), 40);
    assert!(tagged, "all 40 documents tagged with the event");
    let id = ev.get_str("_id").unwrap();
    assert_eq!(count(&coll, doc! { "lad_fleet_event": id }).await, 40);
    assert_eq!(report.totals().fleet_events, 1, "/metrics counts one event");
    // The HTML report of the service lists it.
    let q = lad::service::serve::report_source::ReportQuery {
        since: now - Duration::hours(3),
        hosts: vec![],
        max_points: 10_000,
        title: None,
    };
    let data = lad::service::serve::report_source::report_data(&config(&yaml), &h.client, &q)
        .await
        .expect("report data");
    assert_eq!(data.fleet_events.len(), 1);
    assert_eq!(data.fleet_events[0].hosts, 40);
    assert!(lad::report::render_html(&data).contains("<h2>Fleet events</h2>"));
    h.finish().await;
}
