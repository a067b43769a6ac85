//! Message vectors for clustering a batch of anomalies.
//!
//! Messages are tokenized with lad's masked tokenizer ([`Tokenizer::Masked`]: `CRON[25368]`
//! and `CRON[25252]` are both `CRON <num>`), and messages with identical token lists
//! ("shapes") share one vector; everything downstream works on shapes with counts.
//!
//! Two ways to turn tokens into vectors ([`VectorMode`], `AGGR_VECTORS`):
//!
//! * [`VectorMode::Hashed`] (default): every token gets a fixed pseudo-random unit vector
//!   derived from the token and `SEED`, and a message vector is the mean of its tokens'
//!   vectors. Two messages are then close exactly when they share most of their tokens —
//!   which is what "same template" means. No training, so a batch of five anomalies is
//!   clustered as reliably as one of 20,000.
//! * [`VectorMode::Word2Vec`]: word2vec trained on the batch itself with lad's deterministic
//!   trainer ([`crate::embed::word2vec`]), as the original aggregator did. Word2vec learns
//!   nothing about a word seen a handful of times, so each word vector is blended with the
//!   word's hashed vector by how often it was seen (`count / (count + 5)`); without this,
//!   one-off messages (made of rarely seen words) all land on the same spot and DBSCAN
//!   merges them. Training runs at least ~40,000 sentence passes so small batches get
//!   trained too. Word2vec places *interchangeable* words close together — which also merges
//!   `Accepted publickey for …` with `Failed password for …`, see README.md, "Message vectors".
//!
//! Either way each message vector is finally scaled to unit length, so `AGGR_EPS` is a
//! distance between directions: two unit vectors at distance `d` have cosine similarity
//! `1 − d²/2` (eps 0.3 ≈ cosine 0.955). Duplicate tokens count as often as they occur, as
//! in the original's mean.

use std::collections::HashMap;

use crate::embed::{word2vec, Word2VecParams, WordVectors};
use crate::profile::Tokenizer;
use crate::rng::SplitMix64;

/// How token lists become vectors (`AGGR_VECTORS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VectorMode {
    /// Fixed pseudo-random token vectors (token identity only).
    #[default]
    Hashed,
    /// Word2vec trained on the batch, blended with the hashed vectors for rare words.
    Word2Vec,
}

impl std::str::FromStr for VectorMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hashed" => Ok(Self::Hashed),
            "word2vec" | "w2v" => Ok(Self::Word2Vec),
            other => Err(format!("unknown vector mode {other:?}")),
        }
    }
}

/// Default `AGGR_VECTOR_LENGTH` for [`VectorMode::Hashed`]: random directions in 25
/// dimensions are too noisy an estimate of token overlap (measured: cluster purity down to
/// 0.83 depending on the seed), 50 is stable (1.0 on every seed tried).
pub const DEFAULT_HASHED_DIM: usize = 50;
/// Default `AGGR_VECTOR_LENGTH` for [`VectorMode::Word2Vec`] (the original's 25).
pub const DEFAULT_WORD2VEC_DIM: usize = 25;

impl VectorMode {
    /// The default vector length for this mode.
    pub fn default_dim(self) -> usize {
        match self {
            Self::Hashed => DEFAULT_HASHED_DIM,
            Self::Word2Vec => DEFAULT_WORD2VEC_DIM,
        }
    }
}

/// Vector settings for a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorParams {
    /// `AGGR_VECTORS`.
    pub mode: VectorMode,
    /// `AGGR_VECTOR_LENGTH`.
    pub dim: usize,
    /// `AGGR_WINDOW` (word2vec only).
    pub window: usize,
    /// `SEED`.
    pub seed: u64,
}

impl Default for VectorParams {
    fn default() -> Self {
        Self {
            mode: VectorMode::Hashed,
            dim: DEFAULT_HASHED_DIM,
            window: 5,
            seed: 0,
        }
    }
}

/// A batch's messages grouped by token list, with one unit vector per group.
#[derive(Debug, Clone)]
pub struct Shapes {
    /// Vector size.
    pub dim: usize,
    /// Shape index of every message, in input order.
    pub shape_of: Vec<u32>,
    /// Messages per shape.
    pub counts: Vec<u64>,
    /// One vector per shape, row-major (`counts.len() × dim`), finite, unit length or zero
    /// (a message without any token).
    pub vectors: Vec<f32>,
}

impl Shapes {
    /// Number of distinct shapes.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// True when there are no messages.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The vector of shape `i`.
    pub fn vector(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }
}

/// Sentence passes word2vec makes over a batch at least (more epochs for small batches).
const MIN_W2V_PASSES: usize = 40_000;
/// Most epochs word2vec runs, however small the batch.
const MAX_W2V_EPOCHS: usize = 200;
/// A word seen `c` times keeps `c / (c + RARE_WORD_COUNT)` of its word2vec direction.
const RARE_WORD_COUNT: f32 = 5.0;

/// Tokenizes and builds one vector per distinct token list. Deterministic for a given input
/// order and parameters; never fails (an empty batch gives no shapes).
pub fn vectorize<S: AsRef<str>>(messages: &[S], params: &VectorParams) -> Shapes {
    let dim = params.dim.max(1);
    // 1. Shapes, in order of first appearance.
    let mut shape_index: HashMap<Vec<String>, u32> = HashMap::new();
    let mut shapes: Vec<Vec<String>> = Vec::new();
    let mut counts: Vec<u64> = Vec::new();
    let mut shape_of = Vec::with_capacity(messages.len());
    let mut buf = Vec::new();
    for m in messages {
        Tokenizer::Masked.tokens_into(m.as_ref(), &mut buf);
        let id = match shape_index.get(&buf) {
            Some(&id) => id,
            None => {
                let id = shapes.len() as u32;
                shape_index.insert(buf.clone(), id);
                shapes.push(buf.clone());
                counts.push(0);
                id
            }
        };
        counts[id as usize] += 1;
        shape_of.push(id);
    }
    drop(shape_index);

    // 2. Vocabulary (first appearance) with token counts over messages.
    let mut vocab: HashMap<&str, u32> = HashMap::new();
    let mut words: Vec<String> = Vec::new();
    let mut tcounts: Vec<u64> = Vec::new();
    let mut shape_ids: Vec<Vec<u32>> = Vec::with_capacity(shapes.len());
    for (tokens, &c) in shapes.iter().zip(&counts) {
        let ids = tokens
            .iter()
            .map(|t| {
                let id = *vocab.entry(t.as_str()).or_insert_with(|| {
                    words.push(t.clone());
                    tcounts.push(0);
                    (words.len() - 1) as u32
                });
                tcounts[id as usize] += c;
                id
            })
            .collect();
        shape_ids.push(ids);
    }
    drop(vocab);

    // 3. Word vectors.
    let mut matrix = vec![0f32; words.len() * dim];
    for (w, row) in words.iter().zip(matrix.chunks_exact_mut(dim)) {
        hashed_vector(w, params.seed, row);
    }
    if params.mode == VectorMode::Word2Vec && !words.is_empty() {
        let w2v = Word2VecParams {
            dim,
            window: params.window.max(1),
            epochs: (MIN_W2V_PASSES / messages.len().max(1)).clamp(5, MAX_W2V_EPOCHS),
            ..Word2VecParams::default()
        };
        let sentences: Vec<Vec<u32>> = shape_of
            .iter()
            .map(|&s| shape_ids[s as usize].clone())
            .collect();
        let mut trained = word2vec::train(&w2v, &sentences, &tcounts, params.seed, &mut |_| {});
        drop(sentences);
        // Remove the direction all trained vectors share, then blend by confidence.
        let mut mean = vec![0f32; dim];
        for row in trained.chunks_exact(dim) {
            mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
        }
        mean.iter_mut().for_each(|m| *m /= words.len() as f32);
        for ((row, hashed), &c) in trained
            .chunks_exact_mut(dim)
            .zip(matrix.chunks_exact_mut(dim))
            .zip(&tcounts)
        {
            row.iter_mut().zip(&mean).for_each(|(x, m)| *x -= m);
            normalize(row);
            let t = c as f32 / (c as f32 + RARE_WORD_COUNT);
            hashed
                .iter_mut()
                .zip(row.iter())
                .for_each(|(h, x)| *h = t * x + (1.0 - t) * *h);
            normalize(hashed);
        }
    }
    // Plain mean: every token weighs the same (an IDF weighting would make the rare,
    // variable parts of a template — user names, file names — dominate).
    let weights = vec![1f32; words.len()];
    let wv = WordVectors::new(dim, words, matrix, weights);

    // 4. One unit vector per shape.
    let mut vectors = vec![0f32; shapes.len() * dim];
    for (tokens, out) in shapes.iter().zip(vectors.chunks_exact_mut(dim)) {
        wv.message_vector_into(tokens, out);
        if out.iter().any(|x| !x.is_finite()) {
            out.iter_mut().for_each(|x| *x = 0.0);
        }
        normalize(out);
    }
    Shapes {
        dim,
        shape_of,
        counts,
        vectors,
    }
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// A unit vector determined by `token` and `seed` alone (Gaussian components, so directions
/// are uniform on the sphere).
pub fn hashed_vector(token: &str, seed: u64, out: &mut [f32]) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in token.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut r = SplitMix64::new(h);
    let mut i = 0;
    while i < out.len() {
        // Box–Muller: two normal deviates per pair of uniforms.
        let u1 = (f64::from(r.next_f32()) + 1e-7).min(1.0);
        let u2 = f64::from(r.next_f32());
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        out[i] = (radius * angle.cos()) as f32;
        if i + 1 < out.len() {
            out[i + 1] = (radius * angle.sin()) as f32;
        }
        i += 2;
    }
    normalize(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_token_lists_share_a_shape_and_vectors_are_unit_and_deterministic() {
        let msgs = [
            "CRON[1]: session opened for user root",
            "CRON[2]: session opened for user root",
            "kernel: disk sda1 failed",
            "",
        ];
        for mode in [VectorMode::Hashed, VectorMode::Word2Vec] {
            let p = VectorParams {
                mode,
                ..Default::default()
            };
            let s = vectorize(&msgs, &p);
            assert_eq!(s.shape_of, [0, 0, 1, 2]);
            assert_eq!(s.counts, [2, 1, 1]);
            for i in 0..2 {
                let norm: f32 = s.vector(i).iter().map(|x| x * x).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-4, "{norm}");
            }
            assert!(s.vector(2).iter().all(|&x| x == 0.0));
            assert_eq!(vectorize(&msgs, &p).vectors, s.vectors);
            assert!(vectorize::<&str>(&[], &p).is_empty());
        }
    }

    #[test]
    fn shared_tokens_mean_close_vectors() {
        let msgs = [
            "session opened for user root by uid",
            "session opened for user alice by uid",
            "disk failure detected on array md0 now",
        ];
        let s = vectorize(&msgs, &VectorParams::default());
        let d = |i: usize, j: usize| -> f32 {
            s.vector(i)
                .iter()
                .zip(s.vector(j))
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
                .sqrt()
        };
        assert!(d(0, 1) < 0.6, "{}", d(0, 1));
        assert!(d(0, 2) > 1.0, "{}", d(0, 2));
    }

    #[test]
    fn hashed_vectors_depend_on_token_and_seed_only() {
        let mut a = [0f32; 25];
        let mut b = [0f32; 25];
        hashed_vector("root", 1, &mut a);
        hashed_vector("root", 1, &mut b);
        assert_eq!(a, b);
        hashed_vector("root", 2, &mut b);
        assert_ne!(a, b);
        let mut odd = [0f32; 3];
        hashed_vector("", 0, &mut odd);
        assert!((odd.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    }
}
