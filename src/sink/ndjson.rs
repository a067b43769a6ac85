//! One JSON object per scored message: easy to grep, to load into pandas, or to ship on.

use std::io::Write;

use serde::Serialize;

use crate::model::{Reason, Score};

/// A scored record as written to NDJSON.
#[derive(Debug, Serialize)]
pub struct ScoredRecord<'a> {
    pub file: &'a str,
    pub line: usize,
    pub message: &'a str,
    pub is_anomaly: u8,
    pub anomaly_score: f64,
    pub reason: String,
    /// Why, in words and numbers (anomalies only: see [`crate::model::Reason`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lad_reason: Option<&'a Reason>,
    /// With `--threat-rules`: the anomaly's threat type and severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lad_threat: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lad_severity: Option<&'a str>,
    pub signals: &'a crate::model::Signals,
}

/// The threat layer's verdict on a record (`lad detect --threat-rules`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreatFields<'a> {
    pub threat: Option<&'a str>,
    pub severity: Option<&'a str>,
}

/// Writes one record per line.
pub fn write_record<W: Write>(
    w: &mut W,
    file: &str,
    line: usize,
    message: &str,
    score: &Score,
    lad_reason: Option<&Reason>,
    threat: ThreatFields<'_>,
) -> std::io::Result<()> {
    let rec = ScoredRecord {
        file,
        line,
        message,
        is_anomaly: u8::from(score.is_anomaly),
        anomaly_score: score.anomaly_score,
        reason: score.signals.explain(),
        lad_reason,
        lad_threat: threat.threat,
        lad_severity: threat.severity,
        signals: &score.signals,
    };
    serde_json::to_writer(&mut *w, &rec).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}
