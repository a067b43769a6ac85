//! Shared helpers for the aggregator's integration tests.
//!
//! The database tests talk to a real MongoDB-wire server whose URI comes from
//! `LAD_TEST_MONGO_URI` (`scripts/test.sh` starts one). Without it they print why and return,
//! so a bare `cargo test` passes. Each test uses its own database.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lad::aggregate::AggregatorConfig;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::ClientOptions;
use mongodb::Client;

// The server URI (or a printed skip) and unique database names come from lad's own test
// helpers, so both crates' suites behave the same under `scripts/test.sh`.
#[path = "../../../tests/common/mod.rs"]
mod lad_tests;
pub use lad_tests::{mongo_uri, unique_db};

/// `(command name, target collection)` of every command sent.
#[derive(Clone, Default)]
pub struct CommandLog(pub Arc<Mutex<Vec<(String, String)>>>);

impl CommandLog {
    pub fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

/// A client; with `log`, every command is recorded.
pub async fn client(uri: &str, log: Option<&CommandLog>) -> Client {
    let mut opts = ClientOptions::parse(uri).await.expect("parse test uri");
    opts.server_selection_timeout = Some(Duration::from_secs(10));
    if let Some(log) = log {
        let sink = log.0.clone();
        opts.command_event_handler = Some(EventHandler::callback(move |ev: CommandEvent| {
            if let CommandEvent::Started(s) = ev {
                let target = s
                    .command
                    .iter()
                    .next()
                    .and_then(|(_, v)| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                if let Ok(mut g) = sink.lock() {
                    g.push((s.command_name.clone(), target));
                }
            }
        }));
    }
    Client::with_options(opts).expect("client")
}

/// Config YAML for the test database with `logs` → `logs_aggregated`.
pub fn yaml(uri: &str, db: &str, extra: &str) -> String {
    format!(
        "MG_URI: \"{uri}\"\nMG_INPUT_DB: {db}\nMG_INPUT_COLS: [logs]\nMG_TARGET_COLS: [logs_aggregated]\n\
         MG_SERVER_SELECTION_TIMEOUT: 5\nMG_CONNECT_TIMEOUT: 5\n{extra}"
    )
}

pub fn config(yaml: &str) -> AggregatorConfig {
    AggregatorConfig::from_yaml_str(yaml).expect("test config is valid")
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .expect("valid time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What the fixture expects of one aggregate.
#[derive(Debug, Clone)]
pub struct Expected {
    pub template: String,
    pub ids: Vec<i32>,
    pub average_datetime_ms: i64,
    pub average_score: f64,
    pub hostname: String,
}

/// Three message families plus three one-off anomalies (all inside the last hour), and
/// documents the aggregator must leave alone (100–105). `_id`s are integers; anomalies have
/// 1..=18.
pub fn fixture(now_ms: i64) -> (Vec<Document>, Vec<Expected>) {
    let base = now_ms - 3_600_000;
    let mut docs = Vec::new();
    let mut expected = Vec::new();
    let add = |docs: &mut Vec<Document>, id: i32, msg: String, host: &str, score: f64| {
        let dt = base + i64::from(id) * 60_000 + 7;
        // Document 6 carries its time as an RFC 3339 string, which service mode accepts too.
        let received_at = if id == 6 {
            Bson::String(rfc3339(dt))
        } else {
            Bson::DateTime(DateTime::from_millis(dt))
        };
        docs.push(doc! {
            "_id": id, "message": msg, "hostname": host, "received_at": received_at,
            "is_anomaly": 1, "anomaly_score": score,
        });
        dt
    };
    let mut group = |docs: &mut Vec<Document>,
                     ids: std::ops::RangeInclusive<i32>,
                     msg: &dyn Fn(i32) -> String,
                     host: &dyn Fn(i32) -> &'static str,
                     template: &str| {
        let mut dts = Vec::new();
        let mut scores = Vec::new();
        let mut hosts = std::collections::BTreeMap::<&str, usize>::new();
        for id in ids.clone() {
            let score = 1.0 + f64::from(id) * 0.25;
            dts.push(add(docs, id, msg(id), host(id), score));
            scores.push(score);
            *hosts.entry(host(id)).or_default() += 1;
        }
        let best = hosts.values().max().copied().unwrap_or(0);
        expected.push(Expected {
            template: template.to_string(),
            ids: ids.collect(),
            average_datetime_ms: dts.iter().sum::<i64>().div_euclid(dts.len() as i64),
            average_score: scores.iter().sum::<f64>() / scores.len() as f64,
            hostname: hosts
                .iter()
                .find(|(_, &n)| n == best)
                .map(|(h, _)| h.to_string())
                .unwrap_or_default(),
        });
    };
    const USERS: [&str; 3] = ["root", "user", "cumulus"];
    group(
        &mut docs,
        1..=6,
        &|i| {
            format!("<86>Dec  1 17:{:02}:01 cumulus CRON[{}]: pam_unix(cron:session): session opened for user {} by (uid=0)", 10 + i, 25_000 + i * 117, USERS[(i % 3) as usize])
        },
        &|i| if i <= 4 { "cumulus" } else { "backup" },
        "<86>Dec 1 *** cumulus *** pam_unix(cron:session): session opened for user *** by (uid=0)",
    );
    const INVALID: [&str; 3] = ["admin", "test", "oracle"];
    group(
        &mut docs,
        7..=11,
        &|i| {
            format!("<38>Dec  2 03:11:{:02} gw sshd[{}]: Failed password for invalid user {} from 10.0.{}.{} port {} ssh2", i, 4_000 + i, INVALID[(i % 3) as usize], i, 200 - i, 50_000 + i)
        },
        // gw2 and gw1 twice each: the tie goes to gw1.
        &|i| match i {
            7 | 9 => "gw2",
            8 | 10 => "gw1",
            _ => "gw3",
        },
        "<38>Dec 2 *** gw *** Failed password for invalid user *** from *** port *** ssh2",
    );
    group(
        &mut docs,
        12..=15,
        &|i| format!("<3>Dec  2 04:00:{:02} nas kernel: [{}.{}] EXT4-fs error (device sda{}): ext4_find_entry:1455: inode #{}: comm {}: reading directory lblock 0", i, 1000 + i, 17 * i, i % 2, 9_000 + i, if i % 2 == 0 { "ls" } else { "find" }),
        &|_| "nas",
        "<3>Dec 2 *** nas kernel: *** EXT4-fs error (device *** ext4_find_entry:1455: inode *** comm *** reading directory lblock 0",
    );
    let one_offs = [
        "mdadm: DegradedArray event detected on md device /dev/md0",
        "FATAL panic: runtime error: invalid memory address or nil pointer dereference",
        "systemd[1]: Failed to start Docker Application Container Engine.",
    ];
    for (k, m) in one_offs.iter().enumerate() {
        let id = 16 + k as i32;
        group(&mut docs, id..=id, &|_| m.to_string(), &|_| "web", m);
    }
    // Left alone: not an anomaly, too old, no message, already aggregated.
    docs.push(doc! { "_id": 100, "message": "normal line", "hostname": "web", "received_at": DateTime::from_millis(base), "is_anomaly": 0, "anomaly_score": 0.1 });
    docs.push(doc! { "_id": 101, "message": "mdadm: DegradedArray event detected on md device /dev/md1", "hostname": "web", "received_at": DateTime::from_millis(now_ms - 3 * 86_400_000), "is_anomaly": 1, "anomaly_score": 5.0 });
    docs.push(doc! { "_id": 102, "hostname": "web", "received_at": DateTime::from_millis(base), "is_anomaly": 1, "anomaly_score": 5.0 });
    docs.push(doc! { "_id": 103, "message": "old aggregated", "hostname": "web", "received_at": DateTime::from_millis(base), "is_anomaly": 1, "aggregated_message_id": "earlier" });
    // A string date 30 h old: inside the server-side one-day margin, outside the window.
    docs.push(doc! { "_id": 105, "message": "FATAL panic: runtime error again", "hostname": "web", "received_at": rfc3339(now_ms - 30 * 3_600_000), "is_anomaly": 1, "anomaly_score": 5.0 });
    docs.push(doc! { "_id": 104, "message": "not scored yet", "hostname": "web", "received_at": DateTime::from_millis(base) });
    (docs, expected)
}
