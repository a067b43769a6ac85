//! HTML reports: `lad detect --report FILE`, `lad report` from the NDJSON `lad detect`
//! wrote, and `lad report --config FILE` from the documents `lad run` scored in MongoDB
//! (read by [`lad::service::serve::report_source`]). All fill a [`lad::report::ReportData`] and let
//! the library render it.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use lad::model::{Model, Score};
use lad::report::{self, ReportData, ReportPoint};
use lad::source::Record;

use super::show;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// NDJSON files written by `lad detect` (fields `file`, `line`, `message`, `is_anomaly`,
    /// `anomaly_score`).
    #[arg(required_unless_present = "config", conflicts_with = "config")]
    pub inputs: Vec<PathBuf>,
    /// Instead of NDJSON: read the documents `lad run` scored from MongoDB, with this
    /// service configuration (its MG_*, LOG_SOURCES, *_INDEX, MODEL_BASE_DIR, SCORE_THRESHOLD).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// With --config: documents at or after this time; RFC 3339 or a duration back from now
    /// (90s, 30m, 24h, 7d, 2w). Default 24h.
    #[arg(long, requires = "config")]
    pub since: Option<String>,
    /// With --config: only these hostnames (repeatable; default every host in LOG_SOURCES).
    #[arg(long = "host", requires = "config")]
    pub hosts: Vec<String>,
    /// With --config: keep at most this many documents, the newest (bounds memory).
    /// Default 200000.
    #[arg(long, requires = "config")]
    pub max_points: Option<usize>,
    /// Where to write the HTML report.
    #[arg(long, short, default_value = "lad-report.html")]
    pub output: PathBuf,
    /// Title of the report.
    #[arg(long)]
    pub title: Option<String>,
    /// The threshold the scores were flagged with (drawn as a line); with --config the
    /// config's SCORE_THRESHOLD is used.
    #[arg(long, default_value_t = 0.78)]
    pub threshold: f64,
    /// Model directories whose facts to show (repeatable).
    #[arg(long)]
    pub model: Vec<PathBuf>,
}

/// `lad report`.
pub fn run(a: ReportArgs) -> anyhow::Result<ExitCode> {
    if let Some(config) = &a.config {
        return from_mongo(config, &a);
    }
    if a.since.is_some() || !a.hosts.is_empty() || a.max_points.is_some() {
        anyhow::bail!("--since, --host and --max-points need --config (a report from MongoDB)");
    }
    let mut points = Vec::new();
    let mut skipped = 0usize;
    for f in &a.inputs {
        let file = std::fs::File::open(f).with_context(|| format!("opening {}", show(f)))?;
        for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
            let line = line.with_context(|| format!("reading {}", show(f)))?;
            match point_from_ndjson(&line, i + 1, &show(f)) {
                Some(p) => points.push(p),
                None => {
                    if !line.iter().all(u8::is_ascii_whitespace) {
                        skipped += 1;
                    }
                }
            }
        }
    }
    if skipped > 0 {
        eprintln!("{skipped} lines skipped: not lad detect records");
    }
    let mut models = Vec::new();
    for dir in &a.model {
        models.push((show(dir), report::read_model_info(dir)?));
    }
    let data = ReportData {
        title: a
            .title
            .unwrap_or_else(|| format!("lad report: {}", names(&a.inputs))),
        generated_at: chrono::Utc::now(),
        threshold: a.threshold,
        points,
        models,
        fleet_events: Vec::new(),
        threats: Vec::new(),
    };
    write(&data, &a.output)?;
    Ok(ExitCode::SUCCESS)
}

/// `lad report --config FILE`: the scored documents in MongoDB.
fn from_mongo(config_path: &Path, a: &ReportArgs) -> anyhow::Result<ExitCode> {
    use lad::service::serve::report_source::{parse_since, report_data, ReportQuery};
    let cfg = lad::config::load(config_path)
        .with_context(|| format!("invalid configuration in {}", show(config_path)))?;
    let since = parse_since(a.since.as_deref().unwrap_or("24h"), chrono::Utc::now())
        .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let max_points = a.max_points.unwrap_or(200_000);
    let query = ReportQuery {
        since,
        hosts: a.hosts.clone(),
        max_points,
        title: a.title.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut data = runtime.block_on(async {
        let client = cfg.mongo.client().await?;
        anyhow::Ok(report_data(&cfg, &client, &query).await?)
    })?;
    for dir in &a.model {
        data.models.push((show(dir), report::read_model_info(dir)?));
    }
    let flagged = data.points.iter().filter(|p| p.is_anomaly).count();
    eprintln!(
        "{} scored documents since {} ({flagged} flagged)",
        data.points.len(),
        since.to_rfc3339()
    );
    if data.points.len() >= max_points {
        eprintln!("kept the newest {max_points} (--max-points, default 200000)");
    }
    write(&data, &a.output)?;
    Ok(ExitCode::SUCCESS)
}

/// One `lad detect` NDJSON record as a report point; `None` if the line is not one.
fn point_from_ndjson(line: &[u8], line_no: usize, file: &str) -> Option<ReportPoint> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let o = v.as_object()?;
    let score = o.get("anomaly_score")?.as_f64()?;
    let is_anomaly = match o.get("is_anomaly")? {
        serde_json::Value::Bool(b) => *b,
        n => n.as_u64()? != 0,
    };
    let message = if is_anomaly {
        o.get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string()
    } else {
        String::new()
    };
    Some(ReportPoint {
        host: o
            .get("file")
            .and_then(|f| f.as_str())
            .unwrap_or(file)
            .to_string(),
        time: None,
        seq: o
            .get("line")
            .and_then(|l| l.as_u64())
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(line_no),
        score,
        is_anomaly,
        message,
    })
}

/// The report of `lad detect`: one point per scored line, the input file as the "host", the
/// line number as the x axis.
pub fn from_detect(
    files: &[PathBuf],
    inputs: &[(String, Record)],
    scores: &[Score],
    model: &Model,
    model_label: String,
    triaged: Option<&[lad::threat::triage::Triage]>,
) -> ReportData {
    let threats = triaged.map_or_else(Vec::new, |ts| {
        report::threat_rows(ts.iter().zip(inputs).filter_map(|(t, (_, r))| {
            Some((
                t.threat_type.as_ref()?.as_str(),
                t.severity?.as_str(),
                r.message.as_str(),
            ))
        }))
    });
    ReportData {
        title: format!("lad detect: {}", names(files)),
        generated_at: chrono::Utc::now(),
        threshold: model.threshold(),
        points: inputs
            .iter()
            .zip(scores)
            .map(|((file, r), s)| {
                ReportPoint::from_score(file.as_str(), None, r.line, &r.message, s)
            })
            .collect(),
        models: vec![(model_label, model.info().clone())],
        fleet_events: Vec::new(),
        threats,
    }
}

/// Writes the report and says where.
pub fn write(data: &ReportData, path: &Path) -> anyhow::Result<()> {
    report::write_html(data, path)
        .with_context(|| format!("writing the report to {}", show(path)))?;
    eprintln!("report written to {}", show(path));
    Ok(())
}

/// File names for a title: the first three base names, then how many more.
fn names(files: &[PathBuf]) -> String {
    let mut s: Vec<String> = files
        .iter()
        .take(3)
        .map(|f| {
            f.file_name()
                .map_or_else(|| show(f), |n| n.to_string_lossy().into_owned())
        })
        .collect();
    if files.len() > 3 {
        s.push(format!("and {} more", files.len() - 3));
    }
    s.join(", ")
}
