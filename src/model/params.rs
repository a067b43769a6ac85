//! Everything that decides how a model is trained. Saved inside the model.

use serde::{Deserialize, Serialize};

use crate::detect::autoencoder::AeParams;
use crate::detect::ensemble::EnsembleParams;
use crate::detect::lof::LofParams;
use crate::embed::Word2VecParams;
use crate::profile::Tokenizer;

/// Training parameters of a [`super::Model`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelParams {
    pub tokenizer: Tokenizer,
    pub embed: Word2VecParams,
    pub lof: LofParams,
    pub ae: AeParams,
    pub ensemble: EnsembleParams,
    /// `anomaly_score ≥ threshold` flags a message (calibrated rule).
    pub threshold: f64,
    /// Seed of every random choice in training.
    pub seed: u64,
    /// LOF and the autoencoder are fitted on at most this many distinct templates.
    pub max_distinct: usize,
}

impl Default for ModelParams {
    fn default() -> Self {
        Self {
            tokenizer: Tokenizer::default(),
            embed: Word2VecParams::default(),
            lof: LofParams::default(),
            ae: AeParams::default(),
            ensemble: EnsembleParams::default(),
            threshold: 0.78,
            seed: 42,
            max_distinct: 5_000,
        }
    }
}
