//! `lad feedback`: tell lad a message is normal here (or an anomaly), so that messages of
//! its kind follow the verdict from now on, across retrains and restarts.
//!
//! File mode keeps the feedback in the model directory (`feedback.json`, applied by every
//! `lad detect --model DIR`); service mode keeps it in MongoDB (see the service's feedback
//! module) and reads `lad_feedback` fields users set on documents.

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
    #[arg(long, required = true)]
    pub model: Option<PathBuf>,
    /// The message the verdict is about (messages of the same kind follow it).
    #[arg(long, required = true)]
    pub message: Option<String>,
    /// `normal` (never flag this kind) or `anomaly` (always flag it).
    #[arg(required = true)]
    pub verdict: Option<Verdict>,
}

#[derive(Subcommand, Debug)]
pub enum FeedbackCommand {
    /// List the feedback a model directory applies.
    List {
        #[arg(long)]
        model: PathBuf,
    },
}

pub fn run(a: FeedbackArgs) -> anyhow::Result<ExitCode> {
    if let Some(FeedbackCommand::List { model }) = &a.list {
        let entries = feedback::load_file(model)?;
        if entries.is_empty() {
            println!("no feedback in {}", model.display());
        }
        for e in &entries {
            println!("{}\t{}\t{}", e.at.to_rfc3339(), e.verdict, e.message);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(dir), Some(message), Some(verdict)) = (&a.model, &a.message, a.verdict) else {
        anyhow::bail!("give --model DIR --message TEXT and a verdict (normal or anomaly)");
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
        message: message.clone(),
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
