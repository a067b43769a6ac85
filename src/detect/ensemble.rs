//! The ensemble rule: how detector scores become `anomaly_score` and `is_anomaly`.
//!
//! Default rule ([`Rule::Calibrated`]):
//!
//! ```text
//! unusual       = (w_rarity·rarity + w_lof·cal(lof) + w_ae·cal(ae_error)) / (w_rarity + w_lof + w_ae)
//! anomaly_score = (1 − w_severity)·unusual + w_severity·severity          ∈ [0, 1]
//! is_anomaly    = anomaly_score ≥ threshold                               (default 0.78)
//! ```
//!
//! Defaults: `w_rarity` 2, `w_lof` 1, `w_ae` 0.25, `w_severity` 0.5, threshold 0.78. In words:
//! a message is flagged when it carries a fatal-class level or word and is clearly unusual for
//! the host (`unusual ≥ 0.56`), or carries an error-class level or word and is entirely unlike
//! anything the host said (`unusual ≥ 0.96`). Novel messages without trouble words rank high
//! in `anomaly_score` (up to 0.5) but are not flagged; set `severity_weight` to 0 and the
//! threshold to e.g. 0.8 for pure novelty detection. The autoencoder has the smallest weight:
//! on BGL_2k its calibrated error was the noisiest signal across seeds (see BENCHMARKS.md).
//!
//! `cal` maps a raw score onto this host's training distribution (see
//! [`super::calibrate`]), rarity is normalised by the training size, and severity is a fixed
//! lexicon, so a score means the same on every host and one threshold serves a fleet.
//!
//! [`Rule::Original`] reproduces the original LAD for comparison:
//! `is_anomaly = ae_error > ae_threshold AND lof > 1`, `anomaly_score = 0.5·(lof + ae_error)`.

use serde::{Deserialize, Serialize};

/// Which decision rule to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    #[default]
    Calibrated,
    Original,
}

impl std::str::FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "calibrated" => Ok(Self::Calibrated),
            "original" => Ok(Self::Original),
            o => Err(format!(
                "unknown rule '{o}': expected 'calibrated' or 'original'"
            )),
        }
    }
}

/// Ensemble weights and calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnsembleParams {
    pub rule: Rule,
    pub rarity_weight: f64,
    pub lof_weight: f64,
    pub ae_weight: f64,
    /// Share of the final score that comes from the severity lexicon.
    pub severity_weight: f64,
    /// Training quantile below which LOF and AE scores count as fully normal.
    pub calibration_tail: f64,
    /// Severity multiplier for messages quoting a caller's error (`No such file or directory`,
    /// `Permission denied`, …; see [`super::severity::USER_ERRORS`]). 1 turns it off.
    pub user_error_damping: f64,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        Self {
            rule: Rule::Calibrated,
            rarity_weight: 2.0,
            lof_weight: 1.0,
            ae_weight: 0.25,
            severity_weight: 0.5,
            calibration_tail: 0.9,
            user_error_damping: 0.5,
        }
    }
}

/// Every signal behind one message's score, so a user can see why it was flagged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Signals {
    pub rarity: f64,
    pub lof: f64,
    pub lof_calibrated: f64,
    pub ae_error: f64,
    pub ae_calibrated: f64,
    pub severity: f64,
}

/// The result for one message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub is_anomaly: bool,
    pub anomaly_score: f64,
    pub signals: Signals,
}

impl EnsembleParams {
    /// Applies the rule.
    pub fn combine(&self, s: &Signals, threshold: f64, ae_threshold: f64) -> Score {
        match self.rule {
            Rule::Original => {
                let score = 0.5 * (s.lof + s.ae_error);
                Score {
                    is_anomaly: s.ae_error > ae_threshold && s.lof > 1.0,
                    anomaly_score: score,
                    signals: *s,
                }
            }
            Rule::Calibrated => {
                let wsum =
                    (self.rarity_weight + self.lof_weight + self.ae_weight).max(f64::MIN_POSITIVE);
                let unusual = (self.rarity_weight * s.rarity
                    + self.lof_weight * s.lof_calibrated
                    + self.ae_weight * s.ae_calibrated)
                    / wsum;
                let w = self.severity_weight.clamp(0.0, 1.0);
                let score = ((1.0 - w) * unusual + w * s.severity).clamp(0.0, 1.0);
                Score {
                    is_anomaly: score >= threshold,
                    anomaly_score: score,
                    signals: *s,
                }
            }
        }
    }
}

impl Signals {
    /// A short human explanation of the strongest reasons.
    pub fn explain(&self) -> String {
        let mut parts = Vec::new();
        if self.rarity >= 0.75 {
            parts.push("new to this host".to_string());
        } else if self.rarity >= 0.4 {
            parts.push("rare for this host".to_string());
        }
        if self.severity >= 1.0 {
            parts.push("fatal/failure words".to_string());
        } else if self.severity >= 0.6 {
            parts.push("error words".to_string());
        }
        if self.lof_calibrated >= 0.5 {
            parts.push(format!("far from known messages (LOF {:.1})", self.lof));
        }
        if self.ae_calibrated >= 0.5 {
            parts.push("poorly reconstructed".to_string());
        }
        if parts.is_empty() {
            "typical".to_string()
        } else {
            parts.join(", ")
        }
    }
}
