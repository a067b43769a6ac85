//! DBSCAN over message shapes (linfa-clustering's `Dbscan`, Euclidean, KD-tree).
//!
//! DBSCAN runs on distinct vectors rather than on every message: identical messages would
//! otherwise make every neighbourhood query return the whole group (quadratic in the group
//! size). Each distinct vector is fed to DBSCAN `min(count, min_samples)` times. That gives
//! *exactly* the clustering of the full data: a point is a core point iff the messages
//! within `eps` number at least `min_samples`, and capping each count at `min_samples`
//! changes no sum across that threshold (if any single count reaches it, both sums do).

use std::collections::HashMap;

use linfa::prelude::*;
use linfa_clustering::Dbscan;
use ndarray::Array2;

use super::vectors::Shapes;

/// Default `AGGR_EPS`: measured on generated batches of 200–20,000 anomalies (30 message
/// families + one-off messages, several seeds), 0.3 keeps every cluster pure and never pulls
/// a one-off message into a cluster; 0.35 starts merging similar families.
pub const DEFAULT_EPS: f64 = 0.3;
/// Default `AGGR_MIN_SAMPLES`: two similar anomalies already make an aggregate.
pub const DEFAULT_MIN_SAMPLES: usize = 2;

/// DBSCAN parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbscanParams {
    /// `AGGR_EPS`: neighbourhood radius between unit vectors (0 < eps; 2 covers everything).
    pub eps: f64,
    /// `AGGR_MIN_SAMPLES`: messages (the point itself included) within `eps` that make a core
    /// point; at least 2.
    pub min_samples: usize,
}

impl Default for DbscanParams {
    fn default() -> Self {
        Self {
            eps: DEFAULT_EPS,
            min_samples: DEFAULT_MIN_SAMPLES,
        }
    }
}

/// Runs DBSCAN; returns the cluster of every shape (`None` = noise). Cluster ids are
/// `0..k`, numbered in order of their first shape.
pub fn dbscan(shapes: &Shapes, params: &DbscanParams) -> Vec<Option<usize>> {
    let dim = shapes.dim;
    let n = shapes.len();
    if n == 0 {
        return Vec::new();
    }
    let min_samples = params.min_samples.max(2);
    // Distinct vectors (bitwise) with summed counts.
    let mut point_of_bits: HashMap<Vec<u32>, usize> = HashMap::new();
    let mut point_of_shape = Vec::with_capacity(n);
    let mut weights: Vec<u64> = Vec::new();
    let mut first_shape: Vec<usize> = Vec::new();
    for s in 0..n {
        let bits: Vec<u32> = shapes.vector(s).iter().map(|x| x.to_bits()).collect();
        let p = *point_of_bits.entry(bits).or_insert_with(|| {
            weights.push(0);
            first_shape.push(s);
            weights.len() - 1
        });
        weights[p] += shapes.counts[s];
        point_of_shape.push(p);
    }
    drop(point_of_bits);
    let mut rows: Vec<f64> = Vec::new();
    let mut first_row = Vec::with_capacity(weights.len());
    let mut nrows = 0;
    for (p, &w) in weights.iter().enumerate() {
        first_row.push(nrows);
        let copies = w.clamp(1, min_samples as u64) as usize;
        for _ in 0..copies {
            rows.extend(shapes.vector(first_shape[p]).iter().map(|&x| f64::from(x)));
            nrows += 1;
        }
    }
    let Ok(x) = Array2::from_shape_vec((nrows, dim), rows) else {
        return vec![None; n];
    };
    let eps = if params.eps.is_finite() && params.eps > 0.0 {
        params.eps
    } else {
        1e-9
    };
    let Ok(valid) = Dbscan::params(min_samples).tolerance(eps).check() else {
        return vec![None; n];
    };
    let labels = valid.transform(&x);
    // Renumber clusters in order of first appearance.
    let mut renumber: HashMap<usize, usize> = HashMap::new();
    point_of_shape
        .iter()
        .map(|&p| {
            labels[first_row[p]].map(|c| {
                let next = renumber.len();
                *renumber.entry(c).or_insert(next)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(points: &[(&[f32], u64)]) -> Shapes {
        let dim = points[0].0.len();
        Shapes {
            dim,
            shape_of: Vec::new(),
            counts: points.iter().map(|p| p.1).collect(),
            vectors: points.iter().flat_map(|p| p.0.iter().copied()).collect(),
        }
    }

    #[test]
    fn counts_act_as_multiplicities() {
        let p = DbscanParams {
            eps: 0.1,
            min_samples: 3,
        };
        // A lone vector seen 5 times is a cluster on its own; one seen twice is noise.
        let s = shapes(&[(&[0.0, 1.0], 5), (&[1.0, 0.0], 2), (&[0.6, 0.8], 1)]);
        assert_eq!(dbscan(&s, &p), [Some(0), None, None]);
        // Two close vectors seen twice each reach min_samples together.
        let s = shapes(&[(&[1.0, 0.0], 2), (&[0.0, 1.0], 1), (&[0.995, 0.0998], 2)]);
        assert_eq!(dbscan(&s, &p), [Some(0), None, Some(0)]);
    }

    #[test]
    fn many_identical_vectors_and_edge_cases() {
        let p = DbscanParams::default();
        let s = shapes(&[(&[0.0, 0.0], 1_000_000), (&[0.0, 0.0], 3), (&[1.0, 0.0], 1)]);
        assert_eq!(dbscan(&s, &p), [Some(0), Some(0), None]);
        let empty = Shapes {
            dim: 2,
            shape_of: vec![],
            counts: vec![],
            vectors: vec![],
        };
        assert!(dbscan(&empty, &p).is_empty());
        let bad = DbscanParams {
            eps: f64::NAN,
            min_samples: 0,
        };
        assert_eq!(dbscan(&s, &bad), [Some(0), Some(0), None]);
    }
}
