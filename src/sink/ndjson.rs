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
    pub signals: &'a crate::model::Signals,
}

/// Writes one record per line.
pub fn write_record<W: Write>(
    w: &mut W,
    file: &str,
    line: usize,
    message: &str,
    score: &Score,
    lad_reason: Option<&Reason>,
) -> std::io::Result<()> {
    let rec = ScoredRecord {
        file,
        line,
        message,
        is_anomaly: u8::from(score.is_anomaly),
        anomaly_score: score.anomaly_score,
        reason: score.signals.explain(),
        lad_reason,
        signals: &score.signals,
    };
    serde_json::to_writer(&mut *w, &rec).map_err(std::io::Error::other)?;
    w.write_all(b"\n")
}
