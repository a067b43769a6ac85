//! [`SessionModel`]: the vocabulary, both session detectors, their calibration and the
//! decision threshold, as one value you `fit`, `score`, `save` and `load`.
//!
//! Scores are calibrated on the training sessions themselves (labels are never seen):
//!
//! 1. each detector's raw score `r` becomes `r / (r + q)`, where `q` is that detector's raw
//!    score at the contamination boundary of the training sessions (the value with about
//!    `contamination · n` training sessions above it), so 0.5 means "as strange as the
//!    training session at the boundary" for both detectors;
//! 2. the two calibrated scores are combined ([`Combine`]);
//! 3. the combined score's own boundary is the threshold, and the final score is a monotone
//!    map of the combined one that puts the threshold at 0.5. A session is an anomaly when its
//!    score is above 0.5, so about `contamination` of the training sessions would be flagged
//!    (identical sessions stay together, on the side that gets the share nearer to it).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::counts::{CountDetector, CountParams};
use super::ngram::{NgramModel, NgramParams, MAX_NGRAM_VOCAB};
use super::SessionError;

/// How the two calibrated detector scores become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// The larger of the two: a session is as anomalous as its most anomalous aspect.
    Max,
    /// Their weighted mean: `w·sequence + (1 − w)·counts`, `w` = `sequence_weight`.
    Mean,
    /// The next-event model only.
    Sequence,
    /// The count-vector detector only.
    Counts,
}

/// How the next-event model's verdict on a session becomes one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceSignal {
    /// Number of observed next events outside the expected set (DeepLog's rule).
    Misses,
    /// −ln of the smallest probability of an observed next event.
    MinProb,
    /// Misses, ties broken by the smallest probability: `misses + s / (1 + s)`, `s = −ln p`.
    MissesThenProb,
    /// Distinct missed transitions (a run of the same surprising step counts once), ties
    /// broken by the smallest probability.
    DistinctMissesThenProb,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionParams {
    /// Expected share of anomalous sessions in the training data; sets the threshold.
    pub contamination: f64,
    pub seed: u64,
    pub combine: Combine,
    /// Weight of the next-event score in [`Combine::Mean`] (0..=1).
    pub sequence_weight: f64,
    pub sequence_signal: SequenceSignal,
    pub ngram: NgramParams,
    pub counts: CountParams,
    /// At most this many distinct templates get an id (most frequent first); the rest are
    /// unknown.
    pub max_vocab: usize,
    /// Only the first this many events of a session are modelled (bounds time per session).
    pub max_session_events: usize,
    /// Also flag every session whose count vector lies outside the PCA normal subspace by
    /// the Q-statistic (significance 0.001, [`CountDetector::q_limit`]), whatever the
    /// contamination: the share of such sessions is measured, not assumed.
    pub q_statistic: bool,
}

/// Default contamination, chosen by measurement (see the `session` module documentation):
/// session-level F1 on the HDFS sessions peaks at 0.02 in both split and self mode, because
/// only about half of the 4 % labeled anomalies differ from normal sessions at all.
pub const DEFAULT_CONTAMINATION: f64 = 0.02;

impl Default for SessionParams {
    fn default() -> Self {
        Self {
            contamination: DEFAULT_CONTAMINATION,
            seed: 42,
            combine: Combine::Mean,
            sequence_weight: 0.5,
            sequence_signal: SequenceSignal::MissesThenProb,
            ngram: NgramParams::default(),
            counts: CountParams::default(),
            max_vocab: 65_536,
            max_session_events: 100_000,
            q_statistic: true,
        }
    }
}

/// What the model said about one session, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionScore {
    /// In [0, 1]; above 0.5 is an anomaly.
    pub score: f64,
    pub is_anomaly: bool,
    /// Index of the most surprising event (for a session that ended unexpectedly, its last
    /// event, with `signals.unexpected_end`). `None` for an empty session.
    pub worst_event: Option<usize>,
    pub signals: SessionSignals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSignals {
    /// Calibrated next-event score in [0, 1] (0.5 = its own contamination boundary).
    pub sequence: f64,
    /// Calibrated count-vector score in [0, 1].
    pub counts: f64,
    /// Observed next events outside the model's expected set.
    pub next_event_misses: usize,
    /// Smallest probability the next-event model gave an observed step.
    pub min_next_prob: f64,
    /// The session's end was its least expected step.
    pub unexpected_end: bool,
    /// Events whose template was never seen in training.
    pub unknown_events: usize,
    pub n_events: usize,
    /// The session was longer than `max_session_events`; only its start was modelled.
    pub truncated: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
struct Vocab {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl From<Vec<String>> for Vocab {
    fn from(names: Vec<String>) -> Self {
        let mut ids = HashMap::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            ids.entry(n.clone()).or_insert(i as u32);
        }
        Vocab { names, ids }
    }
}

impl From<Vocab> for Vec<String> {
    fn from(v: Vocab) -> Self {
        v.names
    }
}

/// Stored as `f32` so that a saved and loaded model decides exactly like the fitted one
/// (serde_json does not parse every `f64` back exactly); the fitted model uses the same
/// rounded values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Calibration {
    /// Raw scores at the contamination boundary of the training sessions (> 0).
    sequence_q: f32,
    counts_q: f32,
    /// Combined-score threshold.
    threshold: f32,
    /// The count detector's Q-statistic limit, with `q_statistic`.
    #[serde(default)]
    counts_limit: Option<f32>,
}

/// The fitted session model (see the module documentation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionModel {
    params: SessionParams,
    vocab: Vocab,
    ngram: NgramModel,
    counts: CountDetector,
    calibration: Calibration,
    n_train: usize,
    train_flagged_rate: f64,
}

#[derive(Clone, Copy)]
struct Raw {
    sequence: f64,
    counts: f64,
    misses: usize,
    min_prob: f64,
    worst_seq: Option<usize>,
    worst_count_event: Option<usize>,
    unknown: usize,
    n_events: usize,
    truncated: bool,
}

impl SessionModel {
    /// Fits on the event templates of the training sessions (in any order; labels are not an
    /// input). Fails on no sessions or invalid parameters; any content is accepted.
    pub fn fit<S, E>(sessions: &[S], params: &SessionParams) -> Result<Self, SessionError>
    where
        S: AsRef<[E]>,
        E: AsRef<str>,
    {
        if sessions.is_empty() {
            return Err(SessionError::NoSessions);
        }
        if !params.contamination.is_finite() || !(0.0..=0.5).contains(&params.contamination) {
            return Err(SessionError::InvalidParams(format!(
                "contamination must be in [0, 0.5], got {}",
                params.contamination
            )));
        }
        if !params.sequence_weight.is_finite() || !(0.0..=1.0).contains(&params.sequence_weight) {
            return Err(SessionError::InvalidParams(format!(
                "sequence_weight must be in [0, 1], got {}",
                params.sequence_weight
            )));
        }
        let mut params = params.clone();
        params.max_session_events = params.max_session_events.max(1);
        params.max_vocab = params.max_vocab.clamp(1, MAX_NGRAM_VOCAB as usize);
        let cap = params.max_session_events;

        // Vocabulary: templates by number of occurrences, ties by text (deterministic).
        let mut freq: HashMap<&str, u64> = HashMap::new();
        for s in sessions {
            for e in s.as_ref().iter().take(cap) {
                *freq.entry(e.as_ref()).or_insert(0) += 1;
            }
        }
        let mut names: Vec<(&str, u64)> = freq.into_iter().collect();
        names.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        names.truncate(params.max_vocab);
        let vocab = Vocab::from(
            names
                .into_iter()
                .map(|(n, _)| n.to_string())
                .collect::<Vec<_>>(),
        );
        let vocab_size = vocab.names.len() as u32;

        let mut model = SessionModel {
            ngram: NgramModel::fit::<Vec<u32>>(&[], vocab_size, &params.ngram),
            counts: CountDetector::fit::<Vec<u32>>(&[], vocab_size, &params.counts, params.seed),
            params,
            vocab,
            calibration: Calibration {
                sequence_q: 1.0,
                counts_q: 1.0,
                threshold: 0.5,
                counts_limit: None,
            },
            n_train: sessions.len(),
            train_flagged_rate: 0.0,
        };
        let ids: Vec<Vec<u32>> = sessions.iter().map(|s| model.encode(s.as_ref())).collect();
        model.ngram = NgramModel::fit(&ids, vocab_size, &model.params.ngram);
        model.counts =
            CountDetector::fit(&ids, vocab_size, &model.params.counts, model.params.seed);

        let raws: Vec<Raw> = ids.iter().map(|s| model.raw(s, false)).collect();
        let c = model.params.contamination;
        let seq: Vec<f64> = raws.iter().map(|r| r.sequence).collect();
        let cnt: Vec<f64> = raws.iter().map(|r| r.counts).collect();
        model.calibration.sequence_q = to_f32_positive(boundary(&seq, c));
        model.calibration.counts_q = to_f32_positive(boundary(&cnt, c));
        let combined: Vec<f64> = raws.iter().map(|r| model.combine(r).0).collect();
        // Rounded up, so the training sessions at the boundary stay at or below it.
        let t = quantile(&combined, c);
        let mut t32 = t as f32;
        if (t32 as f64) < t {
            t32 = t32.next_up();
        }
        model.calibration.threshold = t32;
        if model.params.q_statistic {
            model.calibration.counts_limit = model.counts.q_limit().map(to_f32_positive);
        }
        model.train_flagged_rate = raws
            .into_iter()
            .filter(|r| model.finish(*r).is_anomaly)
            .count() as f64
            / ids.len() as f64;
        Ok(model)
    }

    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    pub fn n_train(&self) -> usize {
        self.n_train
    }

    /// Share of the training sessions above the threshold (about the contamination).
    pub fn train_flagged_rate(&self) -> f64 {
        self.train_flagged_rate
    }

    /// Number of known templates.
    pub fn vocab_size(&self) -> usize {
        self.vocab.names.len()
    }

    /// The id of a template (`vocab_size()` for an unknown one). Service mode can keep ids
    /// instead of strings in its open sessions.
    pub fn event_id(&self, template: &str) -> u32 {
        self.vocab
            .ids
            .get(template)
            .copied()
            .unwrap_or(self.vocab.names.len() as u32)
    }

    /// The ids of a session's templates (at most `max_session_events`).
    pub fn encode<E: AsRef<str>>(&self, events: &[E]) -> Vec<u32> {
        events
            .iter()
            .take(self.params.max_session_events)
            .map(|e| self.event_id(e.as_ref()))
            .collect()
    }

    /// Scores one session of templates. Total: any input gives a score.
    pub fn score<E: AsRef<str>>(&self, events: &[E]) -> SessionScore {
        let ids = self.encode(events);
        self.finish(self.raw(&ids, events.len() > self.params.max_session_events))
    }

    /// Scores one session of ids (from [`SessionModel::event_id`]).
    pub fn score_ids(&self, ids: &[u32]) -> SessionScore {
        let cap = self.params.max_session_events;
        let truncated = ids.len() > cap;
        self.finish(self.raw(&ids[..ids.len().min(cap)], truncated))
    }

    fn raw(&self, ids: &[u32], truncated: bool) -> Raw {
        let vs = self.vocab.names.len() as u32;
        let ng = self.ngram.score(ids);
        let s = -ng.min_prob.ln();
        let sequence = match self.params.sequence_signal {
            SequenceSignal::Misses => ng.misses as f64,
            SequenceSignal::MinProb => s,
            SequenceSignal::MissesThenProb => ng.misses as f64 + s / (1.0 + s),
            SequenceSignal::DistinctMissesThenProb => ng.distinct_misses as f64 + s / (1.0 + s),
        };
        let cs = self.counts.score(ids);
        let worst_count_event = cs
            .worst_dim
            .and_then(|d| ids.iter().position(|&e| self.counts.dim_of(e) == d));
        Raw {
            sequence: finite_nonneg(sequence),
            counts: finite_nonneg(cs.raw),
            misses: ng.misses,
            min_prob: ng.min_prob,
            worst_seq: ng.worst,
            worst_count_event,
            unknown: ids.iter().filter(|&&e| e >= vs).count(),
            n_events: ids.len(),
            truncated,
        }
    }

    /// (combined, calibrated sequence, calibrated counts).
    fn combine(&self, r: &Raw) -> (f64, f64, f64) {
        let s = calibrate(r.sequence, self.calibration.sequence_q as f64);
        let c = calibrate(r.counts, self.calibration.counts_q as f64);
        let combined = match self.params.combine {
            Combine::Max => s.max(c),
            Combine::Mean => {
                let w = self.params.sequence_weight;
                w * s + (1.0 - w) * c
            }
            Combine::Sequence => s,
            Combine::Counts => c,
        };
        (combined, s, c)
    }

    fn finish(&self, r: Raw) -> SessionScore {
        let (combined, s, c) = self.combine(&r);
        let t = self.calibration.threshold as f64;
        let score = if combined <= t {
            if t > 0.0 {
                0.5 * combined / t
            } else {
                0.0
            }
        } else {
            0.5 + 0.5 * (combined - t) / (1.0 - t).max(f64::MIN_POSITIVE)
        };
        // Outside the normal subspace by the Q-statistic: at least 0.5, rising with the
        // residual (r / (r + Q) is 0.5 at the limit).
        let beyond_q = self
            .calibration
            .counts_limit
            .map(|q| q as f64)
            .filter(|&q| r.counts > q)
            .map(|q| r.counts / (r.counts + q));
        let score = beyond_q.map_or(score, |b| score.max(b.max(0.5 + f64::EPSILON)));
        let unexpected_end = r.worst_seq == Some(r.n_events);
        let seq_worst = r.worst_seq.map(|w| w.min(r.n_events.saturating_sub(1)));
        let worst_event = if r.n_events == 0 {
            None
        } else if c > s && r.worst_count_event.is_some() {
            r.worst_count_event
        } else {
            seq_worst
        };
        SessionScore {
            score: score.clamp(0.0, 1.0),
            is_anomaly: combined > t || beyond_q.is_some(),
            worst_event,
            signals: SessionSignals {
                sequence: s,
                counts: c,
                next_event_misses: r.misses,
                min_next_prob: r.min_prob,
                unexpected_end,
                unknown_events: r.unknown,
                n_events: r.n_events,
                truncated: r.truncated,
            },
        }
    }

    /// The model as JSON.
    pub fn to_json(&self) -> Result<String, SessionError> {
        Ok(serde_json::to_string(self)?)
    }

    pub fn from_json(json: &str) -> Result<Self, SessionError> {
        Ok(serde_json::from_str(json)?)
    }

    pub fn save(&self, path: &Path) -> Result<(), SessionError> {
        std::fs::write(path, self.to_json()?).map_err(|source| SessionError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<Self, SessionError> {
        let text = std::fs::read_to_string(path).map_err(|source| SessionError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text)
    }
}

fn to_f32_positive(x: f64) -> f32 {
    let v = x as f32;
    if v.is_finite() && v > 0.0 {
        v
    } else if v > 0.0 {
        f32::MAX
    } else {
        f32::MIN_POSITIVE
    }
}

fn finite_nonneg(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, f64::MAX)
    }
}

/// `r / (r + q)`: 0.5 at the boundary `q`, monotone, in [0, 1).
fn calibrate(r: f64, q: f64) -> f64 {
    if r <= 0.0 {
        0.0
    } else {
        let v = r / (r + q);
        if v.is_finite() {
            v
        } else {
            1.0
        }
    }
}

/// The decision boundary for an expected share `c` of anomalies: the training value `t`
/// such that the number of training values strictly above `t` is closest to `c·n` (on a tie,
/// fewer above). With many equal scores this keeps a group of identical sessions together,
/// on whichever side gets the flagged share nearer to `c`.
fn quantile(values: &[f64], c: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    let target = c * n as f64;
    let mut best = (f64::INFINITY, v[n - 1]);
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && v[j] == v[i] {
            j += 1;
        }
        let above = (n - j) as f64;
        let d = (above - target).abs();
        // Ascending values: a later candidate has fewer above; prefer it on equal distance.
        if d <= best.0 {
            best = (d, v[i]);
        }
        i = j;
    }
    best.1
}

/// The calibration boundary of one detector: its quantile, or when that is 0 (most training
/// sessions score exactly 0) the smallest positive training score, so that only sessions at
/// least that strange reach 0.5.
fn boundary(values: &[f64], c: f64) -> f64 {
    let q = quantile(values, c);
    if q > 0.0 {
        return q;
    }
    values
        .iter()
        .copied()
        .filter(|&x| x > 0.0)
        .min_by(f64::total_cmp)
        .unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(n: usize, anomalies_every: usize) -> Vec<Vec<&'static str>> {
        (0..n)
            .map(|i| {
                if anomalies_every > 0 && i % anomalies_every == 3 {
                    vec!["open", "read", "error", "close"]
                } else if i % 3 == 0 {
                    vec!["open", "read", "read", "write", "close"]
                } else {
                    vec!["open", "read", "write", "close"]
                }
            })
            .collect()
    }

    #[test]
    fn flags_missing_swapped_unknown_and_cut_sessions_not_normal_ones() {
        let m = SessionModel::fit(&corpus(1000, 0), &SessionParams::default()).unwrap();
        for normal in [
            vec!["open", "read", "write", "close"],
            vec!["open", "read", "read", "write", "close"],
        ] {
            let s = m.score(&normal);
            assert!(!s.is_anomaly, "{normal:?}: {s:?}");
            assert!(s.score <= 0.5);
        }
        let s = m.score(&["open", "read", "close"]);
        assert!(s.is_anomaly && s.score > 0.5, "missing step: {s:?}");
        assert_eq!(s.worst_event, Some(2));
        let s = m.score(&["open", "write", "read", "close"]);
        assert!(s.is_anomaly, "swapped: {s:?}");
        assert_eq!(s.worst_event, Some(1));
        let s = m.score(&["open", "read", "kernel panic", "write", "close"]);
        assert!(s.is_anomaly, "unknown: {s:?}");
        assert_eq!(s.signals.unknown_events, 1);
        assert_eq!(s.worst_event, Some(2));
        let s = m.score(&["open", "read"]);
        assert!(s.is_anomaly, "cut short: {s:?}");
        assert!(s.signals.unexpected_end);
        assert_eq!(s.worst_event, Some(1));
    }

    #[test]
    fn contaminated_training_still_flags_the_recurring_anomaly() {
        // 1 % of the training sessions are anomalous; contamination 2 %.
        let train = corpus(2000, 100);
        let m = SessionModel::fit(&train, &SessionParams::default()).unwrap();
        assert!(m.score(&["open", "read", "error", "close"]).is_anomaly);
        assert!(!m.score(&["open", "read", "write", "close"]).is_anomaly);
        assert!(m.train_flagged_rate() <= 0.03);
    }

    #[test]
    fn threshold_follows_contamination_on_continuous_scores() {
        // Every training session distinct: the flagged share of training is ≈ contamination.
        let train: Vec<Vec<String>> = (0..1000)
            .map(|i| {
                (0..(i % 37 + 1))
                    .map(|j| format!("e{}", (i * 7 + j) % 23))
                    .collect()
            })
            .collect();
        for c in [0.01, 0.05, 0.2] {
            let p = SessionParams {
                contamination: c,
                ..Default::default()
            };
            let m = SessionModel::fit(&train, &p).unwrap();
            let flagged = train.iter().filter(|s| m.score(s).is_anomaly).count() as f64 / 1000.0;
            assert!((flagged - c).abs() <= c * 0.5, "c {c}: {flagged}");
            assert!((m.train_flagged_rate() - flagged).abs() < 1e-12);
        }
    }

    #[test]
    fn deterministic_and_round_trips() {
        let train = corpus(500, 50);
        let p = SessionParams {
            counts: CountParams {
                method: super::super::counts::CountMethod::IsolationForest,
                ..Default::default()
            },
            ..Default::default()
        };
        let a = SessionModel::fit(&train, &p).unwrap();
        let b = SessionModel::fit(&train, &p).unwrap();
        let ja = a.to_json().unwrap();
        assert_eq!(ja, b.to_json().unwrap());
        let back = SessionModel::from_json(&ja).unwrap();
        for s in [vec!["open", "read"], vec!["x"], vec![]] {
            assert_eq!(a.score(&s), back.score(&s));
        }
        let dir = std::env::temp_dir().join(format!("lad_session_{}", std::process::id()));
        a.save(&dir).unwrap();
        let loaded = SessionModel::load(&dir).unwrap();
        std::fs::remove_file(&dir).ok();
        assert_eq!(loaded.score(&["open", "read"]), a.score(&["open", "read"]));
        assert!(SessionModel::load(Path::new("/nonexistent/x.json")).is_err());
        assert!(SessionModel::from_json("{").is_err());
    }

    #[test]
    fn hostile_input_never_panics() {
        let empty: Vec<Vec<String>> = Vec::new();
        assert!(matches!(
            SessionModel::fit(&empty, &SessionParams::default()),
            Err(SessionError::NoSessions)
        ));
        for c in [f64::NAN, -0.1, 0.9] {
            let p = SessionParams {
                contamination: c,
                ..Default::default()
            };
            assert!(SessionModel::fit(&corpus(10, 0), &p).is_err());
        }
        // Only empty sessions; then every kind of odd session.
        let m =
            SessionModel::fit(&[Vec::<String>::new(), vec![]], &SessionParams::default()).unwrap();
        let huge: Vec<String> = (0..200_000).map(|i| format!("t{}", i % 1000)).collect();
        for s in [vec![], vec!["".to_string()], huge.clone()] {
            let r = m.score(&s);
            assert!((0.0..=1.0).contains(&r.score));
        }
        let p = SessionParams {
            max_session_events: 1000,
            max_vocab: 0,
            ..Default::default()
        };
        let m = SessionModel::fit(&[huge.clone(), vec!["a".into()]], &p).unwrap();
        let r = m.score(&huge);
        assert!(r.signals.truncated && r.signals.n_events == 1000);
        assert!(m.score_ids(&[u32::MAX, 0, 1]).score.is_finite());
        assert!(m.score(&Vec::<String>::new()).worst_event.is_none());
    }
}
