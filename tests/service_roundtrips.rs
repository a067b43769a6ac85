//! (f) Round trips: scoring and writing back 1,000 new documents costs one read that
//! returns them all (no getMore), one `update` command with 1,000 statements, and one
//! state update, counted with the driver's command monitoring.

mod common;

use std::time::Instant;

use chrono::{Duration, Utc};
use common::*;
use lad::service::{run_with, RunOptions};
use mongodb::bson::Document;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_documents_cost_three_commands() {
    let Some(uri) = mongo_uri("thousand_documents_cost_three_commands") else {
        return;
    };
    init_tracing();
    let db_name = unique_db("roundtrips");
    let log = CommandLog::default();
    let client = monitored_client(&uri, &log).await;
    let db = client.database(&db_name);
    let coll = db.collection::<Document>("syslog");
    let models = tempfile::tempdir().expect("tempdir");
    let now = Utc::now();
    insert(
        &coll,
        fixture(
            "h1",
            300,
            now - Duration::hours(2),
            now - Duration::hours(1),
            0,
            41,
        ),
    )
    .await;
    let cfg = config(&yaml(
        &uri,
        &db_name,
        models.path(),
        &[("syslog", &["h1"])],
        "",
    ));

    // Train and score the initial backlog.
    run_with(
        cfg.clone(),
        RunOptions {
            once: true,
            client: Some(client.clone()),
        },
        std::future::pending(),
    )
    .await
    .expect("first run");

    insert(
        &coll,
        fixture(
            "h1",
            1000,
            now - Duration::minutes(50),
            now - Duration::minutes(1),
            100,
            42,
        ),
    )
    .await;
    log.take();
    let t0 = Instant::now();
    let report = run_with(
        cfg,
        RunOptions {
            once: true,
            client: Some(client.clone()),
        },
        std::future::pending(),
    )
    .await
    .expect("second run");
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(report.workers[0].stats.scored, 1000);

    let cmds: Vec<_> = log.take().into_iter().filter(|c| c.db == db_name).collect();
    for c in &cmds {
        eprintln!(
            "{} {} statements={} returned={}",
            c.name, c.target, c.statements, c.returned
        );
    }
    let reads_with_docs: Vec<_> = cmds
        .iter()
        .filter(|c| c.target == "syslog" && c.returned > 0)
        .collect();
    let get_mores = cmds.iter().filter(|c| c.name == "getMore").count();
    let updates: Vec<_> = cmds
        .iter()
        .filter(|c| c.name == "update" && c.target == "syslog")
        .collect();
    let state_updates = cmds
        .iter()
        .filter(|c| c.name == "update" && c.target == "lad_state")
        .count();
    assert_eq!(reads_with_docs.len(), 1, "reads returning documents");
    assert_eq!(reads_with_docs[0].name, "find");
    assert_eq!(reads_with_docs[0].returned, 1000);
    assert_eq!(get_mores, 0);
    assert_eq!(updates.len(), 1, "update commands on the log collection");
    assert_eq!(updates[0].statements, 1000);
    assert_eq!(state_updates, 1);
    eprintln!(
        "1000 documents: {} commands for the batch (find + update + state update); {} commands in the whole run \
         (start-up and the final empty poll included); {secs:.1}s wall time against the test server",
        reads_with_docs.len() + updates.len() + state_updates,
        cmds.len()
    );
    db.drop().await.expect("drop test db");
}
