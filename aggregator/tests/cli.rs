//! The `lad-aggregator` binary: configuration errors name the key (no database needed),
//! the password never reaches the output, `run --once` works end to end, `bench` prints
//! JSON.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, DateTime, Document};

fn lad_aggregator(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lad-aggregator"))
        .args(args)
        .env_remove("LAD_MG_URI")
        .env_remove("LAD_MG_USER")
        .env_remove("LAD_MG_PASSWORD")
        .env("LAD_LOG", "info")
        .output()
        .expect("run lad-aggregator");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_config(yaml: &str, once: bool) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aggregator.yaml");
    std::fs::write(&path, yaml).expect("write config");
    let p = path.to_str().expect("utf-8 path");
    let mut args = vec!["run", "--config-yaml", p];
    if once {
        args.push("--once");
    }
    let (code, out, err) = lad_aggregator(&args);
    (code, format!("{out}{err}"))
}

fn rejects(yaml: &str, expect: &str) {
    let (code, text) = run_config(yaml, true);
    assert_ne!(code, 0, "accepted:\n{yaml}\noutput:\n{text}");
    assert!(text.contains(expect), "expected {expect:?} in:\n{text}");
    assert!(!text.contains("hunter2-secret"), "password leaked:\n{text}");
}

const BASE: &str = "MG_INPUT_DB: logs\nMG_PASSWORD: hunter2-secret\nMG_USER: lad\n";

#[test]
fn mismatched_collection_lists_name_both_keys() {
    let (code, text) = run_config(
        &format!("{BASE}MG_INPUT_COLS: [a, b, c]\nMG_TARGET_COLS: [x, z]\n"),
        true,
    );
    assert_ne!(code, 0);
    assert!(
        text.contains("MG_TARGET_COLS: expected one target collection per MG_INPUT_COLS entry"),
        "{text}"
    );
    assert!(!text.contains("hunter2-secret"), "{text}");
}

#[test]
fn invalid_values_name_the_key_and_the_expected_form() {
    let cols = "MG_INPUT_COLS: [a]\nMG_TARGET_COLS: [b]\n";
    rejects(
        &format!("{cols}MG_PASSWORD: hunter2-secret\n"),
        "MG_INPUT_DB: required key is missing",
    );
    rejects(
        &format!("{BASE}{cols}AGGR_EPS: wide\n"),
        "AGGR_EPS: expected a positive number, got \"wide\"",
    );
    rejects(
        &format!("{BASE}{cols}AGGR_MIN_SAMPLES: 1\n"),
        "AGGR_MIN_SAMPLES: expected an integer from 2 to 100000, got 1",
    );
    rejects(
        &format!("{BASE}{cols}AGGR_SCHEDULE: \"0 15 * * *\"\n"),
        "AGGR_SCHEDULE: expected a 6-field cron expression",
    );
    rejects(
        &format!("{BASE}{cols}AGGR_TIME_SPAN: -5\n"),
        "AGGR_TIME_SPAN: expected a positive number",
    );
    rejects(
        &format!("{BASE}{cols}MG_CA_CERT: /nonexistent/ca.pem\n"),
        "MG_CA_CERT: cannot read CA file /nonexistent/ca.pem",
    );
    rejects(
        &format!("{BASE}{cols}MG_URI: \"http://lad:hunter2-secret@db/\"\n"),
        "MG_URI: expected",
    );
    rejects(
        &format!("{BASE}MG_TARGET_COLS: [b]\n"),
        "MG_INPUT_COLS: required key is missing",
    );
}

#[test]
fn missing_file_is_reported() {
    let (code, _, err) = lad_aggregator(&["run", "--config-yaml", "/nonexistent/aggregator.yaml"]);
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/aggregator.yaml"), "{err}");
}

#[test]
fn shipped_config_is_valid() {
    // Parse only: the shipped file points at localhost:27017, which may not be running here.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/aggregator.yaml");
    let text = std::fs::read_to_string(path).expect("config/aggregator.yaml");
    let c = lad::aggregate::AggregatorConfig::from_yaml_str(&text).expect("valid");
    assert_eq!(c.mongo.display_target(), "mongodb://localhost:27017/");
    assert_eq!(c.collections.len(), 2);
}

#[test]
fn unknown_keys_are_warned_about_by_name() {
    // The server is unreachable (port 1), but the warning comes first.
    let yaml = "MG_INPUT_DB: logs\nMG_INPUT_COLS: [a]\nMG_TARGET_COLS: [b]\nAGGR_EPSILON: 0.2\nMG_PORT: 1\n\
                MG_SERVER_SELECTION_TIMEOUT: 1\n";
    let (code, text) = run_config(yaml, true);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("AGGR_EPSILON") && text.contains("unknown config key"),
        "{text}"
    );
}

#[test]
fn bench_prints_json() {
    let (code, out, err) = lad_aggregator(&["bench", "--messages", "1000", "--families", "10"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["messages"], 1000);
    for k in ["vectorize_s", "cluster_s", "template_s"] {
        assert!(v["timings"][k].is_number(), "{out}");
    }
    assert!(v["purity"].as_f64().expect("purity") > 0.9, "{out}");
}

#[tokio::test]
async fn run_once_end_to_end() {
    let Some(uri) = mongo_uri("run_once_end_to_end") else {
        return;
    };
    let db = unique_db("cli_once");
    let client = client(&uri, None).await;
    let logs = client.database(&db).collection::<Document>("logs");
    let (docs, expected) = fixture(DateTime::now().timestamp_millis());
    logs.insert_many(docs).await.expect("insert");
    let (code, text) = tokio::task::spawn_blocking({
        let yaml = yaml(&uri, &db, "");
        move || run_config(&yaml, true)
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{text}");
    let aggs: Vec<Document> = client
        .database(&db)
        .collection::<Document>("logs_aggregated")
        .find(doc! { "status": "complete" })
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("collect");
    assert_eq!(aggs.len(), expected.len(), "{text}");
}
