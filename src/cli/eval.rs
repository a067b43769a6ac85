//! `lad eval`: the evaluation protocol of `../shared/data/README.md`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use lad::eval::events::{evaluate_events, Baseline};
use lad::eval::{evaluate, parse_block_labels, Mode};
use lad::source::{read_records, FileFormat};

use super::events::{read_events, summary, ProfileOpts};
use super::{show, ModelOpts};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Labeled log file.
    pub file: PathBuf,
    /// bgl (label in the first field, also Thunderbird), hdfs (labels per block) or plain.
    #[arg(long, value_enum, default_value_t = FileFormat::Bgl)]
    pub format: FileFormat,
    /// `BlockId,Label` CSV for --format hdfs.
    #[arg(long)]
    pub hdfs_labels: Option<PathBuf>,
    /// split: train on the first part, score the rest; self: train on the whole file and
    /// score it (the service's first pass over its training window).
    #[arg(long, value_enum, default_value_t = Mode::Split)]
    pub mode: Mode,
    /// Share of the file (from the start) used for training in split mode.
    #[arg(long, default_value_t = 0.5)]
    pub train_frac: f64,
    /// Write every test line's score and signals as NDJSON here (for analysis).
    #[arg(long)]
    pub scores: Option<PathBuf>,
    /// Sessions (`--format hdfs`): group lines into sessions by this regex (e.g.
    /// `blk_-?\d+`) and score each session's sequence and event counts (block level).
    #[arg(long)]
    pub session_regex: Option<String>,
    /// Sessions: close a session after this many seconds without an event.
    #[arg(long)]
    pub session_timeout: Option<f64>,
    /// Structured events: where the time baseline ends — `time` (the first half of the
    /// time span, the protocol's default), `rows`, or a number of days (`2`, `2d`).
    #[arg(long, default_value = "time")]
    pub baseline: Baseline,
    /// Structured events: the label value of normal events (also `normal`, `false`, `0`).
    #[arg(long, default_value = "normal")]
    pub normal_label: String,
    #[command(flatten)]
    pub profile: ProfileOpts,
    #[command(flatten)]
    pub opts: ModelOpts,
}

pub fn run(a: EvalArgs) -> anyhow::Result<ExitCode> {
    if let Some(kind) = a.profile.profile {
        return run_events(kind, &a);
    }
    if a.format == FileFormat::Sessions || a.session_regex.is_some() {
        return run_sessions(&a);
    }
    let (records, _) = read_records(&a.file, a.format, "message")?;
    let labels = match &a.hdfs_labels {
        Some(p) => Some(
            parse_block_labels(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", show(p)))?,
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", show(p)))?,
        ),
        None if a.format == FileFormat::Hdfs => {
            anyhow::bail!("--format hdfs needs --hdfs-labels CSV")
        }
        None => None,
    };
    let (report, scores) = evaluate(
        &records,
        a.mode,
        a.train_frac,
        &a.opts.params()?,
        labels.as_ref(),
    )?;
    if let Some(path) = &a.scores {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
        let first = records.len() - scores.len();
        for (r, s) in records[first..].iter().zip(&scores) {
            let label = match &labels {
                Some(map) => r
                    .blocks
                    .iter()
                    .any(|b| map.get(b).copied().unwrap_or(false)),
                None => r.label.unwrap_or(false),
            };
            serde_json::to_writer(
                &mut w,
                &serde_json::json!({
                    "line": r.line, "label": label, "is_anomaly": s.is_anomaly,
                    "anomaly_score": s.anomaly_score, "signals": s.signals, "message": r.message,
                }),
            )?;
            w.write_all(b"\n")?;
        }
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// `lad eval --profile …`: the labeled event-stream protocol.
fn run_events(kind: lad::profile::ProfileKind, a: &EvalArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        a.profile.label_field.is_some(),
        "--profile {kind} needs --label-field (the field holding the ground truth, e.g. label)"
    );
    let (events, stats) = read_events(kind, &a.profile, std::slice::from_ref(&a.file))?;
    eprintln!("{}: {}", show(&a.file), summary(&stats));
    let (report, scores) = evaluate_events(
        &events,
        a.mode,
        a.baseline,
        &a.normal_label,
        &a.opts.params()?,
        &a.profile.entity_params(),
    )?;
    if let Some(path) = &a.scores {
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", show(path)))?,
        );
        let first = events.len() - scores.len();
        for (e, s) in events[first..].iter().zip(&scores) {
            serde_json::to_writer(
                &mut w,
                &serde_json::json!({
                    "file": stats.files.get(e.file).map(|p| show(p)), "line": e.line,
                    "label": e.label, "is_anomaly": s.score.is_anomaly,
                    "anomaly_score": s.score.anomaly_score, "signals": s.score.signals,
                    "entity": s.entity, "model": s.model, "fallback": s.fallback,
                    "control": s.control, "timestamp": e.timestamp, "message": e.message,
                }),
            )?;
            w.write_all(b"\n")?;
        }
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// `lad eval --format sessions FILE.jsonl` and `lad eval --format hdfs --session-regex …`.
fn run_sessions(a: &EvalArgs) -> anyhow::Result<ExitCode> {
    use lad::session::eval::{
        evaluate_hdfs_lines, evaluate_sessions, read_block_labels, read_sessions_jsonl, EvalMode,
    };
    use lad::session::group::{KeySpec, SessionizerParams};
    use lad::session::model::SessionParams;
    let mode = match a.mode {
        Mode::Split => EvalMode::Split,
        Mode::SelfTrained => EvalMode::SelfFit,
    };
    let mut params = SessionParams {
        seed: a.opts.seed,
        ..SessionParams::default()
    };
    if let Some(c) = a.opts.contamination {
        params.contamination = c;
    }
    let report = if a.format == FileFormat::Sessions {
        let (sessions, skipped) = read_sessions_jsonl(&a.file)?;
        if !skipped.is_empty() {
            eprintln!("{}: {} lines skipped", show(&a.file), skipped.len());
        }
        evaluate_sessions(&sessions, mode, &params)?
    } else {
        let labels_path = a.hdfs_labels.as_ref().ok_or_else(|| {
            anyhow::anyhow!("--session-regex needs --hdfs-labels CSV (block labels)")
        })?;
        let labels = read_block_labels(labels_path)?;
        let text = std::fs::read_to_string(&a.file)
            .with_context(|| format!("reading {}", show(&a.file)))?;
        let sz = SessionizerParams {
            key: KeySpec::Regex(
                a.session_regex
                    .clone()
                    .unwrap_or_else(|| r"blk_-?\d+".into()),
            ),
            idle_timeout_ms: a.session_timeout.map(|s| (s * 1000.0) as i64),
            ..SessionizerParams::default()
        };
        evaluate_hdfs_lines(&text, &labels, mode, &params, &sz)?
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
