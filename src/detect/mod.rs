//! Detectors: each looks at a message from one angle and says how unusual it is for this host,
//! as a raw score and as a p-value on the host's own training distribution. The ensemble
//! ([`crate::ensemble`]) combines the p-values with the severity prior into `anomaly_score`.
//!
//! | detector | looks at | raw score | p-value |
//! |---|---|---|---|
//! | [`template::TemplateFrequency`] | how often the host said this kind of message | training count | mass of kinds at most this common |
//! | [`params::ParamFrequency`] | the values inside a known kind (user, host, path) | rarest slot's count | per slot, Bonferroni over slots |
//! | [`words::WordRarity`] | the rarest word | its document frequency | share of messages with a word this rare |
//! | [`lof::Lof`] | the kind's vector against its nearest known kinds | LOF | tail over the known kinds |
//! | [`iforest::IsolationForest`] | how quickly random cuts isolate the kind's vector | `2^(−E[h]/c)` | tail over the known kinds |
//! | [`autoencoder::Autoencoder`] | how well the vector is reconstructed | MSLE | tail over the known kinds |
//! | [`fields::FieldFrequency`] | an event's categorical fields (process, path, user, IP) | rarest value's count | per field, Bonferroni over fields |
//! | [`numeric::NumericOutlier`] | an event's numbers (bytes, counts) | robust z-score | tail over training events |
//! | [`hour::TimeOfDay`] | the hour and weekday of an event | events in that bin | mass of bins at most this busy |
//!
//! Adding a detector: one file that implements [`Detector`], one variant in [`DetectorKind`]
//! and [`Fitted`], and one arm in [`fit`].

pub mod autoencoder;
pub mod calibrate;
pub mod fields;
pub mod hour;
pub mod iforest;
pub mod knn;
pub mod lof;
pub mod numeric;
pub mod params;
pub mod template;
pub mod vector;
pub mod words;

use serde::{Deserialize, Serialize};

use crate::features::{Context, TrainingSet};

/// The detectors lad knows. The order is the order of [`crate::ensemble::Signals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    Template,
    Params,
    Words,
    Lof,
    #[serde(rename = "iforest")]
    IForest,
    #[serde(rename = "autoencoder")]
    Autoencoder,
    Fields,
    Numeric,
    Hour,
}

impl DetectorKind {
    pub const ALL: [DetectorKind; 9] = [
        Self::Template,
        Self::Params,
        Self::Words,
        Self::Lof,
        Self::IForest,
        Self::Autoencoder,
        Self::Fields,
        Self::Numeric,
        Self::Hour,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// The name used in configs, CLI flags and output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Template => "template",
            Self::Params => "params",
            Self::Words => "words",
            Self::Lof => "lof",
            Self::IForest => "iforest",
            Self::Autoencoder => "autoencoder",
            Self::Fields => "fields",
            Self::Numeric => "numeric",
            Self::Hour => "hour",
        }
    }

    /// Position in [`crate::ensemble::Signals::evidence`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the detector needs message vectors (word2vec is trained only if one does).
    pub fn needs_vectors(self) -> bool {
        matches!(self, Self::Lof | Self::IForest | Self::Autoencoder)
    }

    /// Whether the detector reads structured fields or time (it is skipped, not an error,
    /// when the training data has none: plain log lines).
    pub fn needs_context(self) -> bool {
        matches!(self, Self::Fields | Self::Numeric | Self::Hour)
    }
}

impl std::str::FromStr for DetectorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s || (s == "ae" && *k == Self::Autoencoder))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown detector '{s}': expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A detector in the ensemble and how much its evidence counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectorSpec {
    pub kind: DetectorKind,
    /// Share of the false-alarm budget this detector may spend (weighted Bonferroni): its
    /// p-value is multiplied by `Σ weights / weight`. 0 keeps it for explanations only.
    pub weight: f64,
}

/// What a detector sees of one message.
#[derive(Debug, Clone, Copy)]
pub struct Features<'a> {
    /// Masked tokens.
    pub tokens: &'a [String],
    /// The trained template (message kind) the message belongs to, if any.
    pub template: Option<u32>,
    /// The message's values at the template's parameter slots (empty without a template).
    pub params: &'a [&'a str],
    /// Vector of the message kind (the template's, or the message's own for a new kind);
    /// empty when no detector needs vectors.
    pub vector: &'a [f32],
    /// Fields, time and source severity of a structured event (empty for log lines).
    pub context: Context<'a>,
}

/// One detector's verdict on one message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Detector-specific raw score (see the table above).
    pub raw: f64,
    /// p-value on the host's training distribution: small = unusual. In `(0, 1]`.
    pub p: f64,
}

/// A fitted detector.
pub trait Detector: Send + Sync {
    fn kind(&self) -> DetectorKind;
    /// Raw score and p-value of one message.
    fn evidence(&self, f: &Features<'_>) -> Evidence;
    /// Whether [`Detector::evidence`] depends only on the tokens (then the model caches it per
    /// distinct token sequence); detectors that learn online return false.
    fn cacheable(&self) -> bool {
        true
    }
    /// Remember a message scored after training (online novelty memory): a new kind or value
    /// is surprising the first time, less so every time after. Default: nothing to learn.
    fn learn(&self, _f: &Features<'_>) {}
}

/// The fitted detectors, one enum so a model serialises without trait objects.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Fitted {
    Template(template::TemplateFrequency),
    Params(params::ParamFrequency),
    Words(words::WordRarity),
    Lof(vector::Calibrated<lof::Lof>),
    #[serde(rename = "iforest")]
    IForest(vector::Calibrated<iforest::IsolationForest>),
    Autoencoder(vector::Calibrated<autoencoder::Autoencoder>),
    Fields(fields::FieldFrequency),
    Numeric(numeric::NumericOutlier),
    Hour(hour::TimeOfDay),
}

impl Fitted {
    pub fn detector(&self) -> &dyn Detector {
        match self {
            Self::Template(d) => d,
            Self::Params(d) => d,
            Self::Words(d) => d,
            Self::Lof(d) => d,
            Self::IForest(d) => d,
            Self::Autoencoder(d) => d,
            Self::Fields(d) => d,
            Self::Numeric(d) => d,
            Self::Hour(d) => d,
        }
    }

    pub fn as_template(&self) -> Option<&template::TemplateFrequency> {
        match self {
            Self::Template(d) => Some(d),
            _ => None,
        }
    }

    /// Restores what serialisation skips (search indexes); false when the saved state is
    /// inconsistent.
    pub fn after_load(&mut self) -> bool {
        match self {
            Self::Lof(d) => d.inner_mut().rebuild_index(),
            Self::Template(d) => {
                d.after_load();
                true
            }
            _ => true,
        }
    }

    pub fn as_lof(&self) -> Option<&lof::Lof> {
        match self {
            Self::Lof(d) => Some(d.inner()),
            _ => None,
        }
    }

    pub fn as_autoencoder(&self) -> Option<&autoencoder::Autoencoder> {
        match self {
            Self::Autoencoder(d) => Some(d.inner()),
            _ => None,
        }
    }
}

/// Training settings the detectors read (a view of [`crate::model::ModelParams`]).
#[derive(Debug, Clone, Copy)]
pub struct FitContext<'a> {
    pub lof: lof::LofParams,
    pub ae: &'a autoencoder::AeParams,
    pub iforest: &'a iforest::IForestParams,
    pub seed: u64,
}

/// Fits one detector on the training set. `None` when the training set lacks what the
/// detector needs (vectors, or fields and times), or a vector index cannot be built.
pub fn fit(kind: DetectorKind, ts: &TrainingSet<'_>, ctx: &FitContext<'_>) -> Option<Fitted> {
    Some(match kind {
        DetectorKind::Fields => Fitted::Fields(fields::FieldFrequency::fit(ts)?),
        DetectorKind::Numeric => Fitted::Numeric(numeric::NumericOutlier::fit(ts)?),
        DetectorKind::Hour => Fitted::Hour(hour::TimeOfDay::fit(ts)?),
        DetectorKind::Template => Fitted::Template(template::TemplateFrequency::fit(ts)),
        DetectorKind::Params => Fitted::Params(params::ParamFrequency::fit(ts)),
        DetectorKind::Words => Fitted::Words(words::WordRarity::fit(ts)),
        DetectorKind::Lof => {
            let v = ts.vectors?;
            let lof = lof::Lof::fit(ctx.lof, v.dim, &v.rows)?;
            let raw: Vec<f64> = v
                .rows
                .chunks_exact(v.dim)
                .map(|r| lof.score_training(r))
                .collect();
            Fitted::Lof(vector::Calibrated::new(lof, &raw))
        }
        DetectorKind::IForest => {
            let v = ts.vectors?;
            let f =
                iforest::IsolationForest::fit(ctx.iforest, v.dim, &v.rows, &v.weights, ctx.seed);
            let raw: Vec<f64> = v.rows.chunks_exact(v.dim).map(|r| f.score(r)).collect();
            Fitted::IForest(vector::Calibrated::new(f, &raw))
        }
        DetectorKind::Autoencoder => {
            let v = ts.vectors?;
            let ae = autoencoder::Autoencoder::fit(ctx.ae, v.dim, &v.rows, &v.weights, ctx.seed);
            let raw: Vec<f64> = v.rows.chunks_exact(v.dim).map(|r| ae.error(r)).collect();
            Fitted::Autoencoder(vector::Calibrated::new(ae, &raw))
        }
    })
}

/// Parses a detector list: `template,params=0.25,lof` (a name alone has weight 1).
pub fn parse_detectors(s: &str) -> Result<Vec<DetectorSpec>, String> {
    let mut out: Vec<DetectorSpec> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let (name, weight) = match item.split_once('=') {
            Some((n, w)) => {
                let w: f64 = w
                    .trim()
                    .parse()
                    .map_err(|_| format!("detector '{n}': weight '{w}' is not a number"))?;
                if !(w.is_finite() && w >= 0.0) {
                    return Err(format!("detector '{n}': weight must be ≥ 0, got {w}"));
                }
                (n, w)
            }
            None => (item, 1.0),
        };
        let kind: DetectorKind = name.parse()?;
        if out.iter().any(|d| d.kind == kind) {
            return Err(format!("detector '{kind}' is listed twice"));
        }
        out.push(DetectorSpec { kind, weight });
    }
    if !out.iter().any(|d| d.weight > 0.0) {
        return Err("no detector with a weight above 0: list at least one, e.g. 'template'".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_lists() {
        let d = parse_detectors("template, params=0.25,iforest").unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!((d[1].kind, d[1].weight), (DetectorKind::Params, 0.25));
        assert_eq!(d[2].kind, DetectorKind::IForest);
        assert!(parse_detectors("template,template").is_err());
        assert!(parse_detectors("nope")
            .unwrap_err()
            .contains("expected one of"));
        assert!(parse_detectors("lof=-1").is_err());
        assert!(parse_detectors("lof=0").is_err());
        assert!(parse_detectors("").is_err());
    }
}
