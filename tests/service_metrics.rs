//! The metrics and health endpoint of `lad run`, and `lad report --config` from MongoDB.
//!
//! One test function, in its own test binary, because it stops the database server (with
//! `LAD_TEST_MONGO_CTL`, as tests/service_outage.rs does) to watch `/healthz` turn 503; the
//! server is started again before the test ends, also when an assertion fails. Without
//! `LAD_TEST_MONGO_CTL` the outage part is skipped and the rest runs.

mod common;

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use common::*;
use lad::service::serve::report_source::{report_data, ReportQuery};
use lad::service::{run_with, RunOptions};
use mongodb::bson::doc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts the server again if the test stops it and then fails.
struct StartOnDrop<'a>(Option<&'a ServerCtl>);

impl Drop for StartOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(ctl) = self.0.take() {
            ctl.run("start");
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// `(status, body)` of `GET path`, or `None` when the endpoint does not answer.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(StdDuration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Value of the sample `name{labels}` in a `/metrics` body.
fn sample(body: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

const H1: &str = "collection=\"syslog\",host=\"h1\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_healthz_and_report_from_mongo() {
    let test = "metrics_healthz_and_report_from_mongo";
    let Some(h) = Harness::new(test).await else {
        return;
    };
    let ctl = ServerCtl::from_env(test);
    let coll = h.coll("syslog");
    let now = Utc::now();
    let from = now - Duration::hours(2);
    let to = now - Duration::minutes(10);
    insert(&coll, fixture("h1", 400, from, to, 25, 61)).await;
    insert(&coll, fixture("h2", 300, from, to, 25, 62)).await;
    // Not configured: never scored, never in the report.
    insert(&coll, fixture("h3", 50, from, to, 25, 63)).await;
    let port = free_port();
    let yaml_text = h.yaml(
        &[("syslog", &["h1", "h2"])],
        &format!("BATCH_SIZE: 100\nMETRICS_LISTEN: \"127.0.0.1:{port}\"\n"),
    );
    let cfg = config(&yaml_text);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(run_with(cfg.clone(), RunOptions::default(), async move {
        let _ = stop_rx.await;
    }));

    // Before the models are trained /healthz may already answer: 503 "no model yet".
    if let Some((status, body)) = get(port, "/healthz").await {
        if status == 503 {
            assert!(body.contains("\"unhealthy\""), "{body}");
        }
    }
    let healthy = wait_until(StdDuration::from_secs(300), || async {
        matches!(get(port, "/healthz").await, Some((200, _)))
    })
    .await;
    assert!(
        healthy,
        "/healthz never answered 200: {:?}",
        get(port, "/healthz").await
    );
    let (_, body) = get(port, "/healthz").await.expect("healthz");
    let v: serde_json::Value = serde_json::from_str(&body).expect("healthz is JSON");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["workers"].as_array().map(Vec::len), Some(2), "{body}");

    let scored = |port: u16, n: f64| async move {
        get(port, "/metrics")
            .await
            .and_then(|(_, b)| sample(&b, "lad_documents_scored_total", H1))
            .is_some_and(|v| v >= n)
    };
    assert!(
        wait_until(StdDuration::from_secs(120), || scored(port, 400.0)).await,
        "the backlog of h1 was not counted"
    );
    let (status, body) = get(port, "/metrics").await.expect("metrics");
    assert_eq!(status, 200);
    assert_eq!(sample(&body, "lad_documents_scored_total", H1), Some(400.0));

    // New documents move the counter.
    insert(
        &coll,
        fixture(
            "h1",
            50,
            now - Duration::minutes(9),
            Utc::now() - Duration::seconds(1),
            10,
            64,
        ),
    )
    .await;
    assert!(
        wait_until(StdDuration::from_secs(120), || scored(port, 450.0)).await,
        "the scored counter did not move after inserting 50 documents"
    );
    let (_, body) = get(port, "/metrics").await.expect("metrics");
    assert_eq!(sample(&body, "lad_documents_scored_total", H1), Some(450.0));
    let flagged_h1 = count(&coll, doc! {"hostname": "h1", "is_anomaly": 1}).await;
    assert_eq!(
        sample(&body, "lad_anomalies_total", H1),
        Some(flagged_h1 as f64),
        "{body}"
    );
    assert!(sample(&body, "lad_batch_duration_seconds_count", H1).is_some_and(|n| n >= 5.0));
    assert!(sample(&body, "lad_model_age_seconds", H1).is_some_and(|s| s >= 0.0));
    assert!(sample(&body, "lad_model_training_seconds", H1).is_some_and(|s| s > 0.0));
    assert_eq!(sample(&body, "lad_mongo_errors_total", H1), Some(0.0));
    assert_eq!(sample(&body, "lad_worker_healthy", H1), Some(1.0));
    assert!(
        body.contains("# TYPE lad_documents_skipped counter"),
        "{body}"
    );
    assert_eq!(get(port, "/nope").await.map(|r| r.0), Some(404));

    // Database down: /healthz turns 503 and says which hosts and why; back up: 200 again.
    if let Some(ctl) = &ctl {
        eprintln!("stopping the database server");
        let mut guard = StartOnDrop(Some(ctl));
        ctl.run("stop");
        // Each worker notices at its next poll, after the server-selection timeout.
        let all_down = |b: &str| {
            serde_json::from_str::<serde_json::Value>(b).is_ok_and(|v| {
                v["workers"].as_array().is_some_and(|ws| {
                    ws.iter().all(|w| {
                        w["reason"]
                            .as_str()
                            .is_some_and(|r| r.starts_with("last batch failed"))
                    })
                })
            })
        };
        let down = wait_until(StdDuration::from_secs(90), || async {
            matches!(get(port, "/healthz").await, Some((503, b)) if all_down(&b))
        })
        .await;
        let (status, body) = get(port, "/healthz").await.expect("healthz while down");
        eprintln!("starting the database server again");
        guard.0 = None;
        ctl.run("start");
        assert!(down, "/healthz did not turn 503: {status} {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("healthz is JSON");
        assert_eq!(v["status"], "unhealthy");
        let w = &v["workers"][0];
        assert_eq!(w["host"], "h1");
        assert_eq!(w["healthy"], false);
        assert!(
            w["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("last batch failed")),
            "{body}"
        );
        let (_, m) = get(port, "/metrics").await.expect("metrics");
        assert!(sample(&m, "lad_mongo_errors_total", H1).is_some_and(|n| n >= 1.0));
        assert!(
            wait_until(StdDuration::from_secs(180), || async {
                matches!(get(port, "/healthz").await, Some((200, _)))
            })
            .await,
            "/healthz did not recover after the server came back"
        );
    }

    let _ = stop_tx.send(());
    let report = service
        .await
        .expect("service task did not panic")
        .expect("service run");
    assert!(report.workers.iter().all(|w| w.failed.is_none()));
    assert!(
        get(port, "/healthz").await.is_none(),
        "the endpoint outlived the service"
    );

    // lad report --config: the scored documents of the window, per configured host.
    let scored_h1 = count(
        &coll,
        doc! {"hostname": "h1", "anomaly_score": {"$exists": true}},
    )
    .await;
    assert_eq!(scored_h1, 450);
    let flagged_all = count(&coll, doc! {"is_anomaly": 1}).await;
    assert!(flagged_h1 > 0 && flagged_all > flagged_h1);
    let q = ReportQuery {
        since: now - Duration::hours(24),
        hosts: vec!["h1".into()],
        max_points: 200_000,
        title: None,
    };
    let data = report_data(&cfg, &h.client, &q).await.expect("report data");
    assert_eq!(data.points.len(), 450);
    assert_eq!(
        data.points.iter().filter(|p| p.is_anomaly).count() as u64,
        flagged_h1
    );
    assert_eq!(data.models.len(), 1);
    // Capped: the newest 100 are kept.
    let capped = report_data(
        &cfg,
        &h.client,
        &ReportQuery {
            max_points: 100,
            ..q.clone()
        },
    )
    .await
    .expect("capped report data");
    assert_eq!(capped.points.len(), 100);
    let mut times: Vec<_> = data.points.iter().filter_map(|p| p.time).collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    let oldest_kept = capped.points.iter().filter_map(|p| p.time).min();
    assert_eq!(oldest_kept, Some(times[99]));
    let unknown = ReportQuery {
        hosts: vec!["h3".into()],
        ..q.clone()
    };
    assert!(report_data(&cfg, &h.client, &unknown).await.is_err());

    let dir = tempfile::tempdir().expect("tempdir");
    let cfg_path = dir.path().join("lad.yaml");
    std::fs::write(&cfg_path, &yaml_text).expect("write config");
    let out = dir.path().join("report.html");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_lad"))
        .args(["report", "--config"])
        .arg(&cfg_path)
        .args(["--since", "24h", "--output"])
        .arg(&out)
        .env_remove("LAD_LISTEN")
        .output()
        .expect("run lad report");
    assert!(
        run.status.success(),
        "lad report failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let html = std::fs::read_to_string(&out).expect("report written");
    assert!(
        html.contains("<dt>Messages</dt><dd>750</dd>"),
        "h1 + h2, not h3"
    );
    assert!(
        html.contains(&format!("<dt>Flagged</dt><dd>{flagged_all}</dd>")),
        "expected {flagged_all} flagged points"
    );
    assert!(html.contains("<dt>Hosts</dt><dd>2</dd>"));

    let one = dir.path().join("h1.html");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_lad"))
        .args(["report", "--config"])
        .arg(&cfg_path)
        .args(["--since", "24h", "--host", "h1", "--output"])
        .arg(&one)
        .output()
        .expect("run lad report --host");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let html = std::fs::read_to_string(&one).expect("report written");
    assert!(html.contains("<dt>Messages</dt><dd>450</dd>"));
    assert!(html.contains(&format!("<dt>Flagged</dt><dd>{flagged_h1}</dd>")));

    h.finish().await;
}
