//! `anomalies.csv`: one row per anomaly, for spreadsheets and SIEM imports.

use std::path::Path;

use super::{write_file, Row};
use crate::threat::ThreatError;

/// The columns, in order.
pub const CSV_COLUMNS: [&str; 17] = [
    "timestamp",
    "file",
    "line",
    "host",
    "user",
    "source_ip",
    "threat_type",
    "severity",
    "score",
    "entity_kind",
    "entity",
    "rate_p",
    "window_count",
    "baseline_peak",
    "rules",
    "why",
    "message",
];

/// The CSV text of the anomalies among `rows`.
pub fn render(rows: &[Row<'_>]) -> Result<Vec<u8>, ThreatError> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let err = |e: ::csv::Error| ThreatError::Report(format!("anomalies.csv: {e}"));
    w.write_record(CSV_COLUMNS).map_err(err)?;
    for r in rows.iter().filter(|r| r.finding.is_anomaly) {
        let (e, f) = (r.event, r.finding);
        let opt = |s: &Option<String>| s.clone().unwrap_or_default();
        let rate = f.rate.as_ref();
        let record = [
            e.timestamp.map(|t| t.to_rfc3339()).unwrap_or_default(),
            e.file.to_string(),
            e.line.to_string(),
            opt(&e.host),
            opt(&e.user),
            opt(&e.source_ip),
            f.threat_type.to_string(),
            f.severity.map(|s| s.to_string()).unwrap_or_default(),
            format!("{:.4}", f.score),
            f.entity
                .as_ref()
                .map(|x| x.kind.clone())
                .unwrap_or_default(),
            f.entity
                .as_ref()
                .map(|x| x.value.clone())
                .unwrap_or_default(),
            format!("{:.3e}", f.rate_p),
            rate.map(|x| x.count.to_string()).unwrap_or_default(),
            rate.map(|x| x.baseline_peak.to_string())
                .unwrap_or_default(),
            f.rules
                .iter()
                .map(|h| h.rule.as_str())
                .collect::<Vec<_>>()
                .join(";"),
            f.explain(),
            e.message.clone(),
        ];
        w.write_record(&record).map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| ThreatError::Report(format!("anomalies.csv: {e}")))
}

pub fn write(path: &Path, rows: &[Row<'_>]) -> Result<(), ThreatError> {
    write_file(path, &render(rows)?)
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::*;

    #[test]
    fn columns_and_quoting() {
        let (ev, f) = testdata::rows();
        let rows = testdata::pair(&ev, &f);
        let bytes = render(&rows).unwrap();
        let mut rd = ::csv::Reader::from_reader(bytes.as_slice());
        let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, CSV_COLUMNS);
        let recs: Vec<::csv::StringRecord> = rd.records().map(Result::unwrap).collect();
        assert_eq!(recs.len(), 60, "only anomalies");
        let first = &recs[0];
        assert_eq!(&first[6], "brute_force");
        assert_eq!(&first[7], "CRITICAL");
        // Commas, quotes and newlines in messages survive.
        assert_eq!(&first[16], "event, \"quoted\" 0\nsecond line");
        assert!(recs.iter().all(|r| r.len() == CSV_COLUMNS.len()));
    }
}
