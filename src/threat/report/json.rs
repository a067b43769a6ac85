//! `anomalies.json`: the full detail.
//!
//! ```json
//! {"format": "lad-threat-anomalies", "version": 1,
//!  "summary": {"events": …, "anomalies": …, "by_threat": {…}, "by_severity": {…},
//!              "top_users": [["admin", 12], …], "top_source_ips": […], "top_hosts": […]},
//!  "anomalies": [{"timestamp": …, "file": 0, "line": 17, "host": …, "user": …,
//!                 "source_ip": …, "message": …, "lad_threat": "brute_force",
//!                 "lad_severity": "HIGH", "finding": {ThreatFinding}}, …]}
//! ```
//!
//! `lad_threat` and `lad_severity` are the names service mode writes into documents.

use std::path::Path;

use serde::Serialize;

use super::{write_file, Row, Summary};
use crate::threat::engine::ThreatFinding;
use crate::threat::ThreatError;

pub const FORMAT: &str = "lad-threat-anomalies";
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Anomaly<'a> {
    timestamp: Option<String>,
    file: usize,
    line: usize,
    host: Option<&'a str>,
    user: Option<&'a str>,
    source_ip: Option<&'a str>,
    message: &'a str,
    lad_threat: String,
    lad_severity: Option<String>,
    finding: &'a ThreatFinding,
}

#[derive(Serialize)]
struct Doc<'a> {
    format: &'static str,
    version: u32,
    summary: Summary,
    anomalies: Vec<Anomaly<'a>>,
}

/// The JSON document for `rows`.
pub fn render(rows: &[Row<'_>]) -> Result<Vec<u8>, ThreatError> {
    let doc = Doc {
        format: FORMAT,
        version: VERSION,
        summary: Summary::of(rows),
        anomalies: rows
            .iter()
            .filter(|r| r.finding.is_anomaly)
            .map(|r| Anomaly {
                timestamp: r.event.timestamp.map(|t| t.to_rfc3339()),
                file: r.event.file,
                line: r.event.line,
                host: r.event.host.as_deref(),
                user: r.event.user.as_deref(),
                source_ip: r.event.source_ip.as_deref(),
                message: &r.event.message,
                lad_threat: r.finding.threat_type.to_string(),
                lad_severity: r.finding.severity.map(|s| s.to_string()),
                finding: r.finding,
            })
            .collect(),
    };
    serde_json::to_vec_pretty(&doc).map_err(|e| ThreatError::Report(format!("anomalies.json: {e}")))
}

pub fn write(path: &Path, rows: &[Row<'_>]) -> Result<(), ThreatError> {
    write_file(path, &render(rows)?)
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::*;

    #[test]
    fn schema() {
        let (ev, f) = testdata::rows();
        let rows = testdata::pair(&ev, &f);
        let v: serde_json::Value = serde_json::from_slice(&render(&rows).unwrap()).unwrap();
        assert_eq!(v["format"], FORMAT);
        assert_eq!(v["summary"]["anomalies"], 60);
        let a = v["anomalies"].as_array().unwrap();
        assert_eq!(a.len(), 60);
        for key in [
            "timestamp",
            "line",
            "host",
            "user",
            "source_ip",
            "message",
            "lad_threat",
            "lad_severity",
        ] {
            assert!(a[0].get(key).is_some(), "{key}");
        }
        assert_eq!(a[0]["lad_threat"], "brute_force");
        assert_eq!(a[0]["finding"]["severity"], "CRITICAL");
        assert_eq!(a[0]["finding"]["entity"]["kind"], "source_ip");
        assert!(a[0]["finding"]["rate_p"].is_number());
        assert!(v["summary"]["top_users"][0][1].as_u64().unwrap() > 0);
    }
}
