//! Command-line definitions and dispatch.

mod bench;
mod detect;
mod eval;
mod events;
mod feedback;
mod progress;
mod report;
mod threat;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lad::detect::lof::Metric;
use lad::ensemble::{Preset, Rule};
use lad::model::ModelParams;
use lad::profile::Tokenizer;

#[derive(Parser, Debug)]
#[command(
    name = "lad",
    version,
    about = "Log anomaly detection: learns each host's normal messages and flags what is new"
)]
pub struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "LAD_LOG_JSON")]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train on log files (or their first half) and score them; prints the top anomalies.
    Detect(detect::DetectArgs),
    /// Measure detection quality on a labeled log (chronological split).
    Eval(eval::EvalArgs),
    /// Measure training time, scoring throughput and memory on real and generated logs.
    Bench(bench::BenchArgs),
    /// Service mode: score new MongoDB documents per (collection, host), continuously.
    Run(RunArgs),
    /// Render an HTML report with plots: from the NDJSON `lad detect` wrote, or with
    /// --config from the documents `lad run` scored in MongoDB.
    Report(report::ReportArgs),
    /// Service mode: which `lad run` process owns which (collection, host), resume points,
    /// live processes (from the state collection).
    Status(StatusArgs),
    /// Group flagged anomalies into `***` templates (DBSCAN), on AGGR_SCHEDULE or once.
    Aggregate(AggregateArgs),
    /// Mark a message normal (or an anomaly) for a model; `lad feedback list` shows them.
    Feedback(feedback::FeedbackArgs),
    /// Threat layer: burst detectors and threat rules (eval on labeled events, bench).
    Threat(threat::ThreatArgs),
}

#[derive(Args, Debug)]
pub struct AggregateArgs {
    /// The aggregator YAML (the original log-aggregator's keys; see README).
    #[arg(long = "config-yaml", alias = "config")]
    pub config_yaml: PathBuf,
    /// Run one pass, then exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The YAML configuration (the original LAD's keys plus ours; see README).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Score the current backlog once, then exit (for cron and tests).
    #[arg(long)]
    pub once: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The YAML configuration `lad run` uses.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Model options shared by `detect`, `eval` and `bench`.
#[derive(Args, Debug, Clone)]
pub struct ModelOpts {
    /// Detection preset: ops (severity weighs in) or security (novelty and rarity first).
    #[arg(long, default_value = "ops")]
    pub preset: Preset,
    /// Expected share of anomalies; with nothing else known, about this share of a host's
    /// training messages is flagged.
    #[arg(long)]
    pub contamination: Option<f64>,
    /// Explicit `anomaly_score` threshold (default 0.5: novelty p ≤ contamination × prior).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Detectors and Bonferroni weights, e.g. `template,params=0.25,words=0.5,iforest=0.25`
    /// (template, params, words, lof, iforest, autoencoder). Default: the preset's.
    #[arg(long)]
    pub detectors: Option<String>,
    /// Exponent on the severity prior: 1 as the preset says, 0 ignores severity.
    #[arg(long)]
    pub severity_weight: Option<f64>,
    /// How detector p-values combine: bonferroni (the strongest one) or fisher (their
    /// calibrated product).
    #[arg(long)]
    pub combine: Option<lad::ensemble::Combine>,
    /// Prior multiplier for messages quoting a caller's error (`No such file or directory`,
    /// …); 1 turns it off.
    #[arg(long, alias = "user-error-damping")]
    pub caller_error: Option<f64>,
    /// Severity prior ratios, e.g. `level.fatal=4,text.error=5,caller=0.2`.
    #[arg(long)]
    pub prior: Option<String>,
    /// Seed of every random choice in training (same seed, same scores).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// LOF neighbours.
    #[arg(long, default_value_t = 100)]
    pub lof_neighbors: usize,
    /// LOF metric: euclidean or cosine.
    #[arg(long, default_value = "euclidean")]
    pub lof_metric: Metric,
    /// Tokenizer: masked (default) or letters (the original LAD's).
    #[arg(long, default_value = "masked")]
    pub tokenizer: Tokenizer,
    /// Decision rule: calibrated (default) or original (ae > threshold AND lof > 1).
    #[arg(long, default_value = "calibrated")]
    pub rule: Rule,
    /// Word vector size (vector detectors only).
    #[arg(long, default_value_t = 25)]
    pub dim: usize,
    /// Template miner similarity (Drain's st, IDF-weighted).
    #[arg(long)]
    pub similarity: Option<f64>,
    /// Vector detectors are fitted on at most this many message kinds.
    #[arg(long, default_value_t = 5_000)]
    pub max_distinct: usize,
    /// Online novelty memory: remember messages scored after training, so a new kind is
    /// flagged once rather than every time (default: on for ops, off for security).
    #[arg(long)]
    pub online: Option<bool>,
}

impl ModelOpts {
    pub fn params(&self) -> anyhow::Result<ModelParams> {
        let mut p = ModelParams::preset(self.preset);
        p.seed = self.seed;
        p.tokenizer = self.tokenizer;
        p.lof.neighbors = self.lof_neighbors;
        p.lof.metric = self.lof_metric;
        p.embed.dim = self.dim;
        p.max_distinct = self.max_distinct;
        if let Some(o) = self.online {
            p.online = o;
        }
        if let Some(s) = self.similarity {
            anyhow::ensure!(
                (0.0..=1.0).contains(&s),
                "--similarity must be in [0, 1], got {s}"
            );
            p.template.similarity = s;
        }
        let e = &mut p.ensemble;
        e.rule = self.rule;
        if let Some(c) = self.contamination {
            anyhow::ensure!(
                c > 0.0 && c <= 0.5,
                "--contamination must be in (0, 0.5], got {c}"
            );
            e.contamination = c;
        }
        if let Some(t) = self.threshold {
            anyhow::ensure!(t > 0.0 && t < 1.0, "--threshold must be in (0, 1), got {t}");
            e.threshold = Some(t);
        }
        if let Some(d) = &self.detectors {
            e.detectors =
                lad::detect::parse_detectors(d).map_err(|m| anyhow::anyhow!("--detectors: {m}"))?;
        }
        if let Some(c) = self.combine {
            e.combine = c;
        }
        if let Some(w) = self.severity_weight {
            anyhow::ensure!(w >= 0.0, "--severity-weight must be ≥ 0, got {w}");
            e.severity_weight = w;
        }
        if let Some(spec) = &self.prior {
            e.prior
                .apply_overrides(spec)
                .map_err(|m| anyhow::anyhow!("--prior: {m}"))?;
        }
        if let Some(c) = self.caller_error {
            anyhow::ensure!(c > 0.0, "--caller-error must be > 0, got {c}");
            e.prior.caller_error = c;
        }
        Ok(p)
    }
}

pub fn init_tracing(json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("LAD_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Detect(a) => detect::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Report(a) => report::run(a),
        Command::Threat(a) => threat::run(a),
        Command::Feedback(a) => feedback::run(a),
        Command::Aggregate(a) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(lad::aggregate::run_cli(&a.config_yaml, a.once))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(a) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(lad::service::serve::status::status_cli(&a.config, a.json))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(a) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(lad::service::run_cli(&a.config, a.once))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Paths given on the command line, for messages.
pub fn show(p: &std::path::Path) -> String {
    p.display().to_string()
}
