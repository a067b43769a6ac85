//! Calibration: turning a detector's raw score into "how unusual for this host", in `[0, 1]`.
//!
//! Raw LOF values and reconstruction errors mean different things on different hosts. We
//! compare a score with the training distribution of the same detector on the same host: the
//! calibrated value is the share of training messages scoring lower, rescaled so that only
//! the upper tail counts (`tail`): everything at or below the `tail` quantile of training maps
//! to 0, the highest training score to about 1, anything beyond to 1. So one threshold means
//! the same on every host.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibrator {
    /// Sorted training scores.
    scores: Vec<f64>,
    /// Cumulative weight up to and including each score.
    cum: Vec<f64>,
    tail: f64,
}

impl Calibrator {
    /// `scores` with one weight each (message multiplicities).
    pub fn fit(scores: &[f64], weights: &[f64], tail: f64) -> Self {
        let mut pairs: Vec<(f64, f64)> = scores
            .iter()
            .zip(weights)
            .filter(|(s, _)| s.is_finite())
            .map(|(&s, &w)| (s, w))
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = pairs
            .iter()
            .map(|p| p.1)
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        let mut acc = 0.0;
        let mut cum = Vec::with_capacity(pairs.len());
        for p in &pairs {
            acc += p.1;
            cum.push(acc / total);
        }
        Self {
            scores: pairs.into_iter().map(|p| p.0).collect(),
            cum,
            tail: tail.clamp(0.0, 0.999),
        }
    }

    /// Share of training weight strictly below `x`, then the upper-tail rescaling.
    pub fn calibrate(&self, x: f64) -> f64 {
        if self.scores.is_empty() {
            return 0.0;
        }
        if x.is_nan() {
            return 1.0;
        }
        let i = self.scores.partition_point(|&s| s < x);
        let below = if i == 0 { 0.0 } else { self.cum[i - 1] };
        let beyond_max = x > self.scores[self.scores.len() - 1];
        let q = if beyond_max { 1.0 } else { below };
        ((q - self.tail) / (1.0 - self.tail)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_training_tail_and_beyond() {
        let s: Vec<f64> = (0..100).map(f64::from).collect();
        let c = Calibrator::fit(&s, &vec![1.0; 100], 0.9);
        assert_eq!(c.calibrate(-5.0), 0.0);
        assert_eq!(c.calibrate(50.0), 0.0);
        assert!((c.calibrate(95.0) - 0.5).abs() < 1e-9);
        assert_eq!(c.calibrate(1000.0), 1.0);
        assert_eq!(Calibrator::fit(&[], &[], 0.9).calibrate(3.0), 0.0);
    }
}
