//! Numeric outliers: bytes sent, counts, durations far from this entity's usual values.
//!
//! Per numeric field, the raw score is the robust z-score `|x − median| / (1.4826 · MAD)`
//! (median absolute deviation: a few huge transfers in the training window do not widen the
//! scale the way they would a standard deviation). The p-value is the share of training
//! events whose own z-score is at least as large (see [`super::calibrate`]), Bonferroni over
//! the numeric fields the event has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::calibrate::Calibrator;
use super::{Detector, DetectorKind, Evidence, Features};
use crate::features::TrainingSet;
use crate::profile::FieldValue;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Scale {
    median: f64,
    mad: f64,
    cal: Calibrator,
}

impl Scale {
    fn z(&self, x: f64) -> f64 {
        let d = (x - self.median).abs();
        if self.mad > 0.0 {
            d / (1.4826 * self.mad)
        } else if d > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }
}

/// Fitted scales per numeric field.
#[derive(Debug, Serialize, Deserialize)]
pub struct NumericOutlier {
    fields: BTreeMap<String, Scale>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

impl NumericOutlier {
    /// `None` when no training event has a numeric field.
    pub fn fit(ts: &TrainingSet<'_>) -> Option<Self> {
        let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for ctx in ts.contexts {
            for f in ctx.fields {
                if let FieldValue::Number(x) = f.value {
                    if x.is_finite() {
                        values.entry(f.name.as_str()).or_default().push(x);
                    }
                }
            }
        }
        if values.is_empty() {
            return None;
        }
        let fields = values
            .into_iter()
            .map(|(name, mut xs)| {
                let m = median(&mut xs);
                let mut dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
                let mad = median(&mut dev);
                let mut scale = Scale {
                    median: m,
                    mad,
                    cal: Calibrator::fit(&[]),
                };
                let zs: Vec<f64> = xs.iter().map(|&x| scale.z(x)).collect();
                scale.cal = Calibrator::fit(&zs);
                (name.to_string(), scale)
            })
            .collect();
        Some(Self { fields })
    }
}

impl Detector for NumericOutlier {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Numeric
    }

    fn evidence(&self, f: &Features<'_>) -> Evidence {
        let mut best = Evidence { raw: 0.0, p: 1.0 };
        let mut n = 0usize;
        for field in f.context.fields {
            let FieldValue::Number(x) = field.value else {
                continue;
            };
            let Some(s) = self.fields.get(&field.name) else {
                continue;
            };
            n += 1;
            let z = if x.is_finite() { s.z(x) } else { f64::INFINITY };
            let p = if z.is_finite() {
                s.cal.p_value(z)
            } else {
                s.cal.p_value(f64::NAN)
            };
            if p < best.p {
                best = Evidence {
                    raw: z.min(f64::MAX),
                    p,
                };
            }
        }
        best.p = (best.p * n.max(1) as f64).min(1.0);
        best
    }

    fn cacheable(&self) -> bool {
        false
    }
}
