//! Features: what the detectors learn from and look at, built from a profile's tokens.
//!
//! ```text
//! tokens ──► template miner (message kind + parameter slots) ──► counts per kind / per slot value
//!        └─► word vectors (word2vec, IDF-weighted) ──► one vector per message kind
//! ```
//!
//! * [`template`] mines message kinds (Drain with IDF-weighted similarity);
//! * [`counts`] turns counts into p-values that mean the same on every host;
//! * [`TrainingSet`] is everything a detector may fit on.

pub mod counts;
pub mod template;
pub mod values;

pub use counts::{OnlineCounts, TailTable, Unseen};
pub use template::{Template, TemplateMiner, TemplateParams};
pub use values::{OnlineValues, ValueCounter, ValueCounts};

/// The structured part of one message: typed fields, time and the source's own severity
/// (all empty for plain log lines).
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    pub fields: &'a [crate::profile::Field],
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    /// Severity prior in `[0, 1]` from the source (Wazuh `rule.level / 15`).
    pub prior: Option<f64>,
}

/// Vectors of the training message kinds, one row per template, for the vector detectors.
#[derive(Debug, Clone)]
pub struct VectorSet {
    pub dim: usize,
    /// Row-major, `dim` wide, one row per entry of `templates`.
    pub rows: Vec<f32>,
    /// Messages of each row's kind in training.
    pub weights: Vec<f64>,
    /// Template id of each row.
    pub templates: Vec<u32>,
}

/// What detectors are fitted on: the host's training messages reduced to distinct token
/// sequences with counts, their message kinds, and (when a vector detector is configured)
/// one vector per kind.
#[derive(Debug, Clone, Copy)]
pub struct TrainingSet<'a> {
    /// Distinct token sequences and how many training messages had each, in order of first
    /// appearance (which keeps every fit deterministic).
    pub sequences: &'a [(Vec<String>, u64)],
    /// The template of each sequence.
    pub templates: &'a [u32],
    pub miner: &'a TemplateMiner,
    pub vectors: Option<&'a VectorSet>,
    /// Training messages in all.
    pub messages: u64,
    /// One context per training message (empty for plain log lines).
    pub contexts: &'a [Context<'a>],
}
