//! Everything that decides how a model is trained and scores. Saved inside the model.

use serde::{Deserialize, Serialize};

use crate::detect::autoencoder::AeParams;
use crate::detect::iforest::IForestParams;
use crate::detect::lof::LofParams;
use crate::embed::Word2VecParams;
use crate::ensemble::{EnsembleParams, Preset, Rule};
use crate::features::TemplateParams;
use crate::profile::Tokenizer;

/// Training parameters of a [`super::Model`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelParams {
    pub tokenizer: Tokenizer,
    pub template: TemplateParams,
    pub embed: Word2VecParams,
    pub lof: LofParams,
    pub ae: AeParams,
    pub iforest: IForestParams,
    pub ensemble: EnsembleParams,
    /// Seed of every random choice in training.
    pub seed: u64,
    /// Vector detectors are fitted on at most this many message kinds.
    pub max_distinct: usize,
    /// Remember what is scored after training (new kinds, new values), so a novelty is
    /// surprising the first time and less so after; see [`crate::detect::template`].
    /// On in the ops preset, off in the security preset.
    pub online: bool,
}

impl Default for ModelParams {
    fn default() -> Self {
        Self::preset(Preset::Ops)
    }
}

impl ModelParams {
    /// Defaults of a preset.
    pub fn preset(preset: Preset) -> Self {
        Self {
            tokenizer: Tokenizer::default(),
            template: TemplateParams::default(),
            embed: Word2VecParams::default(),
            lof: LofParams::default(),
            ae: AeParams::default(),
            iforest: IForestParams::default(),
            ensemble: EnsembleParams::from_preset(preset),
            seed: 42,
            max_distinct: 5_000,
            // Ops: a new kind is reported once, then remembered (no alert fatigue).
            // Security: what the baseline never had stays suspicious until the next retrain
            // (every event of a new attack flood is flagged).
            online: preset == Preset::Ops,
        }
    }

    /// The detectors that will be fitted: the configured ones, plus LOF and the autoencoder
    /// when the original rule needs their raw scores.
    pub fn fitted_kinds(&self) -> Vec<crate::detect::DetectorKind> {
        use crate::detect::DetectorKind as K;
        let mut kinds: Vec<K> = self.ensemble.detectors.iter().map(|d| d.kind).collect();
        if self.ensemble.rule == Rule::Original {
            for k in [K::Lof, K::Autoencoder] {
                if !kinds.contains(&k) {
                    kinds.push(k);
                }
            }
        }
        kinds.dedup();
        kinds
    }

    /// The `anomaly_score` threshold in use.
    pub fn threshold(&self) -> f64 {
        self.ensemble.decision_threshold()
    }
}
