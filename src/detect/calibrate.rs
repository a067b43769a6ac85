//! Calibration: a raw detector score as a p-value on the host's own training distribution.
//!
//! Raw LOF values, isolation scores and reconstruction errors mean different things on
//! different hosts. The p-value of a score is the share of the host's training message kinds
//! scoring at least as high (mid-p: ties count half), so it means the same everywhere. A score
//! beyond every training score gets `½ / (n + 1)`: more unusual than anything the host said,
//! but not infinitely so — `n` kinds are all the evidence there is.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibrator {
    /// Finite training scores, ascending.
    scores: Vec<f64>,
}

impl Calibrator {
    pub fn fit(scores: &[f64]) -> Self {
        let mut s: Vec<f64> = scores.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        Self { scores: s }
    }

    /// From `(score, multiplicity)` pairs: the same as [`Calibrator::fit`] on every score
    /// repeated its multiplicity times (kept as repeats; bounded by the training size).
    pub fn fit_weighted(pairs: &[(f64, u64)]) -> Self {
        let mut s = Vec::new();
        for &(x, n) in pairs {
            if x.is_finite() {
                s.extend(std::iter::repeat_n(x, n as usize));
            }
        }
        s.sort_by(f64::total_cmp);
        Self { scores: s }
    }

    /// Upper-tail mid-p of `x`. NaN counts as beyond every training score.
    pub fn p_value(&self, x: f64) -> f64 {
        let n = self.scores.len();
        if n == 0 {
            return 1.0;
        }
        let floor = 0.5 / (n as f64 + 1.0);
        if x.is_nan() {
            return floor;
        }
        let lo = self.scores.partition_point(|&s| s < x);
        let hi = self.scores.partition_point(|&s| s <= x);
        let above = (n - hi) as f64;
        let equal = (hi - lo) as f64;
        ((above + 0.5 * equal) / n as f64).max(floor).min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_tail_mid_p() {
        let c = Calibrator::fit(&(0..100).map(f64::from).collect::<Vec<_>>());
        assert_eq!(c.p_value(-5.0), 1.0);
        assert!((c.p_value(49.5) - 0.5).abs() < 1e-9);
        assert!((c.p_value(99.0) - 0.005).abs() < 1e-9);
        assert!((c.p_value(1000.0) - 0.5 / 101.0).abs() < 1e-12);
        assert_eq!(c.p_value(f64::NAN), 0.5 / 101.0);
        assert_eq!(Calibrator::fit(&[]).p_value(3.0), 1.0);
        assert_eq!(Calibrator::fit(&[f64::NAN]).p_value(3.0), 1.0);
    }
}
