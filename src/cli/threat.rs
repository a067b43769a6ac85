//! `lad threat`: measure the threat layer on labeled event streams, write its reports, time it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use lad::ensemble::Preset;
use lad::model::{Model, ModelParams};
use lad::profile::{parse_path, Event, ProfileKind, ProfileOptions};
use lad::threat::eval::{evaluate_alerts, split_indices, BaselineSplit, LineEvidence};
use lad::threat::report::{write_all, Row};
use lad::threat::{RuleFile, ThreatParams};

#[derive(Args, Debug)]
pub struct ThreatArgs {
    #[command(subcommand)]
    pub command: ThreatCommand,
}

#[derive(Subcommand, Debug)]
pub enum ThreatCommand {
    /// Fit on the baseline, score the rest, print the metrics as JSON (and write reports).
    Eval(EvalArgs),
    /// Rate-detector throughput and memory on generated events.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Input file (or directory) of events.
    pub input: PathBuf,
    /// json, wazuh, audit, osquery, or syslog (plain RFC 3164 lines).
    #[arg(long, default_value = "json")]
    pub profile: String,
    /// Field holding the ground truth (removed before the engine sees an event).
    #[arg(long)]
    pub label_field: Option<String>,
    /// Per-line labels `line,…,label` (CSV with a header; first and last columns used),
    /// for inputs that carry none (syslog, audit).
    #[arg(long)]
    pub labels_csv: Option<PathBuf>,
    /// half (first half of the time span trains), self (train on all, score all), or an
    /// RFC 3339 time (train before it).
    #[arg(long, default_value = "half")]
    pub split: String,
    /// Year of syslog timestamps (the format has none).
    #[arg(long, default_value_t = 2000)]
    pub year: i32,
    /// Rule file (default: the shipped config/threat_rules.yaml).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    #[arg(long)]
    pub contamination: Option<f64>,
    #[arg(long, default_value_t = 20.0)]
    pub alarms_per_day: f64,
    /// Also fit lad's line model (security preset) on the baseline messages and combine.
    #[arg(long)]
    pub line_model: bool,
    /// Write anomalies.csv, anomalies.json and anomaly_dashboard.png here.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Print every flagged event (or every event, with --all) as NDJSON to stderr.
    #[arg(long)]
    pub dump: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 10_000)]
    pub entities: usize,
    #[arg(long, default_value_t = 2_000_000)]
    pub events: usize,
}

pub fn run(a: ThreatArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        ThreatCommand::Eval(e) => eval(e),
        ThreatCommand::Bench(b) => {
            let r = lad::threat::bench::run(b.entities, b.events);
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read_events(a: &EvalArgs) -> anyhow::Result<Vec<Event>> {
    let mut events = if a.profile == "syslog" {
        let text = std::fs::read_to_string(&a.input)
            .with_context(|| format!("reading {}", a.input.display()))?;
        lad::threat::syslog::events_from_text(&text, a.year)
    } else {
        let kind: ProfileKind = a.profile.parse().map_err(anyhow::Error::msg)?;
        let opts = ProfileOptions {
            label_field: a.label_field.clone(),
            ..Default::default()
        };
        parse_path(kind, &opts, &a.input)?.0
    };
    if let Some(p) = &a.labels_csv {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let labels: std::collections::HashMap<usize, String> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut cols = l.split(',');
                let line = cols.next()?.trim().parse().ok()?;
                Some((line, cols.next_back()?.trim().to_string()))
            })
            .collect();
        for e in &mut events {
            e.label = labels.get(&e.line).cloned();
        }
    }
    Ok(events)
}

fn eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let events = read_events(&a)?;
    let split = match a.split.as_str() {
        "half" => BaselineSplit::TimeHalf,
        "self" => BaselineSplit::SelfFit,
        t => BaselineSplit::Until(
            chrono::DateTime::parse_from_rfc3339(t)
                .with_context(|| format!("--split {t}: expected half, self or an RFC 3339 time"))?
                .with_timezone(&chrono::Utc),
        ),
    };
    let rules = match &a.rules {
        Some(p) => RuleFile::load(p)?,
        None => RuleFile::shipped(),
    };
    let params = ThreatParams {
        contamination: a.contamination,
        alarms_per_day: a.alarms_per_day,
    };
    let line = if a.line_model {
        let (base, scored) = split_indices(&events, split);
        let msgs: Vec<&str> = base.iter().map(|&i| events[i].message.as_str()).collect();
        let model = Model::fit(&msgs, &ModelParams::preset(Preset::Security))?;
        let test: Vec<&str> = scored.iter().map(|&i| events[i].message.as_str()).collect();
        Some(
            model
                .score(&test)
                .into_iter()
                .map(|s| LineEvidence {
                    p: s.signals.novelty_p,
                    lambda: s.signals.prior,
                })
                .collect::<Vec<_>>(),
        )
    } else {
        None
    };
    let (report, scored) = evaluate_alerts(&events, split, &rules, &params, line.as_deref())?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if a.dump {
        let mut err = std::io::stderr().lock();
        for s in scored.iter().filter(|s| s.score >= 0.5) {
            let e = &events[s.index];
            let v = serde_json::json!({
                "line": e.line, "timestamp": e.timestamp, "host": e.host, "label": e.label,
                "message": e.message, "score": s.score, "threat": s.finding.threat_type,
                "severity": s.finding.severity, "why": s.finding.explain(),
            });
            writeln!(err, "{v}")?;
        }
    }
    if let Some(dir) = &a.output_dir {
        let rows: Vec<Row> = scored
            .iter()
            .map(|s| Row {
                event: &events[s.index],
                finding: &s.finding,
            })
            .collect();
        let w = write_all(dir, &rows)?;
        eprintln!(
            "wrote {}, {}, {}",
            w.csv.display(),
            w.json.display(),
            w.png.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
