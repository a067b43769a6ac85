//! (f) Round trips: scoring and writing back 1,000 new documents costs one read that
//! returns them all (no getMore), one `update` command with 1,000 statements, and one
//! state update, counted with the driver's command monitoring.

mod common;

use std::time::Instant;

use chrono::{Duration, Utc};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_documents_cost_three_commands() {
    let Some(h) = Harness::monitored("thousand_documents_cost_three_commands").await else {
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
            41,
        ),
    )
    .await;
    let cfg = h.config(&[("syslog", &["h1"])], "");

    // Train and score the initial backlog.
    h.run_once(cfg.clone()).await;

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
    h.log.take();
    let t0 = Instant::now();
    let report = h.run_once(cfg).await;
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(report.workers[0].stats.scored, 1000);

    let cmds: Vec<_> = h
        .log
        .take()
        .into_iter()
        .filter(|c| c.db == h.db_name)
        .collect();
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
    // Resume-point saves; the other state commands are the lease's (acquire, heartbeat,
    // release), a fixed cost per run, not per batch.
    let state_updates = cmds
        .iter()
        .filter(|c| {
            c.name == "update"
                && c.target == "lad_state"
                && c.sets.iter().any(|k| k == "last_datetime")
        })
        .count();
    let lease_commands = cmds.iter().filter(|c| c.target == "lad_state").count() - state_updates;
    assert_eq!(reads_with_docs.len(), 1, "reads returning documents");
    assert_eq!(reads_with_docs[0].name, "find");
    assert_eq!(reads_with_docs[0].returned, 1000);
    assert_eq!(get_mores, 0);
    assert_eq!(updates.len(), 1, "update commands on the log collection");
    assert_eq!(updates[0].statements, 1000);
    assert_eq!(state_updates, 1);
    // Lease rounds run every LEASE_TIME / 3 (10 s by default) whatever the traffic: a few
    // commands each, plus acquire, resume-point read and release once per run.
    let rounds = (secs / 10.0).ceil() as usize + 1;
    assert!(
        lease_commands <= 4 + 4 * rounds,
        "lease bookkeeping should be a few commands per lease round, got {lease_commands} in {rounds} rounds"
    );
    eprintln!(
        "1000 documents: {} commands for the batch (find + update + state update); {} commands in the whole run \
         (start-up, lease bookkeeping ({lease_commands}), the sweep and the final empty poll included); {secs:.1}s wall time against the test server",
        reads_with_docs.len() + updates.len() + state_updates,
        cmds.len()
    );
    h.finish().await;
}
