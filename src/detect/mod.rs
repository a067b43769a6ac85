//! Detectors: each looks at a message from one angle and returns a raw score; the ensemble
//! combines them into `anomaly_score` and `is_anomaly`.
//!
//! | detector | looks at | raw score |
//! |---|---|---|
//! | [`lof::Lof`] | message vector vs. its nearest training vectors | LOF, ≈ 1 for inliers |
//! | [`autoencoder::Autoencoder`] | how well the vector is reconstructed | MSLE error |
//! | [`rarity::Rarity`] | how often the host said these words / this template | `[0, 1]` |
//! | [`severity`] | trouble words in the message | `[0, 1]` |

pub mod autoencoder;
pub mod calibrate;
pub mod ensemble;
pub mod knn;
pub mod lof;
pub mod rarity;
pub mod severity;

/// What a detector sees of one message.
pub struct Features<'a> {
    /// Masked tokens.
    pub tokens: &'a [String],
    /// Message vector (embedding dimension).
    pub vector: &'a [f32],
}

/// A fitted detector that scores messages. Fitting takes detector-specific inputs (vectors,
/// templates), so it is an inherent function of each type; persistence goes through serde.
pub trait Detector: Send + Sync {
    /// Short name used in reports and explanations.
    fn name(&self) -> &'static str;
    /// Raw score of one message; larger is more anomalous.
    fn score(&self, features: &Features<'_>) -> f64;
}

impl Detector for lof::Lof {
    fn name(&self) -> &'static str {
        "lof"
    }
    fn score(&self, f: &Features<'_>) -> f64 {
        lof::Lof::score(self, f.vector)
    }
}

impl Detector for autoencoder::Autoencoder {
    fn name(&self) -> &'static str {
        "autoencoder"
    }
    fn score(&self, f: &Features<'_>) -> f64 {
        self.error(f.vector)
    }
}

impl Detector for rarity::Rarity {
    fn name(&self) -> &'static str {
        "rarity"
    }
    fn score(&self, f: &Features<'_>) -> f64 {
        rarity::Rarity::score(self, f.tokens)
    }
}

/// The severity lexicon as a detector (it needs no fitting).
pub struct Severity;

impl Detector for Severity {
    fn name(&self) -> &'static str {
        "severity"
    }
    fn score(&self, f: &Features<'_>) -> f64 {
        severity::severity(f.tokens)
    }
}
