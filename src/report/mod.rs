//! The HTML report: one self-contained file with inline SVG plots and tables.
//!
//! The report is built from a [`ReportData`] value that does not care where its data came
//! from: `lad detect --report` fills it from files it has just scored, `lad report` from the
//! NDJSON `lad detect` wrote, and a MongoDB-backed report fills it from scored documents.
//! [`render_html`] turns it into a string; [`write_html`] writes it to a file.
//!
//! Contents, top to bottom: a summary (messages, flagged, flagged rate, threshold, hosts, time
//! span); anomaly score over time (over line number when points have no time) with the
//! threshold; the score histogram; the flagged rate per host (per input file in file mode); the
//! top anomaly templates (flagged messages grouped by their masked template) as a chart and a
//! table; a per-host table; and each model's facts from [`ModelInfo`].
//!
//! The file needs nothing else: no scripts, no stylesheets, fonts or images from elsewhere, and
//! a Content-Security-Policy that forbids loading or running anything. Every piece of text that
//! came from the data (messages, host names, the title) is HTML-escaped. Rendering never
//! panics and never fails: empty data, non-finite scores or a plot that cannot be drawn give a
//! note in the report instead.

pub mod font;
mod html;
mod plots;

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::model::{ModelError, ModelInfo, Score};
use crate::profile::Tokenizer;

/// Everything a report shows. Build it from any source, then call [`render_html`].
#[derive(Debug, Clone)]
pub struct ReportData {
    /// Shown as the page title and heading.
    pub title: String,
    /// When the report was made (shown in the header).
    pub generated_at: DateTime<Utc>,
    /// The `anomaly_score` threshold the scores were flagged with (drawn as a line).
    pub threshold: f64,
    /// One point per scored message, in any order.
    pub points: Vec<ReportPoint>,
    /// Facts about the models that scored the points: `(host, info)`. In file mode the "host"
    /// is whatever the model was trained on.
    pub models: Vec<(String, ModelInfo)>,
    /// Fleet events (service mode): one new kind of message on many hosts.
    pub fleet_events: Vec<FleetEventRow>,
    /// Anomalies by threat type and severity (the threat layer: `THREAT_RULES`, or
    /// `lad detect --threat-rules`), most frequent first.
    pub threats: Vec<ThreatRow>,
}

/// Anomalies of one threat type and severity.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreatRow {
    pub threat: String,
    pub severity: String,
    pub count: u64,
    /// One of its messages (the first seen).
    pub example: String,
}

/// Counts `(threat type, severity, message)` of anomalies into rows, most frequent first
/// (ties by type, then severity).
pub fn threat_rows<'a>(
    items: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Vec<ThreatRow> {
    let mut rows: Vec<ThreatRow> = Vec::new();
    let mut index: std::collections::HashMap<(String, String), usize> = Default::default();
    for (t, s, m) in items {
        let key = (t.to_string(), s.to_string());
        match index.get(&key) {
            Some(&i) => rows[i].count += 1,
            None => {
                index.insert(key, rows.len());
                rows.push(ThreatRow {
                    threat: t.to_string(),
                    severity: s.to_string(),
                    count: 1,
                    example: m.chars().take(200).collect(),
                });
            }
        }
    }
    rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.threat.cmp(&b.threat))
            .then_with(|| a.severity.cmp(&b.severity))
    });
    rows
}

/// One fleet event as the report lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetEventRow {
    pub collection: String,
    /// The kind's masked tokens.
    pub template: String,
    pub hosts: usize,
    pub count: u64,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// One scored message.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportPoint {
    /// The host (service mode) or input file (file mode) the message came from.
    pub host: String,
    /// When the message was logged. If any point has no time, the score plot's x axis is
    /// `seq` instead of time.
    pub time: Option<DateTime<Utc>>,
    /// Position of the message in its source: the line number in file mode, any increasing
    /// counter otherwise. Used as the x axis when there are no times.
    pub seq: usize,
    /// `anomaly_score` (0–1 for lad's models). Non-finite scores are counted but not drawn.
    pub score: f64,
    /// Whether the message was flagged.
    pub is_anomaly: bool,
    /// The message. Only flagged messages are shown (grouped by template), so it may be left
    /// empty for points that are not anomalies, to save memory on large reports.
    pub message: String,
}

impl ReportPoint {
    /// A point from a [`Score`] as [`crate::model::Model::score`] returns it. The message is
    /// kept only when the score is flagged (the report shows flagged messages only).
    pub fn from_score(
        host: impl Into<String>,
        time: Option<DateTime<Utc>>,
        seq: usize,
        message: &str,
        score: &Score,
    ) -> Self {
        Self {
            host: host.into(),
            time,
            seq,
            score: score.anomaly_score,
            is_anomaly: score.is_anomaly,
            message: if score.is_anomaly {
                message.to_string()
            } else {
                String::new()
            },
        }
    }
}

/// Totals shown in the report header.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub messages: usize,
    pub flagged: usize,
    /// `flagged / messages` in [0, 1]; 0 when there are no messages.
    pub flagged_rate: f64,
    pub hosts: usize,
    /// Earliest and latest point time, when at least one point has a time.
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// Points whose score is NaN or infinite (not drawn).
    pub non_finite_scores: usize,
}

/// Flagged messages that share one masked template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateCount {
    /// `Tokenizer::Masked.tokens(message).join(" ")`.
    pub template: String,
    /// How many flagged messages have this template.
    pub count: usize,
    /// Distinct hosts those messages came from.
    pub hosts: usize,
    /// Highest score among them.
    pub max_score: f64,
    /// The message with the highest score (first one on ties).
    pub example: String,
}

/// Per-host totals.
#[derive(Debug, Clone, PartialEq)]
pub struct HostStats {
    pub host: String,
    pub messages: usize,
    pub flagged: usize,
    /// `flagged / messages`.
    pub flagged_rate: f64,
    /// Highest finite score (0 when none).
    pub max_score: f64,
}

/// How many templates the chart and the table show.
pub const TOP_TEMPLATES: usize = 15;

impl ReportData {
    /// Header totals.
    pub fn summary(&self) -> Summary {
        let messages = self.points.len();
        let flagged = self.points.iter().filter(|p| p.is_anomaly).count();
        let mut hosts: Vec<&str> = self.points.iter().map(|p| p.host.as_str()).collect();
        hosts.sort_unstable();
        hosts.dedup();
        let times = self.points.iter().filter_map(|p| p.time);
        Summary {
            messages,
            flagged,
            flagged_rate: if messages == 0 {
                0.0
            } else {
                flagged as f64 / messages as f64
            },
            hosts: hosts.len(),
            first: times.clone().min(),
            last: times.max(),
            non_finite_scores: self.points.iter().filter(|p| !p.score.is_finite()).count(),
        }
    }

    /// Flagged messages grouped by masked template, most frequent first (ties: higher score,
    /// then template text), at most `n`.
    pub fn top_templates(&self, n: usize) -> Vec<TemplateCount> {
        struct Acc<'a> {
            count: usize,
            hosts: Vec<&'a str>,
            max_score: f64,
            example: &'a str,
        }
        let mut groups: HashMap<String, Acc<'_>> = HashMap::new();
        for p in self.points.iter().filter(|p| p.is_anomaly) {
            let template = Tokenizer::Masked.tokens(&p.message).join(" ");
            let score = if p.score.is_finite() {
                p.score
            } else {
                f64::NEG_INFINITY
            };
            let acc = groups.entry(template).or_insert(Acc {
                count: 0,
                hosts: Vec::new(),
                max_score: f64::NEG_INFINITY,
                example: &p.message,
            });
            acc.count += 1;
            if !acc.hosts.contains(&p.host.as_str()) && acc.hosts.len() < 10_000 {
                acc.hosts.push(&p.host);
            }
            if score > acc.max_score {
                acc.max_score = score;
                acc.example = &p.message;
            }
        }
        let mut out: Vec<TemplateCount> = groups
            .into_iter()
            .map(|(template, a)| TemplateCount {
                template,
                count: a.count,
                hosts: a.hosts.len(),
                max_score: if a.max_score.is_finite() {
                    a.max_score
                } else {
                    f64::NAN
                },
                example: a.example.to_string(),
            })
            .collect();
        out.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.max_score.total_cmp(&a.max_score))
                .then_with(|| a.template.cmp(&b.template))
        });
        out.truncate(n);
        out
    }

    /// Per-host totals, highest flagged rate first (ties: more messages, then name).
    pub fn host_stats(&self) -> Vec<HostStats> {
        let mut by_host: HashMap<&str, HostStats> = HashMap::new();
        for p in &self.points {
            let h = by_host.entry(&p.host).or_insert_with(|| HostStats {
                host: p.host.clone(),
                messages: 0,
                flagged: 0,
                flagged_rate: 0.0,
                max_score: 0.0,
            });
            h.messages += 1;
            h.flagged += usize::from(p.is_anomaly);
            if p.score.is_finite() && p.score > h.max_score {
                h.max_score = p.score;
            }
        }
        let mut out: Vec<HostStats> = by_host
            .into_values()
            .map(|mut h| {
                h.flagged_rate = h.flagged as f64 / h.messages.max(1) as f64;
                h
            })
            .collect();
        out.sort_by(|a, b| {
            b.flagged_rate
                .total_cmp(&a.flagged_rate)
                .then(b.messages.cmp(&a.messages))
                .then_with(|| a.host.cmp(&b.host))
        });
        out
    }
}

/// Facts of a saved model for [`ReportData::models`], read from the manifest of the generation
/// in use only (cheap: the vectors and detectors are not loaded, nor checked).
pub fn read_model_info(dir: &Path) -> Result<ModelInfo, ModelError> {
    let gen = crate::model::store::current_generation(dir).map_err(|source| ModelError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = gen.join(crate::model::store::MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|source| ModelError::Read { path, source })?;
    serde_json::from_slice(&bytes).map_err(|e| ModelError::Corrupt {
        path: dir.to_path_buf(),
        what: format!("manifest.json: {e}"),
    })
}

/// Renders the report as one self-contained HTML document. Never fails, never panics.
pub fn render_html(data: &ReportData) -> String {
    html::render(data)
}

/// Renders the report and writes it to `path` (through a temporary file in the same
/// directory, renamed into place, so a reader never sees half a report).
pub fn write_html(data: &ReportData, path: &Path) -> std::io::Result<()> {
    let html = render_html(data);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report.html".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, html.as_bytes())?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(host: &str, seq: usize, score: f64, flagged: bool, msg: &str) -> ReportPoint {
        ReportPoint {
            host: host.into(),
            time: None,
            seq,
            score,
            is_anomaly: flagged,
            message: msg.into(),
        }
    }

    #[test]
    fn groups_flagged_messages_by_masked_template() {
        let data = ReportData {
            title: "t".into(),
            generated_at: Utc::now(),
            threshold: 0.78,
            points: vec![
                point("a", 1, 0.9, true, "disk 1 failed"),
                point("b", 2, 0.95, true, "disk 22 failed"),
                point("a", 3, 0.8, true, "fan stopped"),
                point("a", 4, 0.1, false, "disk 3 failed"),
                point("a", 5, f64::NAN, false, ""),
            ],
            models: vec![],
            fleet_events: Vec::new(),
            threats: Vec::new(),
        };
        let top = data.top_templates(10);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].template, "disk <num> failed");
        assert_eq!((top[0].count, top[0].hosts), (2, 2));
        assert_eq!(top[0].example, "disk 22 failed");
        assert_eq!(top[1].count, 1);
        let s = data.summary();
        assert_eq!(
            (s.messages, s.flagged, s.hosts, s.non_finite_scores),
            (5, 3, 2, 1)
        );
        let h = data.host_stats();
        assert_eq!(h[0].host, "b");
        assert_eq!((h[1].messages, h[1].flagged), (4, 2));
    }

    #[test]
    fn empty_and_degenerate_data_render() {
        let mut data = ReportData {
            title: String::new(),
            generated_at: Utc::now(),
            threshold: f64::NAN,
            points: vec![],
            models: vec![],
            fleet_events: Vec::new(),
            threats: Vec::new(),
        };
        let html = render_html(&data);
        assert!(html.contains("</html>"));
        assert!(!html.contains("Fleet events"), "no section without events");
        data.fleet_events = vec![FleetEventRow {
            collection: "syslog".into(),
            template: "vault-agent FATAL <b>".into(),
            hosts: 40,
            count: 41,
            first_seen: Some(Utc::now()),
            last_seen: None,
        }];
        let html = render_html(&data);
        assert!(html.contains("<h2>Fleet events</h2>"));
        assert!(html.contains("vault-agent FATAL &lt;b&gt;") && html.contains("<td>40</td>"));
        data.fleet_events.clear();
        data.points = vec![point("x", 0, f64::INFINITY, true, "")];
        assert!(render_html(&data).contains("</html>"));
        data.points = vec![point("x", 7, 0.5, false, ""); 3];
        data.threshold = 0.5;
        let html = render_html(&data);
        assert_eq!(
            html.matches("<svg").count(),
            3,
            "no templates plot without flags"
        );
        assert!(html.contains("No message was flagged"));
        assert!(!html.contains("could not be drawn"), "{html}");
    }
}
