//! Command-line definitions and dispatch.

mod bench;
mod detect;
mod eval;
mod progress;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lad::detect::ensemble::Rule;
use lad::detect::lof::Metric;
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
    /// Group flagged anomalies into `***` templates (DBSCAN), on AGGR_SCHEDULE or once.
    Aggregate(AggregateArgs),
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

/// Model options shared by `detect`, `eval` and `bench`.
#[derive(Args, Debug, Clone)]
pub struct ModelOpts {
    /// Seed of every random choice in training (same seed, same scores).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// `anomaly_score ≥ threshold` flags a message.
    #[arg(long, default_value_t = 0.78)]
    pub threshold: f64,
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
    /// Word vector size.
    #[arg(long, default_value_t = 25)]
    pub dim: usize,
    /// Weight of the severity lexicon in the final score (0 disables it).
    #[arg(long)]
    pub severity_weight: Option<f64>,
    /// Weight of token/template rarity in `unusual` (ablation: 0 disables it).
    #[arg(long)]
    pub rarity_weight: Option<f64>,
    /// Weight of calibrated LOF in `unusual`.
    #[arg(long)]
    pub lof_weight: Option<f64>,
    /// Weight of the calibrated autoencoder error in `unusual`.
    #[arg(long)]
    pub ae_weight: Option<f64>,
    /// Severity multiplier for caller errors (`No such file or directory`, …); 1 = off.
    #[arg(long)]
    pub user_error_damping: Option<f64>,
    /// LOF and the autoencoder are fitted on at most this many distinct templates.
    #[arg(long, default_value_t = 5_000)]
    pub max_distinct: usize,
}

impl ModelOpts {
    pub fn params(&self) -> ModelParams {
        let mut p = ModelParams {
            seed: self.seed,
            threshold: self.threshold,
            tokenizer: self.tokenizer,
            ..Default::default()
        };
        p.lof.neighbors = self.lof_neighbors;
        p.lof.metric = self.lof_metric;
        p.ensemble.rule = self.rule;
        p.embed.dim = self.dim;
        p.max_distinct = self.max_distinct;
        let e = &mut p.ensemble;
        for (opt, field) in [
            (self.severity_weight, &mut e.severity_weight),
            (self.rarity_weight, &mut e.rarity_weight),
            (self.lof_weight, &mut e.lof_weight),
            (self.ae_weight, &mut e.ae_weight),
            (self.user_error_damping, &mut e.user_error_damping),
        ] {
            if let Some(w) = opt {
                *field = w;
            }
        }
        p
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
        Command::Aggregate(a) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(lad::aggregate::run_cli(&a.config_yaml, a.once))?;
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
