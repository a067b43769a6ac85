//! A report fixture shared by `tests/report.rs` and `tests/report_browser.rs`: 600 points on
//! three hosts (one with a hostile name) over ten hours, 26 flagged messages in four
//! templates, one of them hostile markup.

#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use lad::detect::DetectorKind;
use lad::model::{ModelInfo, ModelParams};
use lad::report::{ReportData, ReportPoint};

/// A message that must come out as text, never as markup or a link.
pub const HOSTILE: &str =
    "<script>alert(\"pwned\")</script> user 'bob' login \"failed\" from 10.0.0.{} \
<img src=x onerror=alert(1)> GET http://evil.example/steal?a=1&b=2";

/// Host names, one of them hostile.
pub const HOSTS: [&str; 3] = ["web-1", "db-1", "cache<b>&\"'"];

/// The flagged messages by group (`{}` is replaced by a varying number, so every message of a
/// group has the same masked template) and how many there are of each.
pub const GROUPS: [(&str, usize); 4] = [
    ("kernel: disk sd{} failed with I/O error at sector 7741", 12),
    (
        "sshd[{}]: fatal: Connection reset by peer during key exchange",
        7,
    ),
    (HOSTILE, 5),
    ("panic: watchdog timeout after {} seconds on cpu 3", 2),
];

pub const THRESHOLD: f64 = 0.78;

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 8, 0, 0)
        .single()
        .expect("valid date")
}

/// The fixture: 600 points, 26 flagged.
pub fn fixture() -> ReportData {
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    let flagged: Vec<String> = GROUPS
        .iter()
        .flat_map(|(text, n)| (0..*n).map(move |i| text.replace("{}", &(i * 7 + 3).to_string())))
        .collect();
    let mut points = Vec::new();
    let mut f = 0;
    for i in 0..600usize {
        let host = HOSTS[i % 3];
        let time = start() + Duration::seconds(60 * i as i64);
        // Flag every 23rd point until the flagged messages are used up.
        if i % 23 == 11 && f < flagged.len() {
            points.push(ReportPoint {
                host: host.into(),
                time: Some(time),
                seq: i,
                score: 0.8 + 0.19 * next(),
                is_anomaly: true,
                message: flagged[f].clone(),
            });
            f += 1;
        } else {
            points.push(ReportPoint {
                host: host.into(),
                time: Some(time),
                seq: i,
                score: 0.02 + 0.6 * next() * next(),
                is_anomaly: false,
                message: format!("session opened for user u{i} by (uid=0)"),
            });
        }
    }
    assert_eq!(f, flagged.len(), "fixture places every flagged message");
    let models = HOSTS
        .iter()
        .enumerate()
        .map(|(i, h)| {
            (
                h.to_string(),
                ModelInfo {
                    format: "lad-model".into(),
                    format_version: 2,
                    version: format!("m2-00000000000000{i:02}"),
                    trained_at: start() - Duration::hours(2),
                    training_messages: 25_000 + i as u64,
                    distinct_sequences: 1400 + i,
                    templates: 140 + i,
                    vocabulary: 900 + i,
                    detectors: vec![DetectorKind::Template, DetectorKind::Params],
                    train_seconds: 4.5,
                    params: ModelParams::default(),
                },
            )
        })
        .collect();
    ReportData {
        title: "Nightly report <for> \"ops\" & 'sec'".into(),
        generated_at: start() + Duration::hours(11),
        threshold: THRESHOLD,
        points,
        models,
        fleet_events: Vec::new(),
        threats: lad::report::threat_rows([
            (
                "brute_force",
                "HIGH",
                "sshd: Failed password for <root> from 203.0.113.7",
            ),
            (
                "brute_force",
                "HIGH",
                "sshd: Failed password for admin from 203.0.113.7",
            ),
            ("unusual", "LOW", "kernel: odd & \"quoted\""),
        ]),
    }
}
