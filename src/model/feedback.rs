//! Feedback that sticks: a user says "this is normal here" (or "this is an anomaly") about
//! one message, and every message of the same kind follows the verdict, across retrains and
//! restarts.
//!
//! Feedback is kept *outside* the trained model: in file mode in `feedback.json` next to the
//! model's `CURRENT` pointer (retraining writes a new generation and leaves it alone), in
//! service mode in a Mongo collection per (collection, host). A model applies it as an
//! index built against its own templates, so after a retrain the same feedback maps to the
//! new model's template for that message. Matching: a message of the feedback message's
//! template follows it; a message without a trained template follows it when its tokens are
//! like the feedback message's (same length, weighted share of equal tokens at least the
//! template similarity). The newest verdict for a kind wins.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ModelError;
pub use crate::ensemble::verdict::{BadVerdict, Verdict};
use crate::features::TemplateMiner;

/// One piece of feedback: the message it was given on and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackEntry {
    pub message: String,
    pub verdict: Verdict,
    pub at: DateTime<Utc>,
    /// Where it came from (a document `_id` in service mode), for `lad feedback list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// File holding a model directory's feedback (file mode).
pub const FEEDBACK_FILE: &str = "feedback.json";

/// The feedback stored in model directory `dir` (none when there is no file yet).
pub fn load_file(dir: &Path) -> Result<Vec<FeedbackEntry>, ModelError> {
    let path = dir.join(FEEDBACK_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ModelError::Corrupt {
            path: path.clone(),
            what: format!("{FEEDBACK_FILE}: {e} (fix or delete the file)"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(ModelError::Read { path, source }),
    }
}

/// Appends `entry` to the feedback of model directory `dir` (written atomically).
pub fn append_file(dir: &Path, entry: FeedbackEntry) -> Result<Vec<FeedbackEntry>, ModelError> {
    let mut all = load_file(dir)?;
    all.push(entry);
    let path = dir.join(FEEDBACK_FILE);
    crate::durable::write_atomically(&path, |w| {
        serde_json::to_writer_pretty(w, &all).map_err(std::io::Error::other)
    })
    .map_err(|source| ModelError::Write { path, source })?;
    Ok(all)
}

/// Feedback as one model applies it: verdicts per template of that model, plus the token
/// shapes of the feedback messages for messages no template covers.
#[derive(Debug, Default)]
pub(crate) struct FeedbackIndex {
    by_template: HashMap<u32, Verdict>,
    shapes: Vec<(Vec<String>, Verdict)>,
    entries: usize,
}

impl FeedbackIndex {
    /// Adds one verdict on a message with `tokens` (tokenized as the model does).
    pub fn add(&mut self, miner: &TemplateMiner, tokens: Vec<String>, verdict: Verdict) {
        if let Some(id) = miner.find(&tokens) {
            self.by_template.insert(id, verdict);
        }
        // A newer verdict on the same shape replaces the older one.
        self.shapes.retain(|(t, _)| *t != tokens);
        self.shapes.push((tokens, verdict));
        self.entries += 1;
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    /// The verdict that applies to a message with `tokens` and `template`, if any.
    pub fn verdict(
        &self,
        miner: &TemplateMiner,
        tokens: &[String],
        template: Option<u32>,
    ) -> Option<Verdict> {
        if self.entries == 0 {
            return None;
        }
        if let Some(v) = template.and_then(|t| self.by_template.get(&t)) {
            return Some(*v);
        }
        let need = miner.params().similarity;
        self.shapes
            .iter()
            .rev()
            .find(|(t, _)| miner.likeness(t, tokens) >= need)
            .map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_appends() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_file(dir.path()).unwrap().is_empty());
        let e = |m: &str, v| FeedbackEntry {
            message: m.into(),
            verdict: v,
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            id: None,
        };
        append_file(dir.path(), e("a b c", Verdict::Normal)).unwrap();
        let all = append_file(dir.path(), e("x y", Verdict::Anomaly)).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(load_file(dir.path()).unwrap(), all);
        std::fs::write(dir.path().join(FEEDBACK_FILE), "{").unwrap();
        let err = load_file(dir.path()).unwrap_err().to_string();
        assert!(err.contains("feedback.json"), "{err}");
    }
}
