//! `lad feedback`: tell lad a message is normal here (or an anomaly), so that messages of
//! its kind follow the verdict from now on, across retrains and restarts.
//!
//! File mode (`--model DIR --message TEXT`) keeps the feedback in the model directory
//! (`feedback.json`, applied by every `lad detect --model DIR`). Service mode
//! (`--config FILE --id ID`) marks the document with `lad_feedback`, as any Mongo client
//! can; the worker of its host records it in `FEEDBACK_COLLECTION` and applies it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};
use lad::model::feedback::{self, FeedbackEntry, Verdict};
use lad::model::Model;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct FeedbackArgs {
    #[command(subcommand)]
    pub list: Option<FeedbackCommand>,
    /// File mode: the model directory (`lad detect --save-model DIR`).
    #[arg(long, conflicts_with_all = ["config", "id"], requires = "message")]
    pub model: Option<PathBuf>,
    /// File mode: the message the verdict is about (messages of its kind follow it).
    #[arg(long)]
    pub message: Option<String>,
    /// Service mode: the YAML configuration `lad run` uses.
    #[arg(long, short, requires = "id")]
    pub config: Option<PathBuf>,
    /// Service mode: the document's `_id` (ObjectId hex or string).
    #[arg(long)]
    pub id: Option<String>,
    /// `normal` (never flag this kind) or `anomaly` (always flag it).
    #[arg(required = true)]
    pub verdict: Option<Verdict>,
}

#[derive(Subcommand, Debug)]
pub enum FeedbackCommand {
    /// List the feedback of a model directory (file mode) or of the service (--config).
    List {
        #[arg(long, required_unless_present = "config")]
        model: Option<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

pub fn run(a: FeedbackArgs) -> anyhow::Result<ExitCode> {
    match (&a.list, &a.model, &a.config) {
        (Some(FeedbackCommand::List { config: Some(c), .. }), _, _) => list_service(c),
        (Some(FeedbackCommand::List { model: Some(m), .. }), _, _) => list_file(m),
        (Some(_), _, _) => anyhow::bail!("lad feedback list needs --model DIR or --config FILE"),
        (None, Some(dir), _) => mark_file(dir, a.message.as_deref(), a.verdict),
        (None, None, Some(config)) => mark_service(config, a.id.as_deref(), a.verdict),
        (None, None, None) => anyhow::bail!(
            "give --model DIR --message TEXT (file mode) or --config FILE --id ID (service mode), and a verdict"
        ),
    }
}

fn list_file(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let entries = feedback::load_file(dir)?;
    if entries.is_empty() {
        println!("no feedback in {}", dir.display());
    }
    for e in &entries {
        println!("{}\t{}\t{}", e.at.to_rfc3339(), e.verdict, e.message);
    }
    Ok(ExitCode::SUCCESS)
}

fn mark_file(
    dir: &std::path::Path,
    message: Option<&str>,
    verdict: Option<Verdict>,
) -> anyhow::Result<ExitCode> {
    let (Some(message), Some(verdict)) = (message, verdict) else {
        anyhow::bail!("give --message TEXT and a verdict (normal or anomaly)");
    };
    // Load first: feedback for a directory without a model would apply to nothing.
    let model = Model::load(dir).with_context(|| {
        format!(
            "loading the model in {} (train one with lad detect --save-model)",
            dir.display()
        )
    })?;
    let before = model.score_one(message);
    let entry = FeedbackEntry {
        message: message.to_string(),
        verdict,
        at: Utc::now(),
        id: None,
    };
    let all = feedback::append_file(dir, entry.clone())?;
    model.add_feedback(&entry);
    let after = model.score_one(message);
    println!(
        "recorded: {verdict} for messages like {message:?} ({} pieces of feedback in {}); score {:.3} -> {:.3}",
        all.len(),
        dir.join(feedback::FEEDBACK_FILE).display(),
        before.anomaly_score,
        after.anomaly_score
    );
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn mark_service(
    config: &std::path::Path,
    id: Option<&str>,
    verdict: Option<Verdict>,
) -> anyhow::Result<ExitCode> {
    let (Some(id), Some(verdict)) = (id, verdict) else {
        anyhow::bail!("give --id ID and a verdict (normal or anomaly)");
    };
    let coll = runtime()?.block_on(lad::service::layers::feedback_harvest::mark_cli(
        config, id, verdict,
    ))?;
    println!(
        "marked {coll} document {id} {verdict}; the worker of its host applies it on its next sweep (SWEEP_INTERVAL)"
    );
    Ok(ExitCode::SUCCESS)
}

fn list_service(config: &std::path::Path) -> anyhow::Result<ExitCode> {
    let all = runtime()?.block_on(lad::service::layers::feedback_harvest::list_cli(config))?;
    if all.is_empty() {
        println!("no feedback recorded");
    }
    for r in &all {
        println!(
            "{}/{}\t{}\t{}\t{}\t{}",
            r.collection,
            r.hostname,
            r.entry.at.to_rfc3339(),
            r.entry.verdict,
            r.entry.id.as_deref().unwrap_or("-"),
            r.entry.message
        );
    }
    Ok(ExitCode::SUCCESS)
}
