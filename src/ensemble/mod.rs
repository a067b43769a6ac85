//! The ensemble: how detector evidence and the severity prior become `anomaly_score` and
//! `is_anomaly`.
//!
//! ```text
//! p_i        each detector's p-value on the host's training distribution (small = unusual)
//! p          = min_i  p_i · W / w_i            weighted Bonferroni, W = Σ w_i   (novelty)
//! λ          = prior(level) · prior(text) ^ severity_weight                       (severity)
//! odds       = contamination · λ / p
//! score      = odds / (1 + odds)               ∈ (0, 1)
//! is_anomaly = score ≥ threshold               (0.5 unless SCORE_THRESHOLD is set)
//! ```
//!
//! In words: a message is flagged when its novelty p-value is below `contamination × λ`.
//! Because every p-value is a share of the host's own training messages, on a host's
//! training data about a `contamination` share is flagged when nothing else is known
//! (λ = 1), whatever the host logs — that is the per-host threshold, and why one setting
//! means the same on every host. Severity is a prior, not a gate: a fatal-class message
//! (λ = 80 in the ops preset) is flagged if it is among the rarer 40 % of the host's traffic,
//! a message with no trouble word if it is among the rarest 0.5 %. The Bonferroni weights
//! keep that budget when several detectors vote: each may spend only its share of it.
//!
//! [`Rule::Original`] reproduces the original LAD for comparison:
//! `is_anomaly = ae_error > ae_threshold AND lof > 1`, `anomaly_score = 0.5·(lof + ae_error)`.

pub mod preset;
pub mod prior;
pub mod verdict;

use serde::{Deserialize, Serialize};

use crate::detect::{DetectorKind, DetectorSpec, Evidence};
pub use preset::Preset;

pub use prior::{Class, PriorParams, Severity};

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

/// How detector p-values become one novelty p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// `min_i p_i · W / w_i`: the strongest single piece of evidence, each detector
    /// spending its weight's share of the false-alarm budget.
    #[default]
    Bonferroni,
    /// `T = Σ_i w_i · (−ln p_i)`, calibrated against the training messages' own `T` (the
    /// share of training messages with a `T` at least as large): several moderately unusual
    /// signals together count, and the result is again a share of the host's training data.
    Fisher,
}

impl std::str::FromStr for Combine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bonferroni" | "min" => Ok(Self::Bonferroni),
            "fisher" | "product" => Ok(Self::Fisher),
            o => Err(format!(
                "unknown combination '{o}': expected bonferroni or fisher"
            )),
        }
    }
}

/// Default `contamination`: the expected share of anomalies (see BENCHMARKS.md for the
/// measurement behind it).
pub const DEFAULT_CONTAMINATION: f64 = 0.005;

/// Ensemble settings. Saved with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnsembleParams {
    pub rule: Rule,
    /// The preset the other fields came from (for display; the fields decide).
    pub preset: Preset,
    /// Expected share of anomalies (the seeds' knob).
    pub contamination: f64,
    /// Explicit `anomaly_score` threshold; `None` = 0.5, i.e. `p ≤ contamination × λ`.
    pub threshold: Option<f64>,
    /// Exponent on the severity prior: 1 as the preset says, 0 ignores severity.
    pub severity_weight: f64,
    pub prior: PriorParams,
    /// The detectors, in order, with their weights.
    pub detectors: Vec<DetectorSpec>,
    /// How their p-values combine.
    pub combine: Combine,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        Self::from_preset(Preset::Ops)
    }
}

impl EnsembleParams {
    pub fn from_preset(preset: Preset) -> Self {
        Self {
            rule: Rule::Calibrated,
            preset,
            contamination: DEFAULT_CONTAMINATION,
            threshold: None,
            severity_weight: 1.0,
            prior: preset.prior(),
            detectors: preset.detectors(),
            combine: preset.combine(),
        }
    }

    /// The decision threshold on `anomaly_score`.
    pub fn decision_threshold(&self) -> f64 {
        self.threshold.unwrap_or(0.5)
    }

    /// Weight of a detector (0 when it is not configured).
    pub fn weight(&self, kind: DetectorKind) -> f64 {
        self.detectors
            .iter()
            .find(|d| d.kind == kind)
            .map_or(0.0, |d| d.weight.max(0.0))
    }

    /// Combined novelty p-value (weighted Bonferroni over the detectors that were fitted:
    /// a field detector on plain log lines, with nothing to fit, takes no share).
    pub fn novelty(&self, ev: &Evidences) -> f64 {
        let fitted = |d: &&DetectorSpec| d.weight > 0.0 && ev.get(d.kind).is_some();
        let total: f64 = self.detectors.iter().filter(fitted).map(|d| d.weight).sum();
        let mut p: f64 = 1.0;
        for d in self.detectors.iter().filter(fitted) {
            if let Some(e) = ev.get(d.kind) {
                p = p.min(e.p * total / d.weight);
            }
        }
        p.clamp(f64::MIN_POSITIVE, 1.0)
    }

    /// The Fisher statistic `Σ w_i · (−ln p_i)` over the fitted detectors.
    pub fn fisher_statistic(&self, ev: &Evidences) -> f64 {
        self.detectors
            .iter()
            .filter(|d| d.weight > 0.0)
            .filter_map(|d| ev.get(d.kind).map(|e| d.weight * -e.p.max(1e-300).ln()))
            .sum()
    }

    /// Applies the rule; `fisher` is the training calibration of the Fisher statistic (when
    /// `combine` is Fisher).
    pub fn combine(
        &self,
        mut signals: Signals,
        ae_threshold: f64,
        fisher: Option<&crate::detect::calibrate::Calibrator>,
    ) -> Score {
        match self.rule {
            Rule::Original => {
                let lof = signals.evidence.lof.map_or(1.0, |e| e.raw);
                let ae = signals.evidence.autoencoder.map_or(0.0, |e| e.raw);
                Score {
                    is_anomaly: ae > ae_threshold && lof > 1.0,
                    anomaly_score: 0.5 * (lof + ae),
                    signals,
                }
            }
            Rule::Calibrated => {
                let p = match (self.combine, fisher) {
                    (Combine::Fisher, Some(cal)) => cal
                        .p_value(self.fisher_statistic(&signals.evidence))
                        .clamp(f64::MIN_POSITIVE, 1.0),
                    _ => self.novelty(&signals.evidence),
                };
                let lambda = if self.severity_weight == 1.0 {
                    signals.prior
                } else {
                    signals.prior.powf(self.severity_weight.max(0.0))
                };
                let odds = self.contamination.clamp(1e-9, 1.0) * lambda / p;
                let score = if odds.is_finite() {
                    odds / (1.0 + odds)
                } else {
                    1.0
                };
                signals.novelty_p = p;
                Score {
                    is_anomaly: score >= self.decision_threshold(),
                    anomaly_score: score.clamp(0.0, 1.0),
                    signals,
                }
            }
        }
    }
}

/// One optional [`Evidence`] per detector kind (fixed size, so scores stay `Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Evidences {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub template: Option<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub params: Option<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub words: Option<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lof: Option<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub iforest: Option<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub autoencoder: Option<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fields: Option<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub numeric: Option<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hour: Option<Evidence>,
}

impl Evidences {
    pub fn get(&self, kind: DetectorKind) -> Option<Evidence> {
        match kind {
            DetectorKind::Template => self.template,
            DetectorKind::Params => self.params,
            DetectorKind::Words => self.words,
            DetectorKind::Lof => self.lof,
            DetectorKind::IForest => self.iforest,
            DetectorKind::Autoencoder => self.autoencoder,
            DetectorKind::Fields => self.fields,
            DetectorKind::Numeric => self.numeric,
            DetectorKind::Hour => self.hour,
        }
    }

    pub fn set(&mut self, kind: DetectorKind, e: Evidence) {
        let slot = match kind {
            DetectorKind::Template => &mut self.template,
            DetectorKind::Params => &mut self.params,
            DetectorKind::Words => &mut self.words,
            DetectorKind::Lof => &mut self.lof,
            DetectorKind::IForest => &mut self.iforest,
            DetectorKind::Autoencoder => &mut self.autoencoder,
            DetectorKind::Fields => &mut self.fields,
            DetectorKind::Numeric => &mut self.numeric,
            DetectorKind::Hour => &mut self.hour,
        };
        *slot = Some(e);
    }
}

/// Every signal behind one message's score, so a user can see why it was flagged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Signals {
    /// Combined novelty p-value (filled in by [`EnsembleParams::combine`]).
    pub novelty_p: f64,
    /// Severity likelihood ratio λ (before `severity_weight`).
    pub prior: f64,
    pub severity: Severity,
    /// The trained template (message kind), if the message has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub template_id: Option<u32>,
    /// Training messages of that kind (0 = a kind new to the host; `None` without the
    /// template detector).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub template_count: Option<u64>,
    /// Training messages in all.
    pub training_messages: u64,
    pub evidence: Evidences,
    /// A user's verdict on messages of this kind, when one applies (it decided the score).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub feedback: Option<verdict::Verdict>,
}

/// The result for one message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub is_anomaly: bool,
    pub anomaly_score: f64,
    pub signals: Signals,
}

impl Signals {
    /// A short human explanation of the strongest reasons, e.g. `kind seen 3× in 1,000
    /// training messages, rare parameter, fatal-class level`.
    pub fn explain(&self) -> String {
        let mut parts = Vec::new();
        match self.template_count {
            Some(0) => parts.push("new kind of message for this host".to_string()),
            Some(c) if self.evidence.template.is_some_and(|e| e.p < 0.05) => parts.push(format!(
                "kind seen {c}× in {} training messages",
                self.training_messages
            )),
            _ => {}
        }
        if self.evidence.params.is_some_and(|e| e.p < 0.05) {
            let raw = self.evidence.params.map_or(0.0, |e| e.raw);
            parts.push(if raw == 0.0 {
                "new value inside a known kind".to_string()
            } else {
                format!("rare value inside a known kind (seen {raw}×)")
            });
        }
        if self.evidence.words.is_some_and(|e| e.p < 0.05) {
            let raw = self.evidence.words.map_or(0.0, |e| e.raw);
            parts.push(if raw == 0.0 {
                "new word".to_string()
            } else {
                "rare word".to_string()
            });
        }
        for (kind, what) in [
            (DetectorKind::Lof, "far from known kinds"),
            (DetectorKind::IForest, "easily isolated"),
            (DetectorKind::Autoencoder, "poorly reconstructed"),
        ] {
            if let Some(e) = self.evidence.get(kind).filter(|e| e.p < 0.05) {
                parts.push(format!("{what} ({kind} p={:.3})", e.p));
            }
        }
        match self.severity.class() {
            Class::Fatal => parts.push("fatal-class severity".into()),
            Class::Error if self.severity.caller_error => {
                parts.push("error words (a caller's error)".into())
            }
            Class::Error => parts.push("error words".into()),
            _ => {}
        }
        match self.feedback {
            Some(verdict::Verdict::Normal) => parts.push("marked normal by feedback".into()),
            Some(verdict::Verdict::Anomaly) => parts.push("marked an anomaly by feedback".into()),
            None => {}
        }
        if parts.is_empty() {
            "typical".to_string()
        } else {
            parts.join(", ")
        }
    }
}
