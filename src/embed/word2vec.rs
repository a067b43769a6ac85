//! Skip-gram word2vec with negative sampling, trained in-process and deterministically.
//!
//! Why hand-written: no maintained Rust trainer exists (`finalfrontier` pins ndarray 0.13,
//! rand 0.7 and clap 2); the algorithm is small. Single-threaded, so the same seed gives the
//! same vectors bit for bit. Storage uses finalfusion (see [`super::vectors`]).

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// Word2vec hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word2VecParams {
    /// Vector size (TRAIN_VECTOR_LENGTH in the original), default 25.
    pub dim: usize,
    /// Context window on each side, default 5.
    pub window: usize,
    /// Negative samples per positive pair.
    pub negative: usize,
    pub epochs: usize,
    pub learning_rate: f32,
    /// Tokens seen fewer times than this get no vector.
    pub min_count: u64,
    /// Down-sampling of very frequent tokens (as in word2vec's `sample`).
    pub sample: f64,
    /// At most this many training messages are used (evenly spaced), to bound training time.
    pub max_sentences: usize,
}

impl Default for Word2VecParams {
    fn default() -> Self {
        Self {
            dim: 25,
            window: 5,
            negative: 5,
            epochs: 5,
            learning_rate: 0.025,
            min_count: 1,
            sample: 1e-3,
            max_sentences: 100_000,
        }
    }
}

/// Trains vectors for a vocabulary of `counts.len()` ids over `sentences` of ids.
/// Returns the input vectors, row-major (`counts.len() × dim`).
pub fn train(
    params: &Word2VecParams,
    sentences: &[Vec<u32>],
    counts: &[u64],
    seed: u64,
    progress: &mut dyn FnMut(f32),
) -> Vec<f32> {
    let dim = params.dim;
    let v = counts.len();
    let mut rng = SplitMix64::new(seed ^ 0x2_7EC);
    let mut syn0: Vec<f32> = (0..v * dim)
        .map(|_| (rng.next_f32() - 0.5) / dim as f32)
        .collect();
    let mut syn1 = vec![0f32; v * dim];
    if v == 0 || sentences.is_empty() {
        return syn0;
    }
    // Negative-sampling distribution: counts^0.75, sampled by binary search on the CDF.
    let mut cdf = Vec::with_capacity(v);
    let mut acc = 0f64;
    for &c in counts {
        acc += (c as f64).powf(0.75);
        cdf.push(acc);
    }
    let total_tokens: u64 = counts.iter().sum();
    let keep_prob: Vec<f32> = counts
        .iter()
        .map(|&c| {
            if params.sample <= 0.0 || c == 0 {
                return 1.0;
            }
            let f = c as f64 / total_tokens as f64;
            (((f / params.sample).sqrt() + 1.0) * params.sample / f).min(1.0) as f32
        })
        .collect();
    let stride = sentences.len().div_ceil(params.max_sentences.max(1));
    let chosen: Vec<&Vec<u32>> = sentences.iter().step_by(stride.max(1)).collect();
    let planned = (params.epochs * chosen.len()).max(1) as f32;
    let mut done = 0usize;
    let mut neu1e = vec![0f32; dim];
    let mut sent = Vec::new();
    for _ in 0..params.epochs {
        for s in &chosen {
            sent.clear();
            sent.extend(s.iter().copied().filter(|&w| {
                keep_prob[w as usize] >= 1.0 || rng.next_f32() < keep_prob[w as usize]
            }));
            let alpha = (params.learning_rate * (1.0 - done as f32 / planned))
                .max(params.learning_rate * 1e-4);
            for (pos, &word) in sent.iter().enumerate() {
                let b = rng.below(params.window.max(1));
                let lo = pos.saturating_sub(params.window - b);
                let hi = (pos + params.window - b + 1).min(sent.len());
                for (cpos, &ctx) in sent.iter().enumerate().take(hi).skip(lo) {
                    if cpos == pos {
                        continue;
                    }
                    let l1 = ctx as usize * dim;
                    neu1e.iter_mut().for_each(|x| *x = 0.0);
                    for d in 0..=params.negative {
                        let (target, label) = if d == 0 {
                            (word as usize, 1.0)
                        } else {
                            let r = rng.next_f32() as f64 * acc;
                            let t = cdf.partition_point(|&c| c < r).min(v - 1);
                            if t == word as usize {
                                continue;
                            }
                            (t, 0.0)
                        };
                        let l2 = target * dim;
                        let f: f32 = (0..dim).map(|j| syn0[l1 + j] * syn1[l2 + j]).sum();
                        let g = (label - sigmoid(f)) * alpha;
                        for j in 0..dim {
                            neu1e[j] += g * syn1[l2 + j];
                            syn1[l2 + j] += g * syn0[l1 + j];
                        }
                    }
                    for j in 0..dim {
                        syn0[l1 + j] += neu1e[j];
                    }
                }
            }
            done += 1;
            if done.is_multiple_of(1024) {
                progress(done as f32 / planned);
            }
        }
    }
    progress(1.0);
    syn0
}

fn sigmoid(x: f32) -> f32 {
    if x > 6.0 {
        1.0
    } else if x < -6.0 {
        0.0
    } else {
        1.0 / (1.0 + (-x).exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        d / (a.iter().map(|x| x * x).sum::<f32>().sqrt()
            * b.iter().map(|x| x * x).sum::<f32>().sqrt())
    }

    #[test]
    fn words_sharing_contexts_end_up_close_and_training_is_deterministic() {
        // 0,1 appear in the same contexts (2 3 _ 4); 5,6 in another (7 8 _ 9).
        let mut sentences = Vec::new();
        for i in 0..400 {
            sentences.push(vec![2, 3, if i % 2 == 0 { 0 } else { 1 }, 4]);
            sentences.push(vec![7, 8, if i % 2 == 0 { 5 } else { 6 }, 9]);
        }
        let counts = vec![200u64, 200, 400, 400, 400, 200, 200, 400, 400, 400];
        let p = Word2VecParams {
            dim: 16,
            sample: 0.0,
            ..Default::default()
        };
        let a = train(&p, &sentences, &counts, 1, &mut |_| {});
        let b = train(&p, &sentences, &counts, 1, &mut |_| {});
        assert_eq!(a, b);
        let row = |i: usize| &a[i * 16..(i + 1) * 16];
        assert!(
            cos(row(0), row(1)) > cos(row(0), row(5)) + 0.2,
            "{} {}",
            cos(row(0), row(1)),
            cos(row(0), row(5))
        );
        assert_ne!(a, train(&p, &sentences, &counts, 2, &mut |_| {}));
    }
}
