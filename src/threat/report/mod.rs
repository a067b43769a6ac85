//! Threat reports: what the JSON pipeline's users get, from any list of findings.
//!
//! `write_all(dir, rows)` writes, into `dir`:
//! * `anomalies.csv` — one row per anomaly ([`csv`]: [`CSV_COLUMNS`]);
//! * `anomalies.json` — the full detail: every anomaly with its rule hits and burst evidence,
//!   plus a summary ([`json`]);
//! * `anomaly_dashboard.png` — four plots, drawn with plotters' bitmap backend ([`png`]):
//!   scores over time, score histogram, threat-type breakdown, top anomalous users / source
//!   addresses / hosts.
//!
//! [`Row`] pairs an event with its finding; only rows whose finding is an anomaly are listed
//! in the CSV and JSON, while the dashboard's score plots show every row.

pub mod csv;
pub mod json;
pub mod png;
pub mod summary;

use std::path::{Path, PathBuf};

use super::engine::ThreatFinding;
use super::ThreatError;
use crate::profile::Event;

pub use self::csv::CSV_COLUMNS;
pub use summary::Summary;

/// One scored event.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub event: &'a Event,
    pub finding: &'a ThreatFinding,
}

/// The files [`write_all`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub csv: PathBuf,
    pub json: PathBuf,
    pub png: PathBuf,
}

/// Writes the three report files into `dir` (created if missing).
pub fn write_all(dir: &Path, rows: &[Row<'_>]) -> Result<Written, ThreatError> {
    std::fs::create_dir_all(dir).map_err(|source| ThreatError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let w = Written {
        csv: dir.join("anomalies.csv"),
        json: dir.join("anomalies.json"),
        png: dir.join("anomaly_dashboard.png"),
    };
    csv::write(&w.csv, rows)?;
    json::write(&w.json, rows)?;
    png::write(&w.png, rows)?;
    Ok(w)
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ThreatError> {
    let err = |source| ThreatError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
pub(crate) mod testdata {
    use super::super::classify::{Severity, ThreatType};
    use super::super::engine::ThreatFinding;
    use super::super::entity::EntityRef;
    use crate::profile::Event;

    /// Report rows pairing each event with its finding.
    pub fn pair<'a>(events: &'a [Event], findings: &'a [ThreatFinding]) -> Vec<super::Row<'a>> {
        events
            .iter()
            .zip(findings)
            .map(|(event, finding)| super::Row { event, finding })
            .collect()
    }

    /// A few events and findings: normal ones, a brute force, a flood.
    pub fn rows() -> (Vec<Event>, Vec<ThreatFinding>) {
        let mut events = Vec::new();
        let mut findings = Vec::new();
        for i in 0..200i64 {
            let mut e = Event::new(0, i as usize + 1);
            e.timestamp = chrono::DateTime::from_timestamp(1_700_000_000 + i * 60, 0);
            e.host = Some(format!("h{}", i % 3));
            e.user = Some(if i % 7 == 0 { "admin" } else { "bob" }.into());
            e.source_ip = Some(format!("203.0.113.{}", i % 5));
            e.message = format!("event, \"quoted\" {i}\nsecond line");
            let (score, threat) = match i % 10 {
                0 => (0.97, ThreatType::BruteForce),
                1 => (0.88, ThreatType::AlertFlood),
                2 => (0.6, ThreatType::PrivilegeEscalation),
                _ => (0.01 * (i % 40) as f64, ThreatType::Unusual),
            };
            let is_anomaly = score >= 0.5;
            findings.push(ThreatFinding {
                score,
                is_anomaly,
                severity: if is_anomaly {
                    Severity::of(score)
                } else {
                    None
                },
                threat_type: threat,
                entity: Some(EntityRef {
                    kind: "source_ip".into(),
                    value: e.source_ip.clone().unwrap(),
                }),
                rate_p: 0.5,
                lambda: 1.0,
                rate: None,
                rules: Vec::new(),
            });
            events.push(e);
        }
        (events, findings)
    }
}
