//! Isolation Forest (Liu, Ting & Zhou 2008), as scikit-learn 1.x `IsolationForest` builds it.
//!
//! Why a second geometric detector next to LOF: an isolation tree needs no metric, no index and
//! no neighbour count, it sees how *often* a vector occurs (LOF deliberately does not), and
//! scoring is a few hundred comparisons, so it stays fast at any training-set size.
//!
//! Each tree is grown on `psi = min(sample_size, messages)` messages drawn without replacement:
//! a node picks a feature uniformly among those not constant on its points (`max − min >
//! 1e-7`, as scikit-learn), a threshold uniform in `[min, max)`, sends `x <= t` left, and stops
//! at one point, at all-identical points, or at depth `ceil(log2 psi)`. A leaf holding `n`
//! training points is worth `depth + c(n)`, `c(n) = 2H(n−1) − 2(n−1)/n` (`c(1) = 0`,
//! `c(2) = 1`), and the score is `2^(−mean path / c(psi))` in (0, 1], larger = more anomalous.
//!
//! Weights: rows are distinct message vectors and a weight is how many messages had it. We
//! sample *messages*, not rows: Floyd's algorithm picks `psi` distinct message numbers in
//! `[0, Σ weights)` and a binary search maps each to its row. That is exactly scikit-learn fit
//! on the expanded rows, at `O(psi log n)` per tree. Sampling rows ∝ weight with replacement
//! would be a little simpler but lets one rare row fill several slots of a sample.
//!
//! No panics: non-finite training values become 0 (NaN) or ±`f32::MAX`; NaN and missing query
//! values read as 0; degenerate models (no rows, one message) score a constant 0.5, which is
//! also what every query gets when all training points are identical (nothing can be isolated).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// Isolation Forest hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IForestParams {
    /// Number of trees (`n_estimators`).
    pub trees: usize,
    /// Messages per tree (`max_samples`), capped by the number of messages and by 2^20.
    pub sample_size: usize,
}

impl Default for IForestParams {
    fn default() -> Self {
        let (trees, sample_size) = (100, 256);
        Self { trees, sample_size }
    }
}

/// Serialised as a `[feature, threshold, right]` triple to keep model files small.
/// Internal node: `x[feature] <= threshold` goes to the next node, otherwise `right` nodes on.
/// Leaf (`right == 0`): `threshold` holds its path length `depth + c(points in leaf)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "(u32, f32, u32)", into = "(u32, f32, u32)")]
struct Node {
    feature: u32,
    threshold: f32,
    right: u32,
}

impl Node {
    const fn new(feature: u32, threshold: f32, right: u32) -> Self {
        Self {
            feature,
            threshold,
            right,
        }
    }
}

impl From<(u32, f32, u32)> for Node {
    fn from((f, t, r): (u32, f32, u32)) -> Self {
        Self::new(f, t, r)
    }
}

impl From<Node> for (u32, f32, u32) {
    fn from(n: Node) -> Self {
        (n.feature, n.threshold, n.right)
    }
}

/// Out-of-range nodes (only in a corrupted model) read as a leaf of length 0.
const NO_NODE: Node = Node::new(0, 0.0, 0);
const MAX_PSI: usize = 1 << 20;
/// A row counts as at most this many messages (keeps `Σ weights` far from overflow).
const MAX_WEIGHT: f64 = (1u64 << 32) as f64;
/// Trees walked in lock-step while scoring: independent dependency chains hide memory latency.
const LANES: usize = 8;

/// A fitted Isolation Forest: all trees in one flat pre-order node array.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsolationForest {
    params: IForestParams,
    dim: usize,
    /// Messages drawn per tree; `c(psi)` normalises the path lengths.
    psi: usize,
    /// Index of each tree's root in `nodes`.
    roots: Vec<usize>,
    nodes: Vec<Node>,
}

/// `c(n)`: average path length of an unsuccessful BST search among `n` points.
fn avg_path(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

/// Height limit `ceil(log2(max(psi, 2)))`.
fn max_depth(psi: usize) -> usize {
    (psi.max(2) - 1).ilog2() as usize + 1
}

/// Messages a row stands for: a missing weight 1, a fractional one rounded up, NaN, ±inf or
/// ≤ 0 none.
fn messages(weight: Option<&f64>) -> usize {
    match weight {
        None => 1,
        Some(&w) if w.is_finite() && w > 0.0 => w.ceil().min(MAX_WEIGHT) as usize,
        Some(_) => 0,
    }
}

fn unit_f64(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

struct Builder<'a> {
    data: &'a [f32],
    dim: usize,
    max_depth: usize,
    features: Vec<usize>,
    nodes: Vec<Node>,
}

impl Builder<'_> {
    fn grow(&mut self, idx: &mut [u32], depth: usize, rng: &mut SplitMix64) {
        let me = self.nodes.len();
        let leaf = (depth as f64 + avg_path(idx.len())) as f32;
        self.nodes.push(Node::new(0, leaf, 0));
        if idx.len() <= 1 || depth >= self.max_depth {
            return;
        }
        let (data, dim) = (self.data, self.dim);
        let value = |i: u32, f: usize| data[i as usize * dim + f];
        // Uniform among non-constant features: draw without replacement until one varies.
        let mut split = None;
        for k in 0..dim {
            let j = k + rng.below(dim - k);
            self.features.swap(k, j);
            let f = self.features[k];
            let (lo, hi) = idx.iter().fold((f32::MAX, -f32::MAX), |(lo, hi), &i| {
                (lo.min(value(i, f)), hi.max(value(i, f)))
            });
            if hi > lo + 1e-7 {
                split = Some((f, lo, hi));
                break;
            }
        }
        let Some((f, lo, hi)) = split else { return };
        let mut t = (lo as f64 + unit_f64(rng) * (hi as f64 - lo as f64)) as f32;
        if t >= hi {
            t = lo;
        }
        let mut left = 0;
        for k in 0..idx.len() {
            if value(idx[k], f) <= t {
                idx.swap(left, k);
                left += 1;
            }
        }
        let (l, r) = idx.split_at_mut(left);
        self.grow(l, depth + 1, rng);
        let right = (self.nodes.len() - me) as u32;
        self.nodes[me] = Node::new(f as u32, t, right);
        self.grow(r, depth + 1, rng);
    }
}

impl IsolationForest {
    /// rows: row-major f32 vectors `dim` wide; weights: one multiplicity per row (the rows are
    /// distinct message vectors, weight = how many messages had that vector). A missing weight
    /// counts as 1 (so `&[]` means unweighted), a fractional one is rounded up, a non-finite
    /// or non-positive one drops its row. `dim == 0` or no messages gives the constant model.
    /// Deterministic per seed.
    pub fn fit(
        params: &IForestParams,
        dim: usize,
        rows: &[f32],
        weights: &[f64],
        seed: u64,
    ) -> Self {
        let n = rows.len().checked_div(dim).unwrap_or(0);
        let finite = |v: f32| {
            if v.is_nan() {
                0.0
            } else {
                v.clamp(-f32::MAX, f32::MAX)
            }
        };
        let data: Vec<f32> = rows[..n * dim].iter().map(|&v| finite(v)).collect();
        // ends[i]: messages in rows 0..=i; message m belongs to the first row with ends > m.
        let mut total = 0;
        let ends: Vec<usize> = (0..n)
            .map(|i| {
                total = messages(weights.get(i)).saturating_add(total);
                total
            })
            .collect();
        let psi = params.sample_size.clamp(1, MAX_PSI).min(total);
        let mut rng = SplitMix64::new(seed ^ 0x150F_0E57);
        let (max_depth, features) = (max_depth(psi), (0..dim).take(data.len()).collect());
        let mut b = Builder {
            data: &data,
            dim,
            max_depth,
            features,
            nodes: Vec::new(),
        };
        let mut roots = Vec::new();
        let mut sample: Vec<u32> = Vec::with_capacity(psi);
        let mut chosen = HashSet::with_capacity(psi);
        for _ in 0..if psi == 0 { 0 } else { params.trees } {
            // Floyd: psi distinct numbers in [0, total), uniformly, in exactly psi draws.
            for j in total - psi..total {
                let t = rng.below(j + 1);
                let m = if chosen.insert(t) { t } else { j };
                chosen.insert(m);
                sample.push(ends.partition_point(|&e| e <= m) as u32);
            }
            roots.push(b.nodes.len());
            b.grow(&mut sample, 0, &mut rng);
            sample.clear();
            chosen.clear();
        }
        let (params, nodes) = (params.clone(), b.nodes);
        Self {
            params,
            dim,
            psi,
            roots,
            nodes,
        }
    }

    /// Anomaly score in (0, 1]: s(x) = 2^(-E[h(x)] / c(psi)), larger = more anomalous
    /// (the negation of scikit-learn's `score_samples`). Never panics: NaN or missing
    /// features read as 0, extra ones are ignored; ±inf compare as the extremes they are.
    pub fn score(&self, x: &[f32]) -> f64 {
        if self.roots.is_empty() || self.psi <= 1 {
            return 0.5;
        }
        let x = &x[..x.len().min(self.dim)];
        let q: Vec<f32> = x
            .iter()
            .map(|&v| if v.is_nan() { 0.0 } else { v })
            .collect();
        let node = |i: usize| self.nodes.get(i).copied().unwrap_or(NO_NODE);
        let steps = max_depth(self.psi);
        let mut sum = 0.0f64;
        for group in self.roots.chunks(LANES) {
            let mut at = [usize::MAX; LANES];
            at[..group.len()].copy_from_slice(group);
            for _ in 0..steps {
                for a in &mut at {
                    let n = node(*a);
                    let v = q.get(n.feature as usize).copied().unwrap_or(0.0);
                    // Branch-free (the direction is unpredictable): leaves step 0, left 1.
                    let (r, le) = (n.right as usize, (v <= n.threshold) as usize);
                    let step = le * r.min(1) + (1 - le) * r;
                    *a = a.wrapping_add(step);
                }
            }
            for &a in &at[..group.len()] {
                sum += node(a).threshold as f64;
            }
        }
        let s = (-(sum / self.roots.len() as f64) / avg_path(self.psi)).exp2();
        // Only a corrupted model could leave (0, 1].
        if s.is_nan() {
            0.5
        } else {
            s.clamp(f64::MIN_POSITIVE, 1.0)
        }
    }

    pub fn params(&self) -> &IForestParams {
        &self.params
    }

    /// Messages each tree was grown on (`max_samples_`); 0 for an empty model.
    pub fn sample_size(&self) -> usize {
        self.psi
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(trees: usize, rows: &[f32], weights: &[f64], seed: u64) -> IsolationForest {
        fit_with(trees, 256, 2, rows, weights, seed)
    }

    fn fit_with(
        trees: usize,
        sample: usize,
        dim: usize,
        x: &[f32],
        w: &[f64],
        seed: u64,
    ) -> IsolationForest {
        let params = IForestParams {
            trees,
            sample_size: sample,
        };
        IsolationForest::fit(&params, dim, x, w, seed)
    }

    /// Set A of the scikit-learn comparison: 40 inliers ~ N(0, 0.5²), 3 moderate, 3 outliers.
    #[rustfmt::skip]
    const A: [[f32; 2]; 46] = [
        [0.17, 0.41], [0.17, -0.65], [0.45, 0.22], [-0.27, 0.29], [0.18, 0.15], [0.01, 0.27],
        [-0.37, -0.08], [-0.24, 0.3], [0.02, -0.15], [-0.39, -0.13], [0.0, -0.14], [0.65, 0.5],
        [-1.36, -0.94], [-0.09, -0.21], [0.11, 0.11], [1.06, -0.56], [-0.19, 1.02], [0.32, 0.33],
        [-0.26, -0.82], [0.08, 0.05], [-0.61, -0.34], [-0.04, -0.47], [-0.05, 0.05], [0.02, -0.25],
        [0.3, 0.45], [0.16, -0.41], [0.37, -0.25], [0.44, -0.54], [0.46, -0.01], [-0.62, -0.16],
        [0.03, 0.14], [-0.49, -0.55], [0.1, -0.23], [0.12, 0.38], [-0.82, 0.13], [0.61, -0.15],
        [-0.41, 0.38], [0.13, 0.45], [-0.17, -0.74], [-0.06, -0.22],
        [1.5, 1.2], [-1.4, 1.1], [1.6, -1.3], [4.0, 4.0], [-5.0, 3.0], [3.5, -4.5],
    ];

    fn set_a() -> Vec<f32> {
        A.iter().flatten().copied().collect()
    }

    /// scikit-learn 1.9.1 (`pip install scikit-learn numpy`), `X` = `A` above as float32:
    /// ```text
    /// from sklearn.ensemble import IsolationForest
    /// Q = [[0, 0], [0.5, -0.5], [1.5, 1.2], [3, 3], [-5, 3]]
    /// -IsolationForest(n_estimators=1000, random_state=s).fit(X).score_samples(Q)
    ///   s=0 → [0.3414, 0.4053, 0.5748, 0.6772, 0.7753]   (s=1, 2 differ by up to 0.013)
    /// # B: a 15×15 grid with multiplicities, expanded: 451 messages, so max_samples_ = 256
    /// G = [[i / 7 - 1, j / 7 - 1] for i in range(15) for j in range(15)] + [[3, 3]]
    /// W = [1 + (i + j) % 3 for i in range(15) for j in range(15)] + [1]
    /// X = np.repeat(np.array(G, dtype=np.float32), W, axis=0)
    /// Q = [[0, 0], [1.5, 0], [1, 1], [3, 3]]   s=0 → [0.4797, 0.5747, 0.6177, 0.775]
    /// ```
    /// Here (seed 0): A → [0.3409, 0.4015, 0.5815, 0.6910, 0.7784], B → [0.4735, 0.5690,
    /// 0.6193, 0.7740]; over seeds 0..20 the worst gaps to scikit-learn's s=0 were 0.020 (A)
    /// and 0.015 (B), and the seed means came within 0.004 of the mean of its s=0, 1, 2.
    /// B is fitted on the 226 distinct rows with `W` as weights, so it also checks that the
    /// message sampling reproduces scikit-learn on the expanded rows.
    #[test]
    fn matches_scikit_learn() {
        let check = |model: &IsolationForest, q: &[[f32; 2]], expected: &[f64]| {
            let got: Vec<f64> = q.iter().map(|q| model.score(q)).collect();
            assert!(got.windows(2).all(|w| w[0] < w[1]), "order: {got:?}");
            let close = got.iter().zip(expected).all(|(g, e)| (g - e).abs() < 0.04);
            assert!(close, "{got:?} vs {expected:?}");
        };
        let a = fit(1000, &set_a(), &[], 0);
        assert_eq!(a.sample_size(), 46);
        let q = [[0., 0.], [0.5, -0.5], [1.5, 1.2], [3., 3.], [-5., 3.]];
        check(&a, &q, &[0.3414, 0.4053, 0.5748, 0.6772, 0.7753]);
        // The three outliers are the top three training points.
        let mut train: Vec<(f64, usize)> = A.iter().map(|p| a.score(p)).zip(0..).collect();
        train.sort_by(|x, y| y.0.total_cmp(&x.0));
        let mut top: Vec<usize> = train[..3].iter().map(|t| t.1).collect();
        top.sort();
        assert_eq!(top, [43, 44, 45]);

        let (mut g, mut w) = (vec![3.0, 3.0], vec![1.0]);
        for i in 0..15 {
            for j in 0..15 {
                g.extend([i as f32 / 7.0 - 1.0, j as f32 / 7.0 - 1.0]);
                w.push((1 + (i + j) % 3) as f64);
            }
        }
        let b = fit(1000, &g, &w, 0);
        assert_eq!(b.sample_size(), 256);
        let q = [[0., 0.], [1.5, 0.], [1., 1.], [3., 3.]];
        check(&b, &q, &[0.4797, 0.5747, 0.6177, 0.775]);
    }

    #[test]
    fn deterministic_per_seed() {
        let x = set_a();
        let (m1, m2, m3) = (
            fit(100, &x, &[], 7),
            fit(100, &x, &[], 7),
            fit(100, &x, &[], 8),
        );
        for p in [[0.1, 0.2], [1.5, 1.2], [4.0, 4.0], [10.0, -3.0]] {
            assert_eq!(m1.score(&p).to_bits(), m2.score(&p).to_bits());
        }
        assert_eq!(m1.nodes, m2.nodes);
        assert_ne!(m1.nodes, m3.nodes);
        for m in [&m1, &m3] {
            let s = [[0.0, 0.0], [1.5, 1.2], [6.0, 6.0]].map(|p| m.score(&p));
            assert!(s[0] < s[1] && s[1] < s[2], "{s:?}");
        }
    }

    #[test]
    fn weights_are_multiplicities() {
        // 30 inliers plus a point p at (2, 2): frequent p is normal, a one-off p is not.
        let mut x: Vec<f32> = A[..30].iter().flatten().copied().collect();
        x.extend([2.0, 2.0]);
        let mut w = vec![1.0; 31];
        let once = fit(200, &x, &w, 1).score(&[2.0, 2.0]);
        w[30] = 1000.0;
        let often = fit(200, &x, &w, 1).score(&[2.0, 2.0]);
        assert!(often + 0.1 < once, "often {often} once {once}");
        // A duplicated row behaves like one row of weight 2.
        let mut dup = x.clone();
        dup.extend([2.0, 2.0]);
        w[30] = 2.0;
        let (d, m) = (fit(2000, &dup, &[], 3), fit(2000, &x, &w, 4));
        for p in [[0.0, 0.0], [2.0, 2.0], [5.0, -1.0]] {
            assert!((d.score(&p) - m.score(&p)).abs() < 0.01, "{p:?}");
        }
        // Zero, negative, NaN and infinite weights drop rows; dropping all is the empty model.
        assert_eq!(fit(10, &x, &[0.0; 31], 1).trees(), 0);
        let bad = [f64::NAN, -1.0, f64::INFINITY];
        assert_eq!(fit(10, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &bad, 1).trees(), 0);
        assert_eq!(fit(10, &x, &[1e300, 0.5], 1).sample_size(), 256);
    }

    #[test]
    fn hostile_input_never_panics() {
        let ok = |s: f64| assert!(s.is_finite() && s > 0.0 && s <= 1.0, "{s}");
        let (nan, inf) = (f32::NAN, f32::INFINITY);
        let queries: [&[f32]; 5] = [&[], &[1.0], &[nan, 0.0], &[inf, -inf], &[0.0; 9]];
        let models = [
            fit(50, &[], &[], 1),
            fit_with(50, 256, usize::MAX, &[], &[], 1),
            fit_with(50, 256, 0, &[1.0, 2.0], &[], 1),
            fit(50, &[1.0, 2.0], &[], 1),
            fit(50, &[1.0, 2.0, 3.0], &[5.0, 5.0], 1), // trailing partial row ignored
            fit(50, &[0.5; 600], &[], 1),
            fit(50, &[0.0, nan, inf, -inf, 1.0, 2.0], &[], 1),
            fit_with(3, 0, 2, &set_a(), &[], 1),
            fit_with(0, 9, 2, &set_a(), &[], 1),
        ];
        for m in &models {
            queries.iter().for_each(|q| ok(m.score(q)));
        }
        // Nothing to learn from: a constant 0.5 (scikit-learn gives 0.5 for one sample, too).
        for m in &models[..6] {
            assert!((m.score(&[9.0, -9.0]) - 0.5).abs() < 1e-6);
        }
        assert_eq!((models[4].sample_size(), models[5].node_count()), (5, 50));
        // Short, NaN and long queries read as zero-padded, zero-filled and truncated.
        let m = fit(50, &set_a(), &[], 1);
        let s = m.score(&[1.0, 0.0]);
        assert_eq!(
            [
                m.score(&[1.0]),
                m.score(&[1.0, nan]),
                m.score(&[1.0, 0.0, 7.0])
            ],
            [s; 3]
        );
        assert!(m.score(&[inf, 0.0]) > m.score(&[0.0, 0.0]));
        // A corrupted model (offsets past the end) still scores.
        let mut broken = fit(5, &set_a(), &[], 1);
        broken
            .nodes
            .iter_mut()
            .for_each(|n| n.right = n.right.saturating_mul(99));
        broken.roots[0] = usize::MAX;
        ok(broken.score(&[1.0, 1.0]));
    }

    #[test]
    fn serde_round_trip_and_size() {
        let mut rng = SplitMix64::new(5);
        let x: Vec<f32> = (0..2000 * 25).map(|_| rng.next_f32()).collect();
        let m = IsolationForest::fit(&IForestParams::default(), 25, &x, &[], 11);
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.len() < 400_000, "{} bytes", json.len());
        let back: IsolationForest = serde_json::from_str(&json).unwrap();
        for row in x.chunks(25).take(200) {
            assert_eq!(m.score(row).to_bits(), back.score(row).to_bits());
        }
        let p: IForestParams = serde_json::from_str(r#"{"trees": 7}"#).unwrap();
        assert_eq!((p.trees, p.sample_size), (7, 256));
    }

    /// `cargo test --release --lib -- --ignored --nocapture iforest::tests::throughput`
    #[test]
    #[ignore]
    fn throughput() {
        let mut rng = SplitMix64::new(5);
        let x: Vec<f32> = (0..20_000 * 25).map(|_| rng.next_f32()).collect();
        let t = std::time::Instant::now();
        let m = IsolationForest::fit(&IForestParams::default(), 25, &x, &[], 11);
        let fit_time = t.elapsed();
        let t = std::time::Instant::now();
        let sum: f64 = (0..10).flat_map(|_| x.chunks(25)).map(|r| m.score(r)).sum();
        let rate = 200_000.0 / t.elapsed().as_secs_f64();
        let json = serde_json::to_string(&m).unwrap().len();
        let nodes = m.node_count();
        println!("fit {fit_time:?}, {nodes} nodes, {json} B, {rate:.0} scores/s, Σ {sum:.3}");
    }
}
