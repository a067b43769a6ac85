//! A trained model is a value: [`Model::fit`], [`Model::save`], [`Model::load`],
//! [`Model::score`] (and [`Model::score_and_learn`] for messages that arrive after training).
//!
//! Fitting: tokenize → group identical token sequences (with counts) → mine message kinds
//! (templates with parameter slots) → word2vec and one vector per kind, if a vector detector
//! is configured → fit every configured detector. Scoring caches what depends only on the
//! tokens (template match, vector detectors, severity) per distinct token sequence, because
//! a host repeats a few hundred kinds of message millions of times; count-based evidence is
//! looked up per message, since it learns online.

pub mod entity;
pub mod feedback;
pub mod host;
pub mod params;
pub mod reason;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::detect::{self, DetectorKind, Evidence, Features, FitContext, Fitted};
use crate::embed::{word2vec, VectorsError, WordVectors};
use crate::ensemble::{Evidences, Severity};
pub use crate::ensemble::{Score, Signals};
use crate::features::{Context, TemplateMiner, TrainingSet, VectorSet};
use crate::profile::Event;
pub use host::{HostModel, HostScore};
pub use params::ModelParams;
pub use reason::Reason;

/// Errors fitting, saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("no training messages: a model needs at least one message to learn from")]
    NoTrainingData,
    #[error("embedding size {dim} is not supported: use one of {supported:?}")]
    UnsupportedDim { dim: usize, supported: Vec<usize> },
    #[error("cannot write model to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read model from {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model in {path} is corrupt ({what}); delete the directory and retrain")]
    Corrupt { path: PathBuf, what: String },
    #[error("model in {path} has format {found}, this lad reads {expected}; retrain the model")]
    FormatMismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error(transparent)]
    Vectors(#[from] VectorsError),
}

/// Facts about a trained model, saved in its manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    pub format: String,
    pub format_version: u32,
    /// Content-derived id of this trained model (same data + params + seed → same id).
    pub version: String,
    pub trained_at: DateTime<Utc>,
    pub training_messages: u64,
    /// Distinct masked token sequences in training.
    pub distinct_sequences: usize,
    /// Message kinds (templates) mined from them.
    pub templates: usize,
    /// Word vectors trained (0 when no vector detector is configured).
    pub vocabulary: usize,
    /// The detectors fitted, in order.
    pub detectors: Vec<DetectorKind>,
    pub train_seconds: f64,
    pub params: ModelParams,
}

#[derive(Serialize, Deserialize)]
struct Detectors {
    version: String,
    miner: TemplateMiner,
    fitted: Vec<Fitted>,
    /// One vector per template (row-major), when vectors exist; saved so that a loaded
    /// model scores bit for bit as the one that was saved.
    template_vectors: Vec<f32>,
    /// The training messages' Fisher statistics (`combine: fisher`).
    #[serde(default)]
    fisher: Option<crate::detect::calibrate::Calibrator>,
}

/// What scoring caches per distinct token sequence.
#[derive(Debug, Clone, Copy)]
struct Cached {
    template: Option<u32>,
    evidence: Evidences,
    severity: Severity,
    prior: f64,
}

/// A trained model. `Send + Sync`: share it in an `Arc` between scoring tasks.
pub struct Model {
    info: ModelInfo,
    vectors: Option<WordVectors>,
    det: Detectors,
    cache: Mutex<HashMap<u64, Cached, KeyHasher>>,
    /// The autoencoder's own threshold (for the original rule), looked up once.
    ae_threshold: f64,
    /// Users' verdicts, applied after the ensemble (kept outside the saved model).
    feedback: RwLock<feedback::FeedbackIndex>,
}

/// The cache key is already a 64-bit FNV hash of the tokens: hashing it again is wasted work.
#[derive(Default, Clone, Copy)]
struct KeyHasher;

impl std::hash::BuildHasher for KeyHasher {
    type Hasher = PassThrough;
    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

fn ae_threshold_of(fitted: &[Fitted]) -> f64 {
    fitted
        .iter()
        .find_map(Fitted::as_autoencoder)
        .map_or(f64::INFINITY, |ae| ae.threshold())
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("info", &self.info).finish()
    }
}

/// Training stages reported to a progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Tokenize,
    Templates,
    Embed,
    Detectors,
}

const CACHE_LIMIT: usize = 200_000;

/// A stable 64-bit hash of a token sequence (FNV-1a): the cache key of a message.
pub fn sequence_key<S: AsRef<str>>(tokens: &[S]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in tokens {
        for b in t.as_ref().bytes().chain([0x1f]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl Model {
    /// Fits a model on `messages`.
    pub fn fit<S: AsRef<str>>(messages: &[S], params: &ModelParams) -> Result<Self, ModelError> {
        Self::fit_with_progress(messages, params, &mut |_, _| {})
    }

    /// Fits a model, reporting progress in `[0, 1]` per stage.
    pub fn fit_with_progress<S: AsRef<str>>(
        messages: &[S],
        params: &ModelParams,
        progress: &mut dyn FnMut(Stage, f32),
    ) -> Result<Self, ModelError> {
        Self::fit_inner(messages, &[], params, progress)
    }

    /// Fits a model on structured events: their messages, plus their fields, times and
    /// source severities for the field detectors.
    pub fn fit_events(events: &[Event], params: &ModelParams) -> Result<Self, ModelError> {
        let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
        let contexts: Vec<Context<'_>> = events.iter().map(context_of).collect();
        Self::fit_inner(&messages, &contexts, params, &mut |_, _| {})
    }

    fn fit_inner<S: AsRef<str>>(
        messages: &[S],
        contexts: &[Context<'_>],
        params: &ModelParams,
        progress: &mut dyn FnMut(Stage, f32),
    ) -> Result<Self, ModelError> {
        let started = std::time::Instant::now();
        if messages.is_empty() {
            return Err(ModelError::NoTrainingData);
        }
        let kinds = params.fitted_kinds();
        let need_vectors = kinds.iter().any(|k| k.needs_vectors());
        let dim = params.embed.dim;
        if need_vectors && !crate::detect::knn::SUPPORTED_DIMS.contains(&dim) {
            return Err(ModelError::UnsupportedDim {
                dim,
                supported: crate::detect::knn::SUPPORTED_DIMS.to_vec(),
            });
        }

        // 1. Tokenize and group identical sequences (first-appearance order keeps every
        //    later step deterministic).
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut sequences: Vec<(Vec<String>, u64)> = Vec::new();
        let mut message_seq: Vec<u32> =
            Vec::with_capacity(if need_vectors { messages.len() } else { 0 });
        let mut buf = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            params.tokenizer.tokens_into(m.as_ref(), &mut buf);
            collapse_runs(&mut buf);
            let key = sequence_key(&buf);
            let idx = *index.entry(key).or_insert_with(|| {
                sequences.push((buf.clone(), 0));
                sequences.len() - 1
            });
            sequences[idx].1 += 1;
            if need_vectors {
                message_seq.push(idx as u32);
            }
            if i % 8192 == 0 {
                progress(Stage::Tokenize, i as f32 / messages.len() as f32);
            }
        }
        drop(index);
        progress(Stage::Tokenize, 1.0);
        let n_messages = messages.len() as u64;

        // 2. Vocabulary (first appearance order) with document frequencies, then templates.
        let mut vocab: HashMap<&str, u32> = HashMap::new();
        let mut words: Vec<&str> = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        let mut df: Vec<u64> = Vec::new();
        let mut seq_ids: Vec<Vec<u32>> = Vec::with_capacity(sequences.len());
        for (tokens, c) in &sequences {
            let ids: Vec<u32> = tokens
                .iter()
                .map(|t| {
                    *vocab.entry(t.as_str()).or_insert_with(|| {
                        words.push(t.as_str());
                        counts.push(0);
                        df.push(0);
                        (words.len() - 1) as u32
                    })
                })
                .collect();
            for &id in &ids {
                counts[id as usize] += c;
            }
            let mut uniq = ids.clone();
            uniq.sort_unstable();
            uniq.dedup();
            for id in uniq {
                df[id as usize] += c;
            }
            seq_ids.push(ids);
        }
        let weights =
            TemplateMiner::idf_weights(words.iter().copied().zip(df.iter().copied()), n_messages);
        progress(Stage::Templates, 0.0);
        let miner = TemplateMiner::fit(
            params.template,
            weights,
            sequences.iter().map(|(t, _)| t.as_slice()),
        );
        let seq_template: Vec<u32> = sequences
            .iter()
            .map(|(t, _)| miner.find(t).unwrap_or(0))
            .collect();
        progress(Stage::Templates, 1.0);

        // 3. Word vectors and one vector per template, only if a detector needs them.
        let mut template_vectors = Vec::new();
        let mut vector_set = None;
        let vectors = if need_vectors {
            let sentences: Vec<Vec<u32>> = message_seq
                .iter()
                .map(|&s| seq_ids[s as usize].clone())
                .collect();
            drop(message_seq);
            let matrix =
                word2vec::train(&params.embed, &sentences, &counts, params.seed, &mut |p| {
                    progress(Stage::Embed, p)
                });
            drop(sentences);
            let n = n_messages as f32;
            let mut kept_words = Vec::new();
            let mut kept_matrix = Vec::new();
            let mut idf = Vec::new();
            for (i, w) in words.iter().enumerate() {
                if counts[i] >= params.embed.min_count {
                    kept_words.push(w.to_string());
                    kept_matrix.extend_from_slice(&matrix[i * dim..(i + 1) * dim]);
                    idf.push(((n + 1.0) / (df[i] as f32 + 1.0)).ln() + 1.0);
                }
            }
            let wv = WordVectors::new(dim, kept_words, kept_matrix, idf);
            template_vectors = template_vectors_of(&miner, &wv);
            let mut tcount = vec![0u64; miner.len()];
            for ((_, c), &t) in sequences.iter().zip(&seq_template) {
                tcount[t as usize] += c;
            }
            let stride = miner.len().div_ceil(params.max_distinct.max(1)).max(1);
            let mut set = VectorSet {
                dim,
                rows: Vec::new(),
                weights: Vec::new(),
                templates: Vec::new(),
            };
            for t in (0..miner.len()).step_by(stride) {
                set.rows
                    .extend_from_slice(&template_vectors[t * dim..(t + 1) * dim]);
                set.weights.push(tcount[t] as f64);
                set.templates.push(t as u32);
            }
            vector_set = Some(set);
            Some(wv)
        } else {
            None
        };
        drop(seq_ids);

        // 4. Detectors.
        let ts = TrainingSet {
            sequences: &sequences,
            templates: &seq_template,
            miner: &miner,
            vectors: vector_set.as_ref(),
            messages: n_messages,
            contexts,
        };
        let ctx = FitContext {
            lof: params.lof,
            ae: &params.ae,
            iforest: &params.iforest,
            seed: params.seed,
        };
        let mut fitted = Vec::new();
        for (i, &k) in kinds.iter().enumerate() {
            progress(Stage::Detectors, i as f32 / kinds.len().max(1) as f32);
            match detect::fit(k, &ts, &ctx) {
                Some(f) => fitted.push(f),
                // Plain log lines have no fields or times: those detectors sit out.
                None if k.needs_context() => {}
                None => {
                    return Err(ModelError::UnsupportedDim {
                        dim,
                        supported: crate::detect::knn::SUPPORTED_DIMS.to_vec(),
                    })
                }
            }
        }
        let kinds: Vec<DetectorKind> = fitted.iter().map(|f| f.detector().kind()).collect();
        progress(Stage::Detectors, 1.0);

        let version = model_version(params, &sequences);
        let info = ModelInfo {
            format: store::FORMAT_NAME.into(),
            format_version: store::FORMAT_VERSION,
            version: version.clone(),
            trained_at: Utc::now(),
            training_messages: n_messages,
            distinct_sequences: sequences.len(),
            templates: miner.len(),
            vocabulary: vectors.as_ref().map_or(0, WordVectors::len),
            detectors: kinds,
            train_seconds: started.elapsed().as_secs_f64(),
            params: params.clone(),
        };
        Ok(Self {
            info,
            vectors,
            ae_threshold: ae_threshold_of(&fitted),
            det: Detectors {
                version,
                miner,
                fitted,
                template_vectors,
                fisher: None,
            },
            cache: Mutex::new(HashMap::with_hasher(KeyHasher)),
            feedback: RwLock::default(),
        }
        .with_fisher_calibration(messages, contexts))
    }

    /// With `combine: fisher`, scores every training message once and keeps the
    /// distribution of its Fisher statistic.
    fn with_fisher_calibration<S: AsRef<str>>(
        mut self,
        messages: &[S],
        contexts: &[Context<'_>],
    ) -> Self {
        let e = &self.info.params.ensemble;
        if e.combine != crate::ensemble::Combine::Fisher
            || e.rule != crate::ensemble::Rule::Calibrated
        {
            return self;
        }
        let mut tokens = Vec::new();
        let mut stats: HashMap<u64, (f64, u64)> = HashMap::new();
        let mut pairs: Vec<(f64, u64)> = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let ctx = contexts.get(i).copied().unwrap_or_default();
            if contexts.is_empty() {
                // Plain lines: the statistic depends only on the tokens.
                self.info
                    .params
                    .tokenizer
                    .tokens_into(m.as_ref(), &mut tokens);
                collapse_runs(&mut tokens);
                let key = sequence_key(&tokens);
                if let Some(s) = stats.get_mut(&key) {
                    s.1 += 1;
                    continue;
                }
                let sc = self.score_with(m.as_ref(), ctx, &mut tokens, false);
                stats.insert(key, (e.fisher_statistic(&sc.signals.evidence), 1));
            } else {
                let sc = self.score_with(m.as_ref(), ctx, &mut tokens, false);
                pairs.push((e.fisher_statistic(&sc.signals.evidence), 1));
            }
        }
        pairs.extend(stats.into_values());
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.det.fisher = Some(crate::detect::calibrate::Calibrator::fit_weighted(&pairs));
        self
    }

    /// Facts about this model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Content-derived id of this trained model; written as `lad_model_version`.
    pub fn version(&self) -> &str {
        &self.info.version
    }

    pub fn trained_at(&self) -> DateTime<Utc> {
        self.info.trained_at
    }

    /// The `anomaly_score` threshold.
    pub fn threshold(&self) -> f64 {
        self.info.params.threshold()
    }

    /// The template miner (message kinds), for reports and explanations.
    pub fn templates(&self) -> &TemplateMiner {
        &self.det.miner
    }

    /// Scores messages that were part of the training data (or that should not be
    /// remembered). Never fails: any string (empty, no letters, huge) gets a score.
    pub fn score<S: AsRef<str>>(&self, messages: &[S]) -> Vec<Score> {
        let mut tokens = Vec::new();
        messages
            .iter()
            .map(|m| self.score_with(m.as_ref(), Context::default(), &mut tokens, false))
            .collect()
    }

    /// Scores messages that arrived after training, in order, remembering each after it is
    /// scored (online novelty memory; off with `ModelParams::online = false`).
    pub fn score_and_learn<S: AsRef<str>>(&self, messages: &[S]) -> Vec<Score> {
        let learn = self.info.params.online;
        let mut tokens = Vec::new();
        messages
            .iter()
            .map(|m| self.score_with(m.as_ref(), Context::default(), &mut tokens, learn))
            .collect()
    }

    /// Scores one message (without learning).
    pub fn score_one(&self, message: &str) -> Score {
        self.score_with(message, Context::default(), &mut Vec::new(), false)
    }

    /// Scores one structured event; `learn` remembers it afterwards (for events newer than
    /// the model).
    pub fn score_event(&self, event: &Event, learn: bool) -> Score {
        let learn = learn && self.info.params.online;
        self.score_with(&event.message, context_of(event), &mut Vec::new(), learn)
    }

    fn score_with(
        &self,
        message: &str,
        context: Context<'_>,
        tokens: &mut Vec<String>,
        learn: bool,
    ) -> Score {
        let p = &self.info.params;
        p.tokenizer.tokens_into(message, tokens);
        collapse_runs(tokens);
        let key = sequence_key(tokens);
        let cached = self.cache.lock().ok().and_then(|c| c.get(&key).copied());
        let cached = match cached {
            Some(c) => c,
            None => {
                let c = self.static_part(tokens);
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() >= CACHE_LIMIT {
                        cache.clear();
                    }
                    cache.insert(key, c);
                }
                c
            }
        };
        let params: Vec<&str> = cached
            .template
            .map(|id| self.det.miner.values(id, tokens))
            .unwrap_or_default();
        let f = Features {
            tokens,
            template: cached.template,
            params: &params,
            vector: &[],
            context,
        };
        let mut evidence = cached.evidence;
        let mut template_count = None;
        for d in &self.det.fitted {
            let d = d.detector();
            if !d.cacheable() {
                let e = d.evidence(&f);
                if d.kind() == DetectorKind::Template {
                    template_count = Some(e.raw as u64);
                }
                evidence.set(d.kind(), e);
            }
        }
        let prior = match context.prior {
            Some(level) => cached
                .prior
                .max(p.ensemble.prior.text.of(source_class(level))),
            None => cached.prior,
        };
        let signals = Signals {
            novelty_p: 1.0,
            prior,
            severity: cached.severity,
            template_id: cached.template,
            template_count,
            training_messages: self.info.training_messages,
            evidence,
            feedback: None,
        };
        let mut score = p
            .ensemble
            .combine(signals, self.ae_threshold, self.det.fisher.as_ref());
        if let Some(v) = self.verdict_for(tokens, cached.template) {
            score = score.with_verdict(v, self.threshold());
        }
        if learn {
            for d in &self.det.fitted {
                d.detector().learn(&f);
            }
        }
        score
    }

    /// Everything that depends only on the tokens.
    fn static_part(&self, tokens: &[String]) -> Cached {
        let template = self.det.miner.find(tokens);
        let own;
        let vector: &[f32] = match (&self.vectors, template) {
            (Some(_), Some(id)) if !self.det.template_vectors.is_empty() => {
                let d = self.info.params.embed.dim;
                self.det
                    .template_vectors
                    .get(id as usize * d..(id as usize + 1) * d)
                    .unwrap_or(&[])
            }
            (Some(v), _) => {
                own = v.message_vector(tokens);
                &own
            }
            (None, _) => &[],
        };
        let f = Features {
            tokens,
            template,
            params: &[],
            vector,
            context: Context::default(),
        };
        let mut evidence = Evidences::default();
        for d in &self.det.fitted {
            let d = d.detector();
            if d.cacheable() {
                evidence.set(d.kind(), d.evidence(&f));
            }
        }
        let severity = Severity::of(tokens);
        Cached {
            template,
            evidence,
            severity,
            prior: self.info.params.ensemble.prior.ratio(&severity),
        }
    }

    fn verdict_for(&self, tokens: &[String], template: Option<u32>) -> Option<feedback::Verdict> {
        let index = self.feedback.read().ok()?;
        index.verdict(&self.det.miner, tokens, template)
    }

    /// Replaces the feedback this model applies (oldest first; the newest verdict on a kind
    /// wins). Takes effect for the next message scored, also on a shared model.
    pub fn set_feedback(&self, entries: &[feedback::FeedbackEntry]) {
        let mut index = feedback::FeedbackIndex::default();
        for e in entries {
            index.add(&self.det.miner, self.feedback_tokens(&e.message), e.verdict);
        }
        if let Ok(mut g) = self.feedback.write() {
            *g = index;
        }
    }

    /// Adds one verdict to the feedback this model applies, at once.
    pub fn add_feedback(&self, entry: &feedback::FeedbackEntry) {
        let tokens = self.feedback_tokens(&entry.message);
        if let Ok(mut g) = self.feedback.write() {
            g.add(&self.det.miner, tokens, entry.verdict);
        }
    }

    /// Pieces of feedback this model applies.
    pub fn feedback_len(&self) -> usize {
        self.feedback.read().map_or(0, |g| g.len())
    }

    fn feedback_tokens(&self, message: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        self.info.params.tokenizer.tokens_into(message, &mut tokens);
        collapse_runs(&mut tokens);
        tokens
    }

    /// Raw evidence of one detector on one message (for tests and explanations).
    pub fn evidence(&self, kind: DetectorKind, message: &str) -> Option<Evidence> {
        self.score_one(message).signals.evidence.get(kind)
    }

    /// Saves into `dir` (created if missing) as a new generation, switched to only once it
    /// is complete on disk; the previous generation is kept as the fallback. See [`store`].
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        self.save_generation(dir).map(|_| ())
    }

    /// [`Model::save`], returning the generation directory written.
    pub fn save_generation(&self, dir: &Path) -> Result<PathBuf, ModelError> {
        let werr = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ModelError::Write { path, source }
        };
        let mut staging = store::Staging::begin(dir).map_err(werr(dir))?;
        if let Some(v) = &self.vectors {
            v.save(&staging.file("vectors.fifu"))?;
            for f in ["vectors.fifu", "vectors.idf"] {
                staging.add(f).map_err(werr(&staging.file(f)))?;
            }
        }
        let det = staging.file("detectors.json");
        store::write_atomically(&det, |w| {
            serde_json::to_writer(w, &self.det).map_err(std::io::Error::other)
        })
        .map_err(werr(&det))?;
        staging.add("detectors.json").map_err(werr(&det))?;
        let mut manifest = serde_json::to_value(&self.info).map_err(|e| ModelError::Write {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        let files = serde_json::to_value(staging.files()).map_err(|e| ModelError::Write {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        if let Some(m) = manifest.as_object_mut() {
            m.insert("files".into(), files);
        }
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| ModelError::Write {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        staging.commit(&bytes).map_err(werr(dir))
    }

    /// Loads the model saved by [`Model::save`] in `dir`: the generation `CURRENT` names,
    /// or, when that one is damaged or missing, the newest generation that loads (with a
    /// warning). A missing, corrupt or other-format model is an error naming the directory,
    /// never a panic.
    ///
    /// Feedback given in file mode (`feedback.json` in `dir`, see [`feedback`]) is applied.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let (model, report) = Self::load_with_report(dir)?;
        for (gen, e) in &report.skipped {
            tracing::warn!(generation = %gen.display(), "model generation skipped: {e}; using {}", report.generation.display());
        }
        let entries = feedback::load_file(dir)?;
        if !entries.is_empty() {
            model.set_feedback(&entries);
        }
        Ok(model)
    }

    /// [`Model::load`], also saying which generation was loaded and which were skipped.
    pub fn load_with_report(dir: &Path) -> Result<(Self, LoadReport), ModelError> {
        let candidates = store::candidates(dir).map_err(|source| ModelError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        if candidates.is_empty() {
            return Err(ModelError::Read {
                path: dir.join(store::POINTER_FILE),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no saved model here (no CURRENT pointer, no generation directory)",
                ),
            });
        }
        let mut skipped = Vec::new();
        for gen in candidates {
            match Self::load_generation(&gen) {
                Ok(m) => {
                    return Ok((
                        m,
                        LoadReport {
                            generation: gen,
                            skipped,
                        },
                    ))
                }
                Err(e) => skipped.push((gen, e)),
            }
        }
        Err(skipped.swap_remove(0).1)
    }

    /// Loads one generation directory, checking every file against the manifest.
    fn load_generation(dir: &Path) -> Result<Self, ModelError> {
        let corrupt = |what: String| ModelError::Corrupt {
            path: dir.to_path_buf(),
            what,
        };
        let manifest_path = dir.join(store::MANIFEST_FILE);
        let bytes = std::fs::read(&manifest_path).map_err(|source| ModelError::Read {
            path: manifest_path,
            source,
        })?;
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("manifest.json: {e}")))?;
        let found = format!(
            "{} v{}",
            manifest
                .get("format")
                .and_then(|v| v.as_str())
                .unwrap_or("?"),
            manifest
                .get("format_version")
                .and_then(|v| v.as_u64())
                .unwrap_or(0)
        );
        let expected = format!("{} v{}", store::FORMAT_NAME, store::FORMAT_VERSION);
        if found != expected {
            return Err(ModelError::FormatMismatch {
                path: dir.to_path_buf(),
                found,
                expected,
            });
        }
        let files: BTreeMap<String, store::FileDigest> = manifest
            .as_object_mut()
            .and_then(|m| m.remove("files"))
            .ok_or_else(|| corrupt("manifest.json lists no files".into()))
            .and_then(|v| {
                serde_json::from_value(v).map_err(|e| corrupt(format!("manifest.json files: {e}")))
            })?;
        let info: ModelInfo =
            serde_json::from_value(manifest).map_err(|e| corrupt(format!("manifest.json: {e}")))?;
        let det_bytes = store::read_verified(dir, &files, "detectors.json").map_err(corrupt)?;
        let mut det: Detectors = serde_json::from_slice(&det_bytes)
            .map_err(|e| corrupt(format!("detectors.json: {e}")))?;
        drop(det_bytes);
        if det.version != info.version {
            return Err(corrupt(format!(
                "detectors.json belongs to model {}, manifest to {}",
                det.version, info.version
            )));
        }
        det.miner.rebuild_index();
        for f in &mut det.fitted {
            if !f.after_load() {
                return Err(corrupt("a detector's index cannot be rebuilt".into()));
            }
        }
        let need_vectors = det
            .fitted
            .iter()
            .any(|f| f.detector().kind().needs_vectors());
        let vectors = if need_vectors {
            for f in ["vectors.fifu", "vectors.idf"] {
                store::read_verified(dir, &files, f).map_err(corrupt)?;
            }
            let v = WordVectors::load(&dir.join("vectors.fifu"))?;
            if v.dim() != info.params.embed.dim
                || det.template_vectors.len() != det.miner.len() * v.dim()
            {
                return Err(corrupt(format!(
                    "vectors have {} dimensions, expected {}",
                    v.dim(),
                    info.params.embed.dim
                )));
            }
            Some(v)
        } else {
            None
        };
        Ok(Self {
            info,
            vectors,
            ae_threshold: ae_threshold_of(&det.fitted),
            det,
            cache: Mutex::new(HashMap::with_hasher(KeyHasher)),
            feedback: RwLock::default(),
        })
    }
}

/// Which generation [`Model::load_with_report`] loaded, and why others were passed over.
#[derive(Debug)]
pub struct LoadReport {
    /// The generation directory the model came from.
    pub generation: PathBuf,
    /// Generations tried first that failed (the pointer's, if damaged), with the reason.
    pub skipped: Vec<(PathBuf, ModelError)>,
}

/// The structured part of an event, as the detectors see it.
fn context_of(e: &Event) -> Context<'_> {
    Context {
        fields: &e.fields,
        time: e.timestamp,
        prior: e.prior,
    }
}

/// The severity class of a source's own severity in `[0, 1]` (Wazuh `rule.level / 15`:
/// 12–15 are Wazuh's "high importance" levels, 7–11 "medium", 4–6 "low").
fn source_class(level: f64) -> crate::ensemble::Class {
    use crate::ensemble::Class;
    if level >= 12.0 / 15.0 {
        Class::Fatal
    } else if level >= 7.0 / 15.0 {
        Class::Error
    } else if level >= 4.0 / 15.0 {
        Class::Warning
    } else {
        Class::Notice
    }
}

/// Collapses runs of the same token into one: `resolve an# an# an# an#` and `resolve an# an#`
/// (a list of 4 or of 2 similar items) are the same kind of message, whose templates would
/// otherwise differ in length.
pub fn collapse_runs(tokens: &mut Vec<String>) {
    tokens.dedup();
}

/// The vector of each template: the IDF-weighted mean of its constant tokens' vectors.
fn template_vectors_of(miner: &TemplateMiner, v: &WordVectors) -> Vec<f32> {
    let d = v.dim();
    let mut out = vec![0f32; miner.len() * d];
    for id in 0..miner.len() {
        if let Some(t) = miner.template(id as u32) {
            let consts: Vec<&str> = t.tokens.iter().filter_map(|x| x.as_deref()).collect();
            v.message_vector_into(&consts, &mut out[id * d..(id + 1) * d]);
        }
    }
    out
}

/// FNV-1a over the parameters and the training sequences with counts.
fn model_version(params: &ModelParams, sequences: &[(Vec<String>, u64)]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(serde_json::to_string(params).unwrap_or_default().as_bytes());
    for (tokens, count) in sequences {
        feed(&sequence_key(tokens).to_le_bytes());
        feed(&count.to_le_bytes());
    }
    format!("m{}-{h:016x}", store::FORMAT_VERSION)
}
