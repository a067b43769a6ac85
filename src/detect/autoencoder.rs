//! The original LAD's autoencoder, as a small, tested, dependency-free MLP.
//!
//! Architecture `d-64-32-16-8-16-32-64-d`, ReLU hidden layers with dropout 0.1 (not on the
//! 8-wide code), sigmoid output, MSLE loss, Adam (lr 1e-3), batch 512, 20 epochs, inputs
//! min-max scaled on the training set; the anomaly threshold is mean + 1·std of the training
//! reconstruction errors. Why hand-written: the network is tiny; `candle` added ~6 min and
//! `burn` ~20 min of build for slower training here (`../shared/docs/crate-choices.md`).
//!
//! Training rows are the distinct message vectors with their multiplicities as sample
//! weights: the same optimum as training on every duplicate, in a fraction of the time.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// Autoencoder hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AeParams {
    /// Hidden layer widths, encoder then decoder.
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f32,
    pub dropout: f32,
    /// Small training sets get at least this many optimiser steps, so the network is not left
    /// half-trained when there are only a few dozen distinct messages.
    pub min_steps: usize,
    /// The threshold is `mean + threshold_std · std` of the training errors.
    pub threshold_std: f64,
}

impl Default for AeParams {
    fn default() -> Self {
        Self {
            hidden: vec![64, 32, 16, 8, 16, 32, 64],
            epochs: 20,
            batch_size: 512,
            learning_rate: 1e-3,
            dropout: 0.1,
            min_steps: 300,
            threshold_std: 1.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Layer {
    n_in: usize,
    n_out: usize,
    w: Vec<f32>, // n_in × n_out, row-major by input
    b: Vec<f32>,
}

/// A trained autoencoder with its input scaler and error threshold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Autoencoder {
    dim: usize,
    layers: Vec<Layer>,
    min: Vec<f32>,
    range: Vec<f32>,
    /// Dropout is applied after these layer indices (all hidden layers except the code).
    dropout_after: Vec<bool>,
    threshold: f64,
    train_mean: f64,
    train_std: f64,
}

struct Adam {
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    t: i32,
}

impl Autoencoder {
    /// Trains on row-major `vectors` (`dim` wide) with one weight per row.
    pub fn fit(params: &AeParams, dim: usize, vectors: &[f32], weights: &[f64], seed: u64) -> Self {
        let n = vectors.len() / dim.max(1);
        let mut rng = SplitMix64::new(seed ^ 0xAE);
        let (min, range) = min_max(dim, vectors);
        let x: Vec<f32> = scale_all(vectors, dim, &min, &range);

        let mut sizes = vec![dim];
        sizes.extend(&params.hidden);
        sizes.push(dim);
        let code = params.hidden.iter().copied().min().unwrap_or(0);
        let layers: Vec<Layer> = sizes
            .windows(2)
            .map(|w| {
                let limit = (6.0 / (w[0] + w[1]) as f32).sqrt(); // glorot uniform
                Layer {
                    n_in: w[0],
                    n_out: w[1],
                    w: (0..w[0] * w[1])
                        .map(|_| (rng.next_f32() * 2.0 - 1.0) * limit)
                        .collect(),
                    b: vec![0.0; w[1]],
                }
            })
            .collect();
        let dropout_after: Vec<bool> = (0..layers.len())
            .map(|i| i + 1 < layers.len() && layers[i].n_out != code)
            .collect();
        let mut ae = Self {
            dim,
            layers,
            min,
            range,
            dropout_after,
            threshold: f64::INFINITY,
            train_mean: 0.0,
            train_std: 0.0,
        };
        if n == 0 {
            return ae;
        }
        let batch = params.batch_size.max(1).min(n);
        let batches_per_epoch = n.div_ceil(batch);
        let epochs = params
            .epochs
            .max(params.min_steps.div_ceil(batches_per_epoch));
        let mut adam = Adam {
            m: ae
                .layers
                .iter()
                .flat_map(|l| [vec![0.0; l.w.len()], vec![0.0; l.b.len()]])
                .collect(),
            v: ae
                .layers
                .iter()
                .flat_map(|l| [vec![0.0; l.w.len()], vec![0.0; l.b.len()]])
                .collect(),
            t: 0,
        };
        let mut order: Vec<usize> = (0..n).collect();
        for _ in 0..epochs {
            rng.shuffle(&mut order);
            for chunk in order.chunks(batch) {
                ae.step(params, &x, weights, chunk, &mut adam, &mut rng);
            }
        }
        // Threshold: weighted mean + std of the training errors (no dropout).
        let errs: Vec<f64> = (0..n)
            .map(|i| ae.error_scaled(&x[i * dim..(i + 1) * dim]))
            .collect();
        let wsum: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let mean = errs.iter().zip(weights).map(|(e, w)| e * w).sum::<f64>() / wsum;
        let var = errs
            .iter()
            .zip(weights)
            .map(|(e, w)| w * (e - mean).powi(2))
            .sum::<f64>()
            / wsum;
        ae.train_mean = mean;
        ae.train_std = var.sqrt();
        ae.threshold = mean + params.threshold_std * var.sqrt();
        ae
    }

    /// The anomaly threshold on [`Autoencoder::error`].
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Reconstruction error (MSLE) of an unscaled vector.
    pub fn error(&self, vector: &[f32]) -> f64 {
        let x: Vec<f32> = scale_all(vector, self.dim, &self.min, &self.range);
        self.error_scaled(&x)
    }

    fn error_scaled(&self, x: &[f32]) -> f64 {
        let acts = self.forward(x, None);
        msle(x, acts.last().map(Vec::as_slice).unwrap_or(&[]))
    }

    /// Activations of every layer (input first); dropout masks applied when `rng` is given.
    fn forward(&self, x: &[f32], mut drop: Option<(&mut SplitMix64, f32)>) -> Vec<Vec<f32>> {
        let mut acts = vec![x.to_vec()];
        let last = self.layers.len() - 1;
        for (li, l) in self.layers.iter().enumerate() {
            let input = &acts[li];
            let mut out = l.b.clone();
            for (i, &xi) in input.iter().enumerate() {
                if xi != 0.0 {
                    let row = &l.w[i * l.n_out..(i + 1) * l.n_out];
                    out.iter_mut().zip(row).for_each(|(o, w)| *o += xi * w);
                }
            }
            if li == last {
                out.iter_mut().for_each(|o| *o = 1.0 / (1.0 + (-*o).exp()));
            } else {
                out.iter_mut().for_each(|o| *o = o.max(0.0));
                if self.dropout_after[li] {
                    if let Some((rng, p)) = drop.as_mut() {
                        let keep = 1.0 - *p;
                        out.iter_mut().for_each(|o| {
                            *o = if rng.next_f32() < *p { 0.0 } else { *o / keep };
                        });
                    }
                }
            }
            acts.push(out);
        }
        acts
    }

    fn step(
        &mut self,
        params: &AeParams,
        x: &[f32],
        weights: &[f64],
        rows: &[usize],
        adam: &mut Adam,
        rng: &mut SplitMix64,
    ) {
        let dim = self.dim;
        let mut grads: Vec<Vec<f32>> = self
            .layers
            .iter()
            .flat_map(|l| [vec![0.0; l.w.len()], vec![0.0; l.b.len()]])
            .collect();
        let wsum: f64 = rows
            .iter()
            .map(|&r| weights[r])
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        for &r in rows {
            let xi = &x[r * dim..(r + 1) * dim];
            let acts = self.forward(xi, Some((rng, params.dropout)));
            let y = &acts[acts.len() - 1];
            let sw = (weights[r] / wsum) as f32;
            // dL/dz at the sigmoid output.
            let mut delta: Vec<f32> = y
                .iter()
                .zip(xi)
                .map(|(&yj, &xj)| {
                    let diff = (yj.max(1e-7) + 1.0).ln() - (xj.max(1e-7) + 1.0).ln();
                    2.0 * diff / (yj + 1.0) / dim as f32 * yj * (1.0 - yj) * sw
                })
                .collect();
            for li in (0..self.layers.len()).rev() {
                let l = &self.layers[li];
                let input = &acts[li];
                let (gw, gb) = (2 * li, 2 * li + 1);
                for (i, &a) in input.iter().enumerate() {
                    if a != 0.0 {
                        let g = &mut grads[gw][i * l.n_out..(i + 1) * l.n_out];
                        g.iter_mut().zip(&delta).for_each(|(g, d)| *g += a * d);
                    }
                }
                grads[gb].iter_mut().zip(&delta).for_each(|(g, d)| *g += d);
                if li == 0 {
                    break;
                }
                // Back through W and the ReLU (and dropout: a zeroed unit has zero activation).
                let mut prev = vec![0f32; l.n_in];
                for (i, p) in prev.iter_mut().enumerate() {
                    if input[i] > 0.0 {
                        let row = &l.w[i * l.n_out..(i + 1) * l.n_out];
                        *p = row.iter().zip(&delta).map(|(w, d)| w * d).sum();
                        if self.dropout_after[li - 1] {
                            *p /= 1.0 - params.dropout;
                        }
                    }
                }
                delta = prev;
            }
        }
        adam.t += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-7f32);
        let lr = params.learning_rate * (1.0 - b2.powi(adam.t)).sqrt() / (1.0 - b1.powi(adam.t));
        for (pi, g) in grads.iter().enumerate() {
            let l = &mut self.layers[pi / 2];
            let p = if pi % 2 == 0 { &mut l.w } else { &mut l.b };
            let (m, v) = (&mut adam.m[pi], &mut adam.v[pi]);
            for j in 0..p.len() {
                m[j] = b1 * m[j] + (1.0 - b1) * g[j];
                v[j] = b2 * v[j] + (1.0 - b2) * g[j] * g[j];
                p[j] -= lr * m[j] / (v[j].sqrt() + eps);
            }
        }
    }
}

fn min_max(dim: usize, vectors: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut min = vec![f32::INFINITY; dim];
    let mut max = vec![f32::NEG_INFINITY; dim];
    for row in vectors.chunks_exact(dim) {
        for j in 0..dim {
            min[j] = min[j].min(row[j]);
            max[j] = max[j].max(row[j]);
        }
    }
    let range = min
        .iter()
        .zip(&max)
        .map(|(a, b)| if b > a { b - a } else { 0.0 })
        .collect();
    let min = min
        .into_iter()
        .map(|m| if m.is_finite() { m } else { 0.0 })
        .collect();
    (min, range)
}

/// Min-max scaling; values outside the training range are clipped to `[0, 2]` so the log in
/// MSLE stays finite for any input.
fn scale_all(vectors: &[f32], dim: usize, min: &[f32], range: &[f32]) -> Vec<f32> {
    vectors
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let j = i % dim;
            if range[j] > 0.0 {
                ((v - min[j]) / range[j]).clamp(0.0, 2.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// Keras' mean squared logarithmic error.
fn msle(x: &[f32], y: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter()
        .zip(y)
        .map(|(&a, &b)| {
            let d = ((b.max(1e-7) + 1.0).ln() - (a.max(1e-7) + 1.0).ln()) as f64;
            d * d
        })
        .sum::<f64>()
        / x.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut r = SplitMix64::new(seed);
        (0..n * dim)
            .map(|i| {
                if i % dim < dim / 2 {
                    0.8 + 0.05 * r.next_f32()
                } else {
                    0.1 + 0.05 * r.next_f32()
                }
            })
            .collect()
    }

    #[test]
    fn threshold_is_mean_plus_std_of_training_errors_and_outliers_exceed_it() {
        let dim = 8;
        let x = cluster(200, dim, 1);
        let w = vec![1.0; 200];
        let ae = Autoencoder::fit(&AeParams::default(), dim, &x, &w, 42);
        let errs: Vec<f64> = x.chunks(dim).map(|r| ae.error(r)).collect();
        let mean = errs.iter().sum::<f64>() / errs.len() as f64;
        let std = (errs.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / errs.len() as f64).sqrt();
        assert!(
            (ae.threshold() - (mean + std)).abs() < 1e-9,
            "{} vs {}",
            ae.threshold(),
            mean + std
        );
        // The reversed pattern reconstructs badly.
        let outlier: Vec<f32> = (0..dim)
            .map(|j| if j < dim / 2 { 0.1 } else { 0.85 })
            .collect();
        assert!(
            ae.error(&outlier) > 3.0 * ae.threshold(),
            "{} vs {}",
            ae.error(&outlier),
            ae.threshold()
        );
    }

    #[test]
    fn training_is_deterministic_and_weights_matter() {
        let dim = 8;
        let x = cluster(50, dim, 3);
        let w = vec![1.0; 50];
        let a = Autoencoder::fit(&AeParams::default(), dim, &x, &w, 7);
        let b = Autoencoder::fit(&AeParams::default(), dim, &x, &w, 7);
        assert_eq!(a.error(&x[..dim]).to_bits(), b.error(&x[..dim]).to_bits());
        assert!(Autoencoder::fit(&AeParams::default(), dim, &[], &[], 1)
            .error(&[0.5; 8])
            .is_finite());
    }
}
