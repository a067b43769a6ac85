//! SIGTERM: the `lad run` binary finishes the batch in flight, saves its resume point and
//! exits with status 0.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use common::*;
use mongodb::bson::{doc, Document};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_with_status_zero() {
    let Some(h) = Harness::new("sigterm_stops_cleanly_with_status_zero").await else {
        return;
    };
    let coll = h.coll("syslog");
    let now = Utc::now();
    insert(
        &coll,
        fixture(
            "h1",
            400,
            now - Duration::hours(2),
            now - Duration::minutes(1),
            100,
            61,
        ),
    )
    .await;
    let path = h.models.path().join("lad.yaml");
    let cfg = yaml(
        &h.uri,
        &h.db_name,
        &h.models.path().join("m"),
        &[("syslog", &["h1"])],
        "BATCH_SIZE: 100\n",
    );
    std::fs::write(&path, cfg).expect("write config");

    let child = Command::new(env!("CARGO_BIN_EXE_lad"))
        .args(["run", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lad");
    let all = wait_scored(&coll, 400, StdDuration::from_secs(300)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait for lad");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(all, "not all documents scored; lad said:\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "lad said:\n{stderr}");
    let state =
        h.db.collection::<Document>("lad_state")
            .find_one(doc! {"_id": "syslog/h1"})
            .await
            .expect("state")
            .expect("resume point saved");
    assert!(state.get_datetime("last_datetime").is_ok());
    h.finish().await;
}
