//! Local Outlier Factor in novelty mode (fit on training vectors, score new ones).
//!
//! Same definition as scikit-learn's `LocalOutlierFactor(novelty=True)`:
//! `lrd(p) = 1 / (mean_{o ∈ kNN(p)} max(kdist(o), d(p, o)) + 1e-10)` and
//! `LOF(p) = mean_{o ∈ kNN(p)} lrd(o) / lrd(p)`, about 1 for inliers.
//!
//! Duplicates: log messages repeat, and many identical training vectors make `kdist` zero and
//! LOF explode to 1e10 (the original LAD shows scores of 1.4e9). We therefore fit LOF on the
//! *distinct* vectors only; how often a vector occurs is the job of the rarity signal, not of
//! the density estimate. `k` is capped at `distinct − 1`.

use serde::{Deserialize, Serialize};

use super::knn::KnnIndex;

/// Distance used by LOF. Cosine is computed as euclidean distance between unit vectors (a
/// monotone function of cosine distance), which keeps the k-d tree usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    #[default]
    Euclidean,
    Cosine,
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "euclidean" => Ok(Self::Euclidean),
            "cosine" => Ok(Self::Cosine),
            other => Err(format!("expected 'euclidean' or 'cosine', got '{other}'")),
        }
    }
}

impl Metric {
    /// Brings a vector into the space where euclidean distance is this metric.
    pub fn prepare(self, v: &mut [f32]) {
        if self == Self::Cosine {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                v.iter_mut().for_each(|x| *x /= n);
            }
        }
    }
}

/// LOF hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LofParams {
    /// `n_neighbors` (LOF_NEIGHBORS), default 100 like the original.
    pub neighbors: usize,
    pub metric: Metric,
}

impl Default for LofParams {
    fn default() -> Self {
        Self {
            neighbors: 100,
            metric: Metric::Euclidean,
        }
    }
}

/// A fitted LOF model: distinct training points, their k-distances and local densities.
#[derive(Debug, Serialize, Deserialize)]
pub struct Lof {
    params: LofParams,
    dim: usize,
    k: usize,
    points: Vec<f32>,
    kdist: Vec<f32>,
    lrd: Vec<f32>,
    #[serde(skip)]
    index: Option<KnnIndex>,
}

const EPS: f32 = 1e-10;
/// Neighbours closer than this are the query itself (see [`Lof::score_training`]).
const SELF_DISTANCE: f32 = 1e-5;

impl Lof {
    /// Fits on `vectors` (row-major, `dim` wide). Rows are de-duplicated first.
    /// Returns `None` when `dim` is unsupported by the index.
    pub fn fit(params: LofParams, dim: usize, vectors: &[f32]) -> Option<Self> {
        let mut seen = std::collections::HashSet::new();
        let mut points = Vec::new();
        for row in vectors.chunks_exact(dim) {
            let mut r = row.to_vec();
            params.metric.prepare(&mut r);
            let key: Vec<u32> = r.iter().map(|x| x.to_bits()).collect();
            if seen.insert(key) {
                points.extend(r);
            }
        }
        if points.is_empty() {
            points.extend(std::iter::repeat_n(0.0, dim));
        }
        let n = points.len() / dim;
        let k = params.neighbors.min(n.saturating_sub(1)).max(1);
        let index = KnnIndex::build(dim, &points)?;
        // k-distance of every training point: its k-th neighbour other than itself.
        let neigh: Vec<Vec<(usize, f32)>> = (0..n)
            .map(|i| {
                index
                    .nearest(&points[i * dim..(i + 1) * dim], k + 1)
                    .into_iter()
                    .filter(|nb| nb.index != i)
                    .take(k)
                    .map(|nb| (nb.index, nb.distance))
                    .collect()
            })
            .collect();
        let kdist: Vec<f32> = neigh
            .iter()
            .map(|nb| nb.last().map_or(0.0, |x| x.1))
            .collect();
        let lrd = neigh
            .iter()
            .map(|nb| {
                if nb.is_empty() {
                    return 1.0;
                }
                let reach: f32 =
                    nb.iter().map(|&(o, d)| kdist[o].max(d)).sum::<f32>() / nb.len() as f32;
                1.0 / (reach + EPS)
            })
            .collect();
        Some(Self {
            params,
            dim,
            k,
            points,
            kdist,
            lrd,
            index: Some(index),
        })
    }

    /// Rebuilds the search index after deserialisation.
    pub fn rebuild_index(&mut self) -> bool {
        self.index = KnnIndex::build(self.dim, &self.points);
        self.index.is_some()
    }

    pub fn params(&self) -> LofParams {
        self.params
    }

    /// Effective number of neighbours (capped by the number of distinct training vectors).
    pub fn k(&self) -> usize {
        self.k
    }

    pub fn distinct_points(&self) -> usize {
        self.points.len() / self.dim.max(1)
    }

    /// LOF of a new vector (about 1 for inliers, larger for outliers).
    pub fn score(&self, vector: &[f32]) -> f64 {
        self.score_excluding(vector, false)
    }

    /// LOF of a training vector against the *other* training vectors: its own copy (distance
    /// 0) is not its neighbour. Used to calibrate scores on the training distribution.
    pub fn score_training(&self, vector: &[f32]) -> f64 {
        self.score_excluding(vector, true)
    }

    fn score_excluding(&self, vector: &[f32], exclude_self: bool) -> f64 {
        let Some(index) = &self.index else { return 1.0 };
        let mut q = vector.to_vec();
        self.params.metric.prepare(&mut q);
        let mut nb = index.nearest(&q, self.k + usize::from(exclude_self));
        if exclude_self {
            // The query's own copy: at distance 0, or within float noise of it (a vector
            // recomputed after loading may differ in the last bits).
            if let Some(pos) = nb.iter().position(|n| n.distance <= SELF_DISTANCE) {
                nb.remove(pos);
            }
            nb.truncate(self.k);
        }
        if nb.is_empty() {
            return 1.0;
        }
        let reach = nb
            .iter()
            .map(|n| self.kdist[n.index].max(n.distance) as f64)
            .sum::<f64>()
            / nb.len() as f64;
        let lrd_p = 1.0 / (reach + EPS as f64);
        let mean_lrd_o = nb.iter().map(|n| self.lrd[n.index] as f64).sum::<f64>() / nb.len() as f64;
        mean_lrd_o / lrd_p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from scikit-learn 1.x (`LocalOutlierFactor(n_neighbors=3, novelty=True)`), on
    /// points and queries without distance ties (ties make the neighbour set arbitrary):
    /// ```text
    /// X = [[0,0],[.1,1.05],[1.2,0],[1,.9],[.5,.44],[3,3.3],[.2,.8],[.93,.1]]
    /// Q = [[.52,.61],[2,2.2],[5,4.5],[.03,.47]]
    /// -lof.fit(X).score_samples(Q)  → [0.94880463, 2.38648619, 4.62573312, 0.9827307]
    /// -lof.negative_outlier_factor_ → [0.99466681, 1.01943241, 1.06120217, 0.93836512,
    ///                                   1.05960391, 4.44699133, 0.98438847, 0.97507621]
    /// ```
    /// The 2-d points are padded with zeros to the index's smallest dimension (8), which leaves
    /// every distance unchanged.
    #[test]
    fn matches_scikit_learn() {
        let pts: [[f32; 2]; 8] = [
            [0., 0.],
            [0.1, 1.05],
            [1.2, 0.],
            [1., 0.9],
            [0.5, 0.44],
            [3., 3.3],
            [0.2, 0.8],
            [0.93, 0.1],
        ];
        let pad = |p: [f32; 2]| {
            let mut v = vec![0f32; 8];
            v[..2].copy_from_slice(&p);
            v
        };
        let x: Vec<f32> = pts.iter().flat_map(|&p| pad(p)).collect();
        let lof = Lof::fit(
            LofParams {
                neighbors: 3,
                metric: Metric::Euclidean,
            },
            8,
            &x,
        )
        .unwrap();
        let expected_q = [0.94880463, 2.38648619, 4.62573312, 0.9827307];
        for (q, e) in [[0.52, 0.61], [2., 2.2], [5., 4.5], [0.03, 0.47]]
            .iter()
            .zip(expected_q)
        {
            let got = lof.score(&pad(*q));
            assert!((got - e).abs() < 1e-5, "query {q:?}: {got} vs {e}");
        }
        let expected_train = [
            0.99466681, 1.01943241, 1.06120217, 0.93836512, 1.05960391, 4.44699133, 0.98438847,
            0.97507621,
        ];
        for (p, e) in pts.iter().zip(expected_train) {
            let got = lof.score_training(&pad(*p));
            assert!((got - e).abs() < 1e-5, "train {p:?}: {got} vs {e}");
        }
    }

    #[test]
    fn duplicates_do_not_explode() {
        let mut x = vec![0f32; 8 * 500];
        x.extend([1.0, 0., 0., 0., 0., 0., 0., 0.]);
        let lof = Lof::fit(LofParams::default(), 8, &x).unwrap();
        assert_eq!(lof.distinct_points(), 2);
        let s = lof.score(&[0.0; 8]);
        assert!(s.is_finite() && s < 10.0, "{s}");
    }
}
