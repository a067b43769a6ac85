//! `lad-aggregator`: groups the anomalies lad flagged into message templates.
//!
//! A thin front for `lad::aggregate` (the same code `lad aggregate` can call):
//!
//! * `lad-aggregator run --config-yaml FILE [--once]` — the original aggregator's command;
//!   runs on `AGGR_SCHEDULE`, or one pass with `--once`;
//! * `lad-aggregator bench [--messages N]` — times vectorize / cluster / template on
//!   generated anomalies (no database) and prints JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lad::aggregate::batch::BatchParams;
use lad::aggregate::cluster::{DbscanParams, DEFAULT_EPS, DEFAULT_MIN_SAMPLES};
use lad::aggregate::vectors::{VectorMode, VectorParams};

#[derive(Parser, Debug)]
#[command(
    name = "lad-aggregator",
    version,
    about = "Groups the anomalies lad flagged into message templates (DBSCAN), on a schedule"
)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "LAD_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Aggregate anomalies from MongoDB: on AGGR_SCHEDULE, or once with --once.
    Run(RunArgs),
    /// Time vectorize / cluster / template on generated anomalies (no database); prints JSON.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The aggregator's YAML configuration (see README.md, "Aggregator").
    #[arg(long = "config-yaml", alias = "config", value_name = "FILE")]
    config_yaml: PathBuf,
    /// One pass now, then exit (no schedule).
    #[arg(long)]
    once: bool,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Generated anomalies.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Message families (at most 30); about 5 % of the messages are one-offs.
    #[arg(long, default_value_t = 30)]
    families: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// AGGR_EPS.
    #[arg(long, default_value_t = DEFAULT_EPS)]
    eps: f64,
    /// AGGR_MIN_SAMPLES (at least 2).
    #[arg(long, default_value_t = DEFAULT_MIN_SAMPLES)]
    min_samples: usize,
    /// AGGR_VECTORS: hashed or word2vec.
    #[arg(long, default_value = "hashed")]
    vectors: VectorMode,
    /// AGGR_VECTOR_LENGTH (default: 50 for hashed, 25 for word2vec).
    #[arg(long)]
    vector_length: Option<usize>,
    /// SEED of the token vectors / word2vec.
    #[arg(long, default_value_t = 0)]
    vector_seed: u64,
}

fn init_tracing(json: bool) {
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

fn bench(a: &BenchArgs) -> anyhow::Result<()> {
    let params = BatchParams {
        vectors: VectorParams {
            mode: a.vectors,
            dim: a.vector_length.unwrap_or(a.vectors.default_dim()).max(1),
            seed: a.vector_seed,
            ..VectorParams::default()
        },
        dbscan: DbscanParams {
            eps: a.eps,
            min_samples: a.min_samples.max(2),
        },
    };
    let report = lad::aggregate::bench::run(a.messages, a.families, a.seed, &params);
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    let result = match cli.command {
        Command::Run(a) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(lad::aggregate::run_cli(&a.config_yaml, a.once))),
        Command::Bench(a) => bench(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
