//! The aggregator against a real MongoDB-wire server (`LAD_TEST_MONGO_URI`): clusters,
//! templates, statistics and back-links; idempotence; crash recovery; the schedule.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use futures_util::TryStreamExt;
use lad::aggregate::{run_once, run_with, CrashPoint, RunOptions};
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::{Client, Collection};

struct Env {
    client: Client,
    logs: Collection<Document>,
    aggs: Collection<Document>,
    yaml: String,
    expected: Vec<Expected>,
}

async fn setup(test: &str, uri: &str, log: Option<&CommandLog>) -> Env {
    let db = unique_db(test);
    let client = client(uri, log).await;
    let logs = client.database(&db).collection::<Document>("logs");
    let (docs, expected) = fixture(DateTime::now().timestamp_millis());
    logs.insert_many(docs).await.expect("insert fixture");
    Env {
        aggs: client.database(&db).collection("logs_aggregated"),
        client,
        logs,
        yaml: yaml(uri, &db, ""),
        expected,
    }
}

async fn all(c: &Collection<Document>) -> Vec<Document> {
    c.find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("collect")
}

/// Every expected aggregate exists exactly once, complete, with the right numbers, and every
/// anomaly of the window links to its aggregate; nothing else is touched.
async fn check_aggregates(env: &Env) {
    let aggs = all(&env.aggs).await;
    let logs = all(&env.logs).await;
    let link: HashMap<i32, Bson> = logs
        .iter()
        .filter_map(|d| {
            Some((
                d.get_i32("_id").ok()?,
                d.get("aggregated_message_id")?.clone(),
            ))
        })
        .collect();
    assert_eq!(aggs.len(), env.expected.len(), "aggregates: {aggs:#?}");
    for e in &env.expected {
        let matching: Vec<&Document> = aggs
            .iter()
            .filter(|a| a.get_str("message") == Ok(e.template.as_str()))
            .collect();
        assert_eq!(matching.len(), 1, "template {:?} in {aggs:#?}", e.template);
        let a = matching[0];
        assert_eq!(a.get_str("status"), Ok("complete"));
        assert!(
            a.get("source_ids").is_none(),
            "source_ids left on a complete aggregate: {a:?}"
        );
        assert_eq!(a.get_str("source_collection"), Ok("logs"));
        assert_eq!(a.get_i64("total_logs"), Ok(e.ids.len() as i64), "{a:?}");
        assert_eq!(
            a.get_datetime("average_datetime")
                .expect("date")
                .timestamp_millis(),
            e.average_datetime_ms,
            "{a:?}"
        );
        let score = a.get_f64("average_anomaly_score").expect("score");
        assert!(
            (score - e.average_score).abs() < 1e-9,
            "{score} vs {}",
            e.average_score
        );
        assert_eq!(a.get_str("most_frequent_hostname"), Ok(e.hostname.as_str()));
        assert!(a.get_datetime("was_added_at").is_ok());
        let id = a.get("_id").expect("_id");
        for m in &e.ids {
            assert_eq!(link.get(m), Some(id), "document {m} should link to {id}");
        }
    }
    // Untouched: 100 (not an anomaly), 101 (too old), 102 (no message), 104 (not scored),
    // 105 (too old, string date).
    for id in [100, 101, 102, 104, 105] {
        assert!(!link.contains_key(&id), "document {id} was linked");
    }
    assert_eq!(link.get(&103), Some(&Bson::String("earlier".into())));
}

#[tokio::test]
async fn three_families_and_noise_then_nothing_new() {
    let Some(uri) = mongo_uri("three_families_and_noise_then_nothing_new") else {
        return;
    };
    let log = CommandLog::default();
    let env = setup("families", &uri, Some(&log)).await;
    log.take();
    let cfg = config(&env.yaml);
    let report = run_once(&env.client, &cfg, None).await.expect("run");
    let p = &report.pairs[0];
    assert_eq!(
        (p.anomalies, p.aggregates, p.clusters, p.linked, p.skipped),
        (18, 6, 3, 18, 1),
        "{p:?}"
    );
    check_aggregates(&env).await;

    // Round trips: one insert for all aggregates, one update command for all back-links,
    // one update marking them complete.
    let cmds = log.take();
    let count =
        |name: &str, coll: &str| cmds.iter().filter(|(n, c)| n == name && c == coll).count();
    assert_eq!(count("insert", "logs_aggregated"), 1, "{cmds:?}");
    assert_eq!(count("update", "logs"), 1, "{cmds:?}");
    assert_eq!(count("update", "logs_aggregated"), 1, "{cmds:?}");

    // A second run finds nothing new and writes nothing.
    let again = run_once(&env.client, &cfg, None).await.expect("second run");
    assert_eq!(
        (again.pairs[0].anomalies, again.pairs[0].aggregates),
        (0, 0)
    );
    check_aggregates(&env).await;
    let cmds = log.take();
    assert!(
        !cmds.iter().any(|(n, _)| n == "insert" || n == "update"),
        "{cmds:?}"
    );
}

#[tokio::test]
async fn crash_after_insert_is_finished_by_the_next_run() {
    let Some(uri) = mongo_uri("crash_after_insert_is_finished_by_the_next_run") else {
        return;
    };
    let env = setup("crash_insert", &uri, None).await;
    let cfg = config(&env.yaml);
    let err = run_once(&env.client, &cfg, Some(CrashPoint::AfterInsert))
        .await
        .expect_err("crash");
    assert!(err.to_string().contains("simulated crash"), "{err}");
    let pending = all(&env.aggs).await;
    assert_eq!(pending.len(), 6);
    assert!(pending
        .iter()
        .all(|a| a.get_str("status") == Ok("pending") && a.get_array("source_ids").is_ok()));
    let linked = env
        .logs
        .count_documents(doc! { "aggregated_message_id": { "$exists": true } })
        .await
        .expect("count");
    assert_eq!(linked, 1, "only the fixture's pre-linked document");

    let report = run_once(&env.client, &cfg, None)
        .await
        .expect("recovering run");
    let p = &report.pairs[0];
    assert_eq!(
        (
            p.recovered_finished,
            p.recovered_rolled_back,
            p.anomalies,
            p.aggregates
        ),
        (6, 0, 0, 0),
        "{p:?}"
    );
    check_aggregates(&env).await;
}

#[tokio::test]
async fn crash_after_link_is_completed_by_the_next_run() {
    let Some(uri) = mongo_uri("crash_after_link_is_completed_by_the_next_run") else {
        return;
    };
    let env = setup("crash_link", &uri, None).await;
    let cfg = config(&env.yaml);
    run_once(&env.client, &cfg, Some(CrashPoint::AfterLink))
        .await
        .expect_err("crash");
    assert_eq!(
        env.aggs
            .count_documents(doc! { "status": "pending" })
            .await
            .expect("count"),
        6
    );
    let report = run_once(&env.client, &cfg, None)
        .await
        .expect("recovering run");
    assert_eq!(
        (
            report.pairs[0].recovered_finished,
            report.pairs[0].anomalies
        ),
        (6, 0)
    );
    check_aggregates(&env).await;
}

#[tokio::test]
async fn pending_aggregate_with_a_conflict_is_rolled_back_and_redone() {
    let Some(uri) = mongo_uri("pending_aggregate_with_a_conflict_is_rolled_back_and_redone") else {
        return;
    };
    let env = setup("crash_conflict", &uri, None).await;
    let cfg = config(&env.yaml);
    run_once(&env.client, &cfg, Some(CrashPoint::AfterInsert))
        .await
        .expect_err("crash");
    // Meanwhile something else aggregated document 7 (an sshd line) and then unlinked it
    // again — the pending sshd aggregate can no longer be finished as written.
    let other = mongodb::bson::oid::ObjectId::new();
    env.logs
        .update_one(
            doc! { "_id": 7 },
            doc! { "$set": { "aggregated_message_id": other } },
        )
        .await
        .expect("set");
    env.logs
        .update_one(
            doc! { "_id": 7 },
            doc! { "$unset": { "aggregated_message_id": "" } },
        )
        .await
        .expect("unset");
    env.logs
        .update_one(
            doc! { "_id": 8 },
            doc! { "$set": { "aggregated_message_id": other } },
        )
        .await
        .expect("set");
    let report = run_once(&env.client, &cfg, None)
        .await
        .expect("recovering run");
    let p = &report.pairs[0];
    assert_eq!(
        (p.recovered_finished, p.recovered_rolled_back),
        (5, 1),
        "{p:?}"
    );
    // The rolled-back aggregate's other anomalies (7, 9, 10, 11) were aggregated again.
    assert_eq!(p.anomalies, 4, "{p:?}");
    let sshd: Vec<Document> = all(&env.aggs)
        .await
        .into_iter()
        .filter(|a| {
            a.get_str("message")
                .is_ok_and(|m| m.contains("Failed password"))
        })
        .collect();
    assert_eq!(sshd.len(), 1, "{sshd:#?}");
    assert_eq!(sshd[0].get_i64("total_logs"), Ok(4));
    assert_eq!(sshd[0].get_str("status"), Ok("complete"));
    // No document links to a deleted aggregate, and counts add up.
    let ids: Vec<Bson> = all(&env.aggs)
        .await
        .iter()
        .map(|a| a.get("_id").expect("_id").clone())
        .collect();
    let dangling = env
        .logs
        .count_documents(doc! { "aggregated_message_id": { "$exists": true, "$nin": ids.clone() }, "_id": { "$nin": [8, 103] } })
        .await
        .expect("count");
    assert_eq!(dangling, 0);
    let total: i64 = all(&env.aggs)
        .await
        .iter()
        .map(|a| a.get_i64("total_logs").expect("total"))
        .sum();
    let linked = env
        .logs
        .count_documents(doc! { "aggregated_message_id": { "$in": ids } })
        .await
        .expect("count");
    assert_eq!(total as u64, linked);
    assert_eq!(total, 17);
}

#[tokio::test]
async fn schedule_fires() {
    let Some(uri) = mongo_uri("schedule_fires") else {
        return;
    };
    let env = setup("schedule", &uri, None).await;
    let cfg = config(&format!("{}AGGR_SCHEDULE: \"*/2 * * * * *\"\n", env.yaml));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let opts = RunOptions {
        client: Some(env.client.clone()),
        ..Default::default()
    };
    let task = tokio::spawn(run_with(cfg, opts, async move {
        let _ = stop_rx.await;
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let done = env
            .aggs
            .count_documents(doc! { "status": "complete" })
            .await
            .expect("count");
        if done == env.expected.len() as u64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the schedule did not aggregate within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = stop_tx.send(());
    let report = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("stops")
        .expect("join")
        .expect("run");
    assert!(!report.runs.is_empty());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    check_aggregates(&env).await;
}
