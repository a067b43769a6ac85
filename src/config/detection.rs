//! The detection keys of the service YAML: preset, contamination, detectors, threshold.

use serde_json::Value;

use super::fields::{invalid, Fields};
use super::ConfigError;
use crate::detect::lof::Metric;
use crate::detect::parse_detectors;
use crate::ensemble::Preset;
use crate::model::ModelParams;

/// Reads `DETECTION_PRESET`, `CONTAMINATION`, `DETECTORS`, `COMBINE`, `SEVERITY_WEIGHT`,
/// `SCORE_THRESHOLD`, `LOF_NEIGHBORS`, `LOF_METRIC` and `SEED` into model parameters (the
/// preset's defaults for whatever is absent).
pub(crate) fn model_params(f: &mut Fields) -> Result<ModelParams, ConfigError> {
    let preset = match f.opt_string("DETECTION_PRESET")? {
        None => Preset::Ops,
        Some(s) => s.parse::<Preset>().map_err(|_| {
            invalid(
                "DETECTION_PRESET",
                "\"ops\" or \"security\"",
                &Value::String(s),
            )
        })?,
    };
    let mut p = ModelParams::preset(preset);
    let defaults = p.clone();
    let c = f.number("CONTAMINATION", defaults.ensemble.contamination, true)?;
    if c > 0.5 {
        return Err(invalid(
            "CONTAMINATION",
            "the expected share of anomalies, a number in (0, 0.5] such as 0.005",
            &Value::from(c),
        ));
    }
    p.ensemble.contamination = c;
    if let Some(v) = f.raw("SCORE_THRESHOLD") {
        let t = match &v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|t: &f64| t.is_finite() && *t > 0.0 && *t < 1.0)
        .ok_or_else(|| {
            invalid(
                "SCORE_THRESHOLD",
                "a number between 0 and 1 (exclusive)",
                &v,
            )
        })?;
        p.ensemble.threshold = Some(t);
    }
    if let Some(c) = f.opt_string("COMBINE")? {
        p.ensemble.combine = c
            .parse()
            .map_err(|_| invalid("COMBINE", "\"bonferroni\" or \"fisher\"", &Value::String(c)))?;
    }
    let w = f.number("SEVERITY_WEIGHT", 1.0, false)?;
    if w < 0.0 {
        return Err(invalid(
            "SEVERITY_WEIGHT",
            "a number ≥ 0 (0 ignores severity)",
            &Value::from(w),
        ));
    }
    p.ensemble.severity_weight = w;
    if let Some(v) = f.raw("DETECTORS") {
        let text = match &v {
            Value::String(s) => Some(s.clone()),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.join(",")),
            Value::Object(map) => map
                .iter()
                .map(|(k, w)| w.as_f64().map(|w| format!("{k}={w}")))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.join(",")),
            _ => None,
        };
        let expected = "a list of detector names (template, params, words, lof, iforest, \
                        autoencoder) or a mapping name: weight";
        let text = text.ok_or_else(|| invalid("DETECTORS", expected, &v))?;
        p.ensemble.detectors = parse_detectors(&text).map_err(|e| ConfigError::Invalid {
            key: "DETECTORS".into(),
            expected: expected.into(),
            got: e,
        })?;
    }
    p.lof.neighbors =
        f.positive_int("LOF_NEIGHBORS", defaults.lof.neighbors as u64, 100_000)? as usize;
    if let Some(m) = f.raw("LOF_METRIC") {
        p.lof.metric = match &m {
            Value::String(s) => s.parse::<Metric>().ok(),
            _ => None,
        }
        .ok_or_else(|| invalid("LOF_METRIC", "\"euclidean\" or \"cosine\"", &m))?;
    }
    p.seed = f.unsigned("SEED", defaults.seed)?;
    Ok(p)
}
