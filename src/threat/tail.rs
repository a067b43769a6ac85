//! From a burst statistic to a p-value: the share of baseline events that were at least as
//! extreme, with an exponential tail beyond what the baseline showed.
//!
//! The rate detectors' statistic `s` has no closed-form null distribution (alert traffic is
//! bursty in ways no Poisson model fits), so it is calibrated on the baseline itself:
//!
//! * up to the baseline's top 1 % (at least 20 values) the p-value is empirical, `(1 + #{sᵢ ≥ s}) / (n + 1)` — a
//!   conformal p-value, which is why flagging `p ≤ contamination` flags about a
//!   `contamination` share of baseline-like traffic;
//! * beyond that threshold `u`, the empirical p-value cannot go below `1/(n+1)` and would
//!   rank a 25-fold burst like a 4000-fold one, so the tail is extrapolated as exponential in
//!   `s` (peaks over threshold, the ξ = 0 case of the generalised Pareto; `s` is a log-ratio,
//!   so this is a Pareto tail in the ratio itself), `p = p_u · exp(−(s − u)/σ)`. `σ` is the
//!   mean excess over `u` (its maximum-likelihood estimate) shrunk toward the prior's σ = 1
//!   with [`PRIOR_WEIGHT`] pseudo-exceedances: a baseline whose tail is flat (perfectly
//!   regular traffic, nothing new ever appearing) would otherwise get σ ≈ 0 and call the
//!   first event of any new entity a burst.
//!
//! With fewer than [`MIN_SAMPLES`] baseline values the fit is not trusted and the prior
//! `p = exp(−s)` is used: for `s = ln((count+1)/(peak+1))` that is `p = (peak+1)/(count+1)`,
//! "a burst k times the entity's peak has p = 1/k".

use serde::{Deserialize, Serialize};

/// Fewer baseline values than this: use the prior.
pub const MIN_SAMPLES: usize = 200;
/// Share of the baseline in the fitted tail (at least [`MIN_TAIL`] values).
pub const TAIL_SHARE: f64 = 0.01;
pub const MIN_TAIL: usize = 20;
/// The prior's tail scale (`p = exp(−s)`) and how many exceedances it counts as.
pub const PRIOR_SIGMA: f64 = 1.0;
pub const PRIOR_WEIGHT: f64 = 10.0;

/// A fitted calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Baseline values.
    pub n: u64,
    /// Distinct values (rounded to 0.001), ascending.
    values: Vec<f64>,
    /// `ge[i]` = baseline values ≥ `values[i]`.
    ge: Vec<u64>,
    /// Tail threshold, its p-value and the tail scale.
    pub u: f64,
    pub p_u: f64,
    pub sigma: f64,
    /// True when the prior is used (too few values).
    pub prior: bool,
}

fn round(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

impl Calibration {
    /// The prior only.
    pub fn prior() -> Self {
        Self {
            n: 0,
            values: Vec::new(),
            ge: Vec::new(),
            u: 0.0,
            p_u: 1.0,
            sigma: 1.0,
            prior: true,
        }
    }

    /// Fits on baseline values (non-finite ones are dropped).
    pub fn fit(mut samples: Vec<f64>) -> Self {
        samples.retain(|s| s.is_finite());
        if samples.len() < MIN_SAMPLES {
            let mut c = Self::prior();
            c.n = samples.len() as u64;
            return c;
        }
        for s in samples.iter_mut() {
            *s = round(*s);
        }
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let mut values: Vec<f64> = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        for &s in &samples {
            if values.last() == Some(&s) {
                *counts.last_mut().expect("pushed with value") += 1;
            } else {
                values.push(s);
                counts.push(1);
            }
        }
        let mut ge = vec![0u64; counts.len()];
        let mut acc = 0;
        for i in (0..counts.len()).rev() {
            acc += counts[i];
            ge[i] = acc;
        }
        // The threshold: the smallest value with at most k values at or above it (ties at a
        // big mass of equal values stay below it, in the empirical part).
        let k = ((n as f64 * TAIL_SHARE).ceil() as usize).clamp(MIN_TAIL, n) as u64;
        let i = ge.iter().position(|&g| g <= k).unwrap_or(values.len() - 1);
        let u = values[i];
        let excess: Vec<f64> = samples.iter().filter(|&&s| s > u).map(|&s| s - u).collect();
        let sigma = (excess.iter().sum::<f64>() + PRIOR_SIGMA * PRIOR_WEIGHT)
            / (excess.len() as f64 + PRIOR_WEIGHT);
        let mut c = Self {
            n: n as u64,
            values,
            ge,
            u,
            p_u: 1.0,
            sigma,
            prior: false,
        };
        c.p_u = c.empirical(u);
        c
    }

    fn empirical(&self, s: f64) -> f64 {
        let i = self.values.partition_point(|&v| v < s);
        let ge = self.ge.get(i).copied().unwrap_or(0);
        (ge as f64 + 1.0) / (self.n as f64 + 1.0)
    }

    /// The p-value of `s`: small = more extreme than the baseline. Always in `(0, 1]`.
    pub fn p(&self, s: f64) -> f64 {
        if s.is_nan() {
            return 1.0;
        }
        let p = if self.prior {
            (-s).exp()
        } else {
            if s > self.u {
                self.p_u * (-(s - self.u) / self.sigma).exp()
            } else {
                self.empirical(round(s))
            }
        };
        p.clamp(f64::MIN_POSITIVE, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empirical_below_the_tail_and_exponential_beyond() {
        // 1000 values: 0.000, 0.001, …, 0.999.
        let c = Calibration::fit((0..1000).map(|i| i as f64 / 1000.0).collect());
        assert!(!c.prior);
        assert!((c.p(0.0) - 1.0).abs() < 1e-12);
        // Median: about half are ≥ it.
        assert!((c.p(0.5) - 501.0 / 1001.0).abs() < 1e-9);
        // The tail starts at the top 2 % (20 values, the minimum): u = 0.980.
        assert!((c.u - 0.98).abs() < 1e-9);
        // Beyond the largest value the p-value keeps falling instead of sticking at 1/(n+1).
        let (a, b, far) = (c.p(1.5), c.p(3.0), c.p(12.0));
        assert!(a < c.p_u && b < a && far < 1.0 / 1001.0, "{a} {b} {far}");
        // Monotone everywhere.
        let mut last = 1.0;
        for i in 0..400 {
            let p = c.p(i as f64 / 100.0);
            assert!(p <= last + 1e-15 && p > 0.0);
            last = p;
        }
    }

    #[test]
    fn a_flat_baseline_does_not_make_every_small_excess_extreme() {
        // Perfectly regular traffic: every value 0. One new event (s = ln 2) is not a burst.
        let c = Calibration::fit(vec![0.0; 5000]);
        assert!(c.p(2f64.ln()) > 0.1, "{}", c.p(2f64.ln()));
        assert!(c.p(8.0) < 1e-3);
    }

    #[test]
    fn few_values_use_the_prior() {
        let c = Calibration::fit(vec![0.0; 10]);
        assert!(c.prior);
        // s = ln(10): a burst 10× the peak has p = 0.1.
        assert!((c.p(10f64.ln()) - 0.1).abs() < 1e-12);
        assert_eq!(c.p(-1.0), 1.0);
        assert_eq!(c.p(f64::NAN), 1.0);
        assert!(c.p(1e6) > 0.0);
    }

    #[test]
    fn ties_at_the_threshold_do_not_break_it() {
        let mut v = vec![0.0; 990];
        v.extend(vec![2.0; 10]);
        let c = Calibration::fit(v);
        assert!(c.p(2.0) <= 11.0 / 1001.0 + 1e-12);
        assert!(c.p(5.0) < c.p(2.0));
        assert!(c.sigma > 0.0);
    }
}
