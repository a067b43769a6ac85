//! Service-mode benchmark: a backlog of documents over several hosts in a real
//! MongoDB-wire server, scored by `lad::service` in `--once` mode.
//!
//! ```sh
//! LAD_TEST_MONGO_URI=mongodb://127.0.0.1:PORT/ cargo run --release --example service_bench -- [DOCS] [HOSTS] [TRAIN_MAX]
//! ```
//!
//! Two phases: first each host gets `TRAIN_MAX` documents and one `--once` run trains and saves
//! the models (and scores those documents); then `DOCS` new documents arrive and a second
//! `--once` run, which loads the saved (fresh) models instead of retraining, scores them. The
//! second run is what is measured: documents/s end to end, and lad's own CPU time per document
//! (user + system CPU of this process, which excludes time spent waiting on the server; the
//! driver's BSON work counts as lad's).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use chrono::Utc;

/// User + system CPU seconds of this process so far (Linux, `/proc/self/stat`, 100 ticks/s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let docs = args.first().copied().unwrap_or(200_000);
    let hosts = args.get(1).copied().unwrap_or(10);
    let train_max = args.get(2).copied().unwrap_or(20_000);
    let uri = std::env::var("LAD_TEST_MONGO_URI")
        .map_err(|_| anyhow::anyhow!("set LAD_TEST_MONGO_URI (scripts/test.sh starts a server)"))?;
    let db = format!("lad_bench_{}", std::process::id());
    let client = common::client(&uri).await;
    let coll = client
        .database(&db)
        .collection::<mongodb::bson::Document>("logs");

    let names: Vec<String> = (0..hosts).map(|h| format!("host{h}")).collect();
    let now = Utc::now();
    let dir = tempfile::tempdir()?;
    let host_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let yaml = common::yaml(
        &uri,
        &db,
        dir.path(),
        &[("logs", &host_refs)],
        &format!("TRAIN_MAX_ENTRIES: {train_max}\nBATCH_SIZE: 1000\nTRAIN_TIME_SPAN: 86400\n"),
    );
    let config = common::config(&yaml);
    let run_once = || {
        lad::service::run_with(
            config.clone(),
            lad::service::RunOptions {
                once: true,
                client: None,
            },
            std::future::pending::<()>(),
        )
    };

    // Phase 1: training data, train + save models.
    for (h, name) in names.iter().enumerate() {
        let docs = common::fixture(
            name,
            train_max,
            now - chrono::Duration::hours(12),
            now - chrono::Duration::hours(6),
            500,
            h as u64 + 1,
        );
        common::insert(&coll, docs).await;
    }
    let t_train = Instant::now();
    run_once().await?;
    let phase1_seconds = t_train.elapsed().as_secs_f64();

    // Phase 2: the backlog to measure.
    let t0 = Instant::now();
    for (h, name) in names.iter().enumerate() {
        let docs = common::fixture(
            name,
            docs / hosts,
            now - chrono::Duration::hours(6),
            now,
            500,
            h as u64 + 100,
        );
        common::insert(&coll, docs).await;
    }
    let insert_seconds = t0.elapsed().as_secs_f64();
    let cpu0 = cpu_seconds();
    let t1 = Instant::now();
    let report = run_once().await?;
    let wall = t1.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let totals = report.totals();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "documents": docs,
            "hosts": hosts,
            "train_max_entries": train_max,
            "phase1_train_and_score_seconds": phase1_seconds,
            "phase2_insert_seconds": insert_seconds,
            "trainings_in_phase2 (0 = saved models reused)": totals.trainings,
            "scored": totals.scored,
            "anomalies": totals.anomalies,
            "batches": totals.batches,
            "run_wall_seconds": wall,
            "documents_per_second_end_to_end": totals.scored as f64 / wall,
            "process_cpu_seconds": cpu,
            "cpu_us_per_document": 1e6 * cpu / totals.scored.max(1) as f64,
            "peak_rss_mib": lad::runtime::peak_rss_mib(),
        }))?
    );
    // Best effort: a long run may have outlived the idle connection.
    if let Err(e) = client.database(&db).drop().await {
        eprintln!("could not drop {db}: {e}");
    }
    Ok(())
}
