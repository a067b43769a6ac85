//! Evaluation on labeled logs, following the protocol in `../shared/data/README.md`:
//! chronological split (train on the first part in file order, score the rest), labels
//! stripped before the model sees a message, one JSON object of fixed keys as the result.

pub mod events;
pub mod metrics;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde::Serialize;

use crate::model::{Model, ModelError, ModelParams, Score};
use crate::source::Record;

/// How the model meets the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Train on the first part, score the rest (learning online as it goes, as the service
    /// does with new documents).
    #[default]
    Split,
    /// Train on everything and score the same messages: the service's first pass over a
    /// backlog that is also its training window.
    #[serde(rename = "self")]
    #[value(name = "self")]
    SelfTrained,
}

/// The result object. Field names are the protocol's keys.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub mode: Mode,
    pub n_train: usize,
    pub n_test: usize,
    pub train_seconds: f64,
    pub score_seconds: f64,
    pub messages_per_second: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub flagged_rate: f64,
    /// HDFS only: a block is flagged when any of its test lines is; its score is the maximum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_level: Option<BlockReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockReport {
    pub n_blocks: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub flagged_rate: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("need at least one training and one test record, got {0} records")]
    TooFew(usize),
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Runs the protocol. `block_labels` (HDFS) labels lines by the blocks they mention. Returns
/// the report, the scores of the scored records and the index of the first scored record.
pub fn evaluate(
    records: &[Record],
    mode: Mode,
    train_frac: f64,
    params: &ModelParams,
    block_labels: Option<&HashMap<String, bool>>,
) -> Result<(EvalReport, Vec<Score>), EvalError> {
    let split = ((records.len() as f64) * train_frac.clamp(0.0, 1.0)).floor() as usize;
    let (n_train, first_scored) = match mode {
        Mode::Split => (split, split),
        Mode::SelfTrained => (records.len(), 0),
    };
    if n_train == 0 || first_scored >= records.len() {
        return Err(EvalError::TooFew(records.len()));
    }
    // Unlabeled files (most of loghub) still report flagged rates; the label metrics are
    // then NaN (null in the JSON).
    let labels: Option<Vec<bool>> = match block_labels {
        Some(map) => Some(
            records
                .iter()
                .map(|r| {
                    r.blocks
                        .iter()
                        .any(|b| map.get(b).copied().unwrap_or(false))
                })
                .collect(),
        ),
        None => records
            .iter()
            .map(|r| r.label)
            .collect::<Option<Vec<bool>>>(),
    };
    let train: Vec<&str> = records[..n_train]
        .iter()
        .map(|r| r.message.as_str())
        .collect();
    let test: Vec<&str> = records[first_scored..]
        .iter()
        .map(|r| r.message.as_str())
        .collect();
    let t0 = Instant::now();
    let model = Model::fit(&train, params)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let scores = match mode {
        Mode::Split => model.score_and_learn(&test),
        Mode::SelfTrained => model.score(&test),
    };
    let score_seconds = t1.elapsed().as_secs_f64();
    let unlabeled = vec![false; records.len()];
    let y = &labels.as_deref().unwrap_or(&unlabeled)[first_scored..];
    let known = |x: f64| if labels.is_some() { x } else { f64::NAN };
    let flags: Vec<bool> = scores.iter().map(|s| s.is_anomaly).collect();
    let values: Vec<f64> = scores.iter().map(|s| s.anomaly_score).collect();
    let c = metrics::Confusion::of(y, &flags);
    let block_level = block_labels.map(|map| block_report(&records[first_scored..], &scores, map));
    let report = EvalReport {
        mode,
        n_train,
        n_test: test.len(),
        train_seconds,
        score_seconds,
        messages_per_second: test.len() as f64 / score_seconds.max(1e-9),
        precision: known(c.precision()),
        recall: known(c.recall()),
        f1: known(c.f1()),
        roc_auc: known(metrics::roc_auc(y, &values)),
        pr_auc: known(metrics::average_precision(y, &values)),
        flagged_rate: flags.iter().filter(|&&f| f).count() as f64 / flags.len().max(1) as f64,
        block_level,
    };
    Ok((report, scores))
}

fn block_report(records: &[Record], scores: &[Score], map: &HashMap<String, bool>) -> BlockReport {
    let mut blocks: HashMap<&str, (bool, f64)> = HashMap::new();
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for (r, s) in records.iter().zip(scores) {
        for b in &r.blocks {
            if seen.insert(b.as_str()) {
                order.push(b.as_str());
            }
            let e = blocks
                .entry(b.as_str())
                .or_insert((false, f64::NEG_INFINITY));
            e.0 |= s.is_anomaly;
            e.1 = e.1.max(s.anomaly_score);
        }
    }
    let y: Vec<bool> = order
        .iter()
        .map(|b| map.get(*b).copied().unwrap_or(false))
        .collect();
    let flags: Vec<bool> = order.iter().map(|b| blocks[b].0).collect();
    let values: Vec<f64> = order.iter().map(|b| blocks[b].1).collect();
    let c = metrics::Confusion::of(&y, &flags);
    BlockReport {
        n_blocks: order.len(),
        precision: c.precision(),
        recall: c.recall(),
        f1: c.f1(),
        roc_auc: metrics::roc_auc(&y, &values),
        pr_auc: metrics::average_precision(&y, &values),
        flagged_rate: flags.iter().filter(|&&f| f).count() as f64 / flags.len().max(1) as f64,
    }
}

/// Reads `BlockId,Label` CSV (Label ∈ {Normal, Anomaly}).
pub fn parse_block_labels(text: &str) -> Result<HashMap<String, bool>, String> {
    let mut map = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.to_ascii_lowercase().starts_with("blockid")) {
            continue;
        }
        let (id, label) = line
            .split_once(',')
            .ok_or_else(|| format!("line {}: expected 'BlockId,Label'", i + 1))?;
        let anomalous = match label.trim() {
            "Anomaly" => true,
            "Normal" => false,
            other => {
                return Err(format!(
                    "line {}: label '{other}' is neither Normal nor Anomaly",
                    i + 1
                ))
            }
        };
        map.insert(id.trim().to_string(), anomalous);
    }
    Ok(map)
}
