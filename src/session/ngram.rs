//! Next-event model over event ids: a back-off n-gram in the spirit of DeepLog.
//!
//! Trained on the event-id sequences of the training sessions (labels never seen, anomalous
//! sessions included). At each position the model looks at the last `history` events and
//! predicts the next one:
//!
//! * **expected set** (DeepLog's top-k): the `top_k` most frequent next events of the longest
//!   context seen at least `min_context_count` times, keeping only those whose share in that
//!   context is at least `min_prob`. The share floor is what makes the model robust to
//!   contamination: an anomalous transition that recurs in the training data still ranks
//!   among the first k when a context has few successors, but it stays a small share.
//! * **probability**: Witten–Bell interpolation of all orders down to a uniform floor, so an
//!   unseen context or an unknown event still gets a finite, comparable surprise.
//!
//! With `end_event` the end of a session is predicted like an event: a session that stops
//! half-way (an HDFS block that was allocated and never written) is a miss at its end.
//!
//! Ids at or above the vocabulary size are "unknown" (templates never seen in training).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Largest vocabulary the n-gram can index (20 bits a symbol in a packed context).
pub const MAX_NGRAM_VOCAB: u32 = (1 << 20) - 3;
/// Longest history the packed context supports.
pub const MAX_HISTORY: usize = 6;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NgramParams {
    /// h: number of previous events in the context (1..=6).
    pub history: usize,
    /// k: at most this many likely next events are "expected".
    pub top_k: usize,
    /// An expected next event also needs at least this share of its context's successors.
    pub min_prob: f64,
    /// Contexts seen fewer times than this back off to a shorter one for the expected set.
    pub min_context_count: u32,
    /// Predict the session end like an event (a session cut short is a miss).
    pub end_event: bool,
}

impl Default for NgramParams {
    fn default() -> Self {
        Self {
            history: 2,
            top_k: 5,
            min_prob: 0.05,
            min_context_count: 5,
            end_event: true,
        }
    }
}

/// One context and the counts of what followed it, by symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Context {
    ctx: Vec<u32>,
    total: u32,
    next: Vec<(u32, u32)>,
    /// The expected set (derived from `next` and the parameters when the index is built).
    #[serde(skip)]
    expected: Vec<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NgramRepr {
    params: NgramParams,
    vocab_size: u32,
    contexts: Vec<Context>,
}

/// The fitted model. Serialises as its parameters and context table; the lookup index is
/// rebuilt on load.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "NgramRepr", into = "NgramRepr")]
pub struct NgramModel {
    params: NgramParams,
    vocab_size: u32,
    contexts: Vec<Context>,
    index: HashMap<u128, u32, PackHasher>,
}

/// A fast deterministic hasher for packed contexts (multiply–xorshift of the two halves).
#[derive(Debug, Clone, Copy, Default)]
struct PackHasher;

impl std::hash::BuildHasher for PackHasher {
    type Hasher = PackHash;
    fn build_hasher(&self) -> PackHash {
        PackHash(0)
    }
}

#[derive(Debug, Clone, Copy)]
struct PackHash(u64);

impl std::hash::Hasher for PackHash {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = (self.0 ^ v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ ((v >> 64) as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    }
}

/// What the model thinks of one sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct NgramScore {
    /// Predictions made (events, plus the end when `end_event`).
    pub steps: usize,
    /// Observed next events (or ends) outside the expected set.
    pub misses: usize,
    /// Distinct (context, next event) pairs among the misses: a run of the same surprising
    /// transition counts once.
    pub distinct_misses: usize,
    /// Smallest interpolated probability of an observed step, and where: an event index, or
    /// `len` (one past the last event) for the end of the session.
    pub min_prob: f64,
    pub worst: Option<usize>,
    /// Mean of −ln p over the steps.
    pub mean_surprise: f64,
}

impl From<NgramRepr> for NgramModel {
    fn from(r: NgramRepr) -> Self {
        let mut m = NgramModel {
            params: sanitize(r.params),
            vocab_size: r.vocab_size.min(MAX_NGRAM_VOCAB),
            contexts: r.contexts,
            index: HashMap::default(),
        };
        for c in &mut m.contexts {
            c.next.sort_unstable();
            c.next.dedup_by_key(|e| e.0);
        }
        m.rebuild_index();
        m
    }
}

impl From<NgramModel> for NgramRepr {
    fn from(m: NgramModel) -> Self {
        NgramRepr {
            params: m.params,
            vocab_size: m.vocab_size,
            contexts: m.contexts,
        }
    }
}

fn sanitize(mut p: NgramParams) -> NgramParams {
    p.history = p.history.clamp(1, MAX_HISTORY);
    p.top_k = p.top_k.max(1);
    p.min_prob = if p.min_prob.is_finite() {
        p.min_prob.clamp(0.0, 1.0)
    } else {
        0.0
    };
    p.min_context_count = p.min_context_count.max(1);
    p
}

impl NgramModel {
    /// Fits on id sequences; ids `>= vocab_size` are unknown events.
    pub fn fit<S: AsRef<[u32]>>(sequences: &[S], vocab_size: u32, params: &NgramParams) -> Self {
        let params = sanitize(params.clone());
        let vocab_size = vocab_size.min(MAX_NGRAM_VOCAB);
        let mut table: HashMap<u128, (Vec<u32>, HashMap<u32, u32>)> = HashMap::new();
        let mut m = NgramModel {
            params,
            vocab_size,
            contexts: Vec::new(),
            index: HashMap::default(),
        };
        let mut padded = Vec::new();
        for seq in sequences {
            m.pad(seq.as_ref(), &mut padded);
            let h = m.params.history;
            let end = m.targets_end(&padded);
            for i in h..end {
                let target = padded[i];
                for order in 0..=h {
                    let ctx = &padded[i - order..i];
                    let e = table
                        .entry(pack(ctx))
                        .or_insert_with(|| (ctx.to_vec(), HashMap::new()));
                    let c = e.1.entry(target).or_insert(0);
                    *c = c.saturating_add(1);
                }
            }
        }
        let mut contexts: Vec<(u128, Context)> = table
            .into_iter()
            .map(|(k, (ctx, next))| {
                let mut next: Vec<(u32, u32)> = next.into_iter().collect();
                next.sort_unstable();
                let total = next.iter().fold(0u32, |t, &(_, c)| t.saturating_add(c));
                let expected = Vec::new();
                (
                    k,
                    Context {
                        ctx,
                        total,
                        next,
                        expected,
                    },
                )
            })
            .collect();
        contexts.sort_unstable_by_key(|a| a.0);
        m.contexts = contexts.into_iter().map(|(_, c)| c).collect();
        m.rebuild_index();
        m
    }

    pub fn params(&self) -> &NgramParams {
        &self.params
    }

    /// Number of distinct contexts (all orders).
    pub fn n_contexts(&self) -> usize {
        self.contexts.len()
    }

    fn unknown(&self) -> u32 {
        self.vocab_size
    }

    fn boundary(&self) -> u32 {
        self.vocab_size + 1
    }

    fn n_symbols(&self) -> f64 {
        self.vocab_size as f64 + 2.0
    }

    fn rebuild_index(&mut self) {
        let (k, floor) = (self.params.top_k, self.params.min_prob);
        for c in &mut self.contexts {
            let mut by_count: Vec<(u32, u32)> = c.next.clone();
            by_count.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            c.expected = by_count
                .iter()
                .take(k)
                .take_while(|&&(_, n)| n as f64 >= floor * c.total as f64)
                .map(|&(s, _)| s)
                .collect();
        }
        self.index = self
            .contexts
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ctx.len() <= MAX_HISTORY)
            .map(|(i, c)| (pack(&c.ctx), i as u32))
            .collect();
    }

    /// `[boundary; h] ++ seq (unknown-mapped) ++ [boundary]`.
    fn pad(&self, seq: &[u32], out: &mut Vec<u32>) {
        out.clear();
        out.extend(std::iter::repeat_n(self.boundary(), self.params.history));
        let unk = self.unknown();
        out.extend(
            seq.iter()
                .map(|&e| if e >= self.vocab_size { unk } else { e }),
        );
        out.push(self.boundary());
    }

    /// One past the last target position in a padded sequence.
    fn targets_end(&self, padded: &[u32]) -> usize {
        if self.params.end_event {
            padded.len()
        } else {
            padded.len() - 1
        }
    }

    fn lookup(&self, ctx: &[u32]) -> Option<&Context> {
        self.index
            .get(&pack(ctx))
            .and_then(|&i| self.contexts.get(i as usize))
            .filter(|c| c.ctx == ctx)
    }

    /// Scores a sequence of ids. Total: any input, including empty, gives a score.
    pub fn score(&self, seq: &[u32]) -> NgramScore {
        let mut padded = Vec::with_capacity(seq.len() + self.params.history + 1);
        self.pad(seq, &mut padded);
        let h = self.params.history;
        let end = self.targets_end(&padded);
        let mut out = NgramScore {
            steps: 0,
            misses: 0,
            distinct_misses: 0,
            min_prob: 1.0,
            worst: None,
            mean_surprise: 0.0,
        };
        let mut surprise_sum = 0.0;
        let mut seen: std::collections::HashSet<(u128, u32), PackHasher> = Default::default();
        for i in h..end {
            let target = padded[i];
            let (p, expected) = self.step(&padded[i - h..i], target);
            out.steps += 1;
            if !expected {
                out.misses += 1;
                let k = (pack(&padded[i - h..i]), target);
                if seen.len() < 4096 {
                    seen.insert(k);
                }
            }
            surprise_sum += -p.ln();
            if out.worst.is_none() || p < out.min_prob {
                out.min_prob = p;
                out.worst = Some(i - h);
            }
        }
        out.distinct_misses = seen.len();
        if out.steps > 0 {
            out.mean_surprise = surprise_sum / out.steps as f64;
        }
        out
    }

    /// Interpolated probability of `target` after `history` (its last `h` symbols) and
    /// whether it is in the expected set.
    fn step(&self, history: &[u32], target: u32) -> (f64, bool) {
        let h = history.len();
        let mut p = 1.0 / self.n_symbols();
        let mut expected_from: Option<&Context> = None;
        for order in 0..=h {
            let Some(c) = self.lookup(&history[h - order..]) else {
                break;
            };
            let count = c
                .next
                .binary_search_by_key(&target, |&(s, _)| s)
                .map_or(0, |i| c.next[i].1) as f64;
            let types = c.next.len() as f64;
            let total = c.total as f64;
            p = (count + types * p) / (total + types);
            if c.total >= self.params.min_context_count || order == 0 {
                expected_from = Some(c);
            }
        }
        let expected = expected_from.is_some_and(|c| c.expected.contains(&target));
        (p.clamp(f64::MIN_POSITIVE, 1.0), expected)
    }
}

/// Packs a context of at most [`MAX_HISTORY`] symbols (< 2^20 each) with its length.
fn pack(ctx: &[u32]) -> u128 {
    let mut k = (ctx.len() as u128) << 120;
    for (i, &s) in ctx.iter().take(MAX_HISTORY).enumerate() {
        k |= ((s & 0xF_FFFF) as u128) << (20 * i);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal_corpus() -> Vec<Vec<u32>> {
        // open, read, read, write, close — with a little variety in the middle.
        let mut v = Vec::new();
        for i in 0..200 {
            if i % 4 == 0 {
                v.push(vec![0, 1, 1, 2, 3]);
            } else {
                v.push(vec![0, 1, 2, 3]);
            }
        }
        v
    }

    fn params() -> NgramParams {
        NgramParams {
            history: 2,
            top_k: 2,
            min_prob: 0.01,
            min_context_count: 3,
            end_event: true,
        }
    }

    #[test]
    fn normal_sequences_have_no_misses() {
        let m = NgramModel::fit(&normal_corpus(), 4, &params());
        for s in [vec![0, 1, 2, 3], vec![0, 1, 1, 2, 3]] {
            let r = m.score(&s);
            assert_eq!(r.misses, 0, "{s:?}: {r:?}");
            assert_eq!(r.steps, s.len() + 1);
        }
    }

    #[test]
    fn missing_step_swapped_steps_cut_short_and_unknown_are_misses() {
        let m = NgramModel::fit(&normal_corpus(), 4, &params());
        // Missing step: no write.
        let r = m.score(&[0, 1, 3]);
        assert!(r.misses >= 1, "{r:?}");
        assert_eq!(r.worst, Some(2));
        // Swapped steps.
        let r = m.score(&[0, 2, 1, 3]);
        assert!(r.misses >= 1, "{r:?}");
        assert_eq!(r.worst, Some(1));
        // Cut short: the end comes after `read`.
        let r = m.score(&[0, 1]);
        assert_eq!(r.misses, 1, "{r:?}");
        assert_eq!(r.worst, Some(2));
        // Unknown event id.
        let r = m.score(&[0, 1, 99, 2, 3]);
        assert!(r.misses >= 1);
        assert_eq!(r.worst, Some(2));
        let normal = m.score(&[0, 1, 2, 3]);
        assert!(r.min_prob < normal.min_prob);
    }

    #[test]
    fn without_end_event_a_cut_session_is_not_a_miss() {
        let p = NgramParams {
            end_event: false,
            ..params()
        };
        let m = NgramModel::fit(&normal_corpus(), 4, &p);
        assert_eq!(m.score(&[0, 1]).misses, 0);
    }

    #[test]
    fn a_rare_recurring_anomaly_stays_a_miss_under_contamination() {
        let mut corpus = normal_corpus();
        for _ in 0..3 {
            corpus.push(vec![0, 1, 3]); // 1.5 % of the training sessions skip the write
        }
        let p = NgramParams {
            min_prob: 0.05,
            ..params()
        };
        let m = NgramModel::fit(&corpus, 4, &p);
        assert!(m.score(&[0, 1, 3]).misses >= 1);
        assert_eq!(m.score(&[0, 1, 2, 3]).misses, 0);
    }

    #[test]
    fn serde_round_trip_scores_the_same() {
        let m = NgramModel::fit(&normal_corpus(), 4, &params());
        let json = serde_json::to_string(&m).unwrap();
        let back: NgramModel = serde_json::from_str(&json).unwrap();
        for s in [vec![0, 1, 3], vec![], vec![7, 7, 7]] {
            assert_eq!(m.score(&s), back.score(&s));
        }
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn hostile_input_never_panics() {
        let empty: Vec<Vec<u32>> = Vec::new();
        let m = NgramModel::fit(&empty, 0, &params());
        let r = m.score(&[]);
        assert_eq!(r.steps, 1);
        assert!(r.min_prob > 0.0 && r.min_prob <= 1.0);
        m.score(&[u32::MAX, 0, 5]);
        let m = NgramModel::fit(
            &[vec![], vec![u32::MAX; 3]],
            u32::MAX,
            &NgramParams {
                history: 100,
                top_k: 0,
                min_prob: f64::NAN,
                min_context_count: 0,
                end_event: true,
            },
        );
        assert_eq!(m.params().history, MAX_HISTORY);
        let long: Vec<u32> = (0..100_000).map(|i| i % 7).collect();
        let r = m.score(&long);
        assert_eq!(r.steps, long.len() + 1);
        assert!(r.mean_surprise.is_finite());
    }
}
