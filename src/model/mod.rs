//! A trained model is a value: [`Model::fit`], [`Model::save`], [`Model::load`],
//! [`Model::score`].
//!
//! Fitting: tokenize → group identical templates (with counts) → word2vec on the messages →
//! IDF-weighted message vectors per template → LOF and autoencoder on the distinct vectors →
//! rarity from template counts → calibrators from the training scores. Scoring caches results
//! per template, because a host repeats a few hundred templates millions of times.

pub mod params;
pub mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::detect::autoencoder::Autoencoder;
use crate::detect::calibrate::Calibrator;
pub use crate::detect::ensemble::{Score, Signals};
use crate::detect::lof::Lof;
use crate::detect::rarity::{template_key, Rarity};
use crate::detect::severity::severity_damped;
use crate::embed::{word2vec, VectorsError, WordVectors};
pub use params::ModelParams;

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
    pub distinct_templates: usize,
    pub vocabulary: usize,
    pub lof_k: usize,
    pub ae_threshold: f64,
    pub train_seconds: f64,
    pub params: ModelParams,
}

#[derive(Serialize, Deserialize)]
struct Detectors {
    version: String,
    lof: Lof,
    ae: Autoencoder,
    rarity: Rarity,
    lof_cal: Calibrator,
    ae_cal: Calibrator,
}

/// A trained model. `Send + Sync`: share it in an `Arc` between scoring tasks.
pub struct Model {
    info: ModelInfo,
    vectors: WordVectors,
    det: Detectors,
    cache: Mutex<HashMap<u64, Signals>>,
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
    Embed,
    Lof,
    Autoencoder,
}

const CACHE_LIMIT: usize = 200_000;

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
        let started = std::time::Instant::now();
        if messages.is_empty() {
            return Err(ModelError::NoTrainingData);
        }
        let dim = params.embed.dim;
        if !crate::detect::knn::SUPPORTED_DIMS.contains(&dim) {
            return Err(ModelError::UnsupportedDim {
                dim,
                supported: crate::detect::knn::SUPPORTED_DIMS.to_vec(),
            });
        }
        // 1. Tokenize and group templates (first-appearance order keeps everything deterministic).
        let mut template_index: HashMap<u64, usize> = HashMap::new();
        let mut templates: Vec<(Vec<String>, u64)> = Vec::new();
        let mut message_template: Vec<u32> = Vec::with_capacity(messages.len());
        let mut buf = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            params.tokenizer.tokens_into(m.as_ref(), &mut buf);
            let key = template_key(&buf);
            let idx = *template_index.entry(key).or_insert_with(|| {
                templates.push((buf.clone(), 0));
                templates.len() - 1
            });
            templates[idx].1 += 1;
            message_template.push(idx as u32);
            if i % 8192 == 0 {
                progress(Stage::Tokenize, i as f32 / messages.len() as f32);
            }
        }
        progress(Stage::Tokenize, 1.0);
        let rarity = Rarity::fit(&templates);

        // 2. Vocabulary (first appearance order) and word2vec over the messages.
        let mut vocab: HashMap<&str, u32> = HashMap::new();
        let mut words: Vec<String> = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        for (tokens, c) in &templates {
            for t in tokens {
                let id = *vocab.entry(t.as_str()).or_insert_with(|| {
                    words.push(t.clone());
                    counts.push(0);
                    (words.len() - 1) as u32
                });
                counts[id as usize] += c;
            }
        }
        let template_ids: Vec<Vec<u32>> = templates
            .iter()
            .map(|(tokens, _)| tokens.iter().map(|t| vocab[t.as_str()]).collect())
            .collect();
        let sentences: Vec<Vec<u32>> = message_template
            .iter()
            .map(|&t| template_ids[t as usize].clone())
            .collect();
        drop(message_template);
        let matrix = word2vec::train(&params.embed, &sentences, &counts, params.seed, &mut |p| {
            progress(Stage::Embed, p)
        });
        drop(sentences);
        let n = rarity.messages() as f32;
        let keep: Vec<bool> = counts
            .iter()
            .map(|&c| c >= params.embed.min_count)
            .collect();
        let mut kept_words = Vec::new();
        let mut kept_matrix = Vec::new();
        let mut idf = Vec::new();
        for (i, w) in words.iter().enumerate() {
            if keep[i] {
                kept_words.push(w.clone());
                kept_matrix.extend_from_slice(&matrix[i * dim..(i + 1) * dim]);
                idf.push(((n + 1.0) / (rarity.document_frequency(w) as f32 + 1.0)).ln() + 1.0);
            }
        }
        let vectors = WordVectors::new(dim, kept_words, kept_matrix, idf);

        // 3. Template vectors, LOF and autoencoder on them.
        // LOF and the autoencoder see at most `max_distinct` templates (evenly spaced in order
        // of first appearance): enough to describe a host's message space, and it bounds
        // training time when masking leaves many distinct messages. Rarity saw them all.
        let stride = templates.len().div_ceil(params.max_distinct.max(1)).max(1);
        let sample: Vec<&(Vec<String>, u64)> = templates.iter().step_by(stride).collect();
        let mut tvecs = Vec::with_capacity(sample.len() * dim);
        for (tokens, _) in &sample {
            tvecs.extend(vectors.message_vector(tokens));
        }
        let weights: Vec<f64> = sample.iter().map(|t| t.1 as f64).collect();
        progress(Stage::Lof, 0.0);
        let lof = Lof::fit(params.lof, dim, &tvecs).ok_or(ModelError::UnsupportedDim {
            dim,
            supported: crate::detect::knn::SUPPORTED_DIMS.to_vec(),
        })?;
        let lof_train: Vec<f64> = tvecs
            .chunks_exact(dim)
            .map(|v| lof.score_training(v))
            .collect();
        progress(Stage::Lof, 1.0);
        progress(Stage::Autoencoder, 0.0);
        let ae = Autoencoder::fit(&params.ae, dim, &tvecs, &weights, params.seed);
        let ae_train: Vec<f64> = tvecs.chunks_exact(dim).map(|v| ae.error(v)).collect();
        progress(Stage::Autoencoder, 1.0);
        let tail = params.ensemble.calibration_tail;
        let lof_cal = Calibrator::fit(&lof_train, &weights, tail);
        let ae_cal = Calibrator::fit(&ae_train, &weights, tail);

        let version = model_version(params, &templates);
        let info = ModelInfo {
            format: store::FORMAT_NAME.into(),
            format_version: store::FORMAT_VERSION,
            version: version.clone(),
            trained_at: Utc::now(),
            training_messages: rarity.messages(),
            distinct_templates: templates.len(),
            vocabulary: vectors.len(),
            lof_k: lof.k(),
            ae_threshold: ae.threshold(),
            train_seconds: started.elapsed().as_secs_f64(),
            params: params.clone(),
        };
        let det = Detectors {
            version,
            lof,
            ae,
            rarity,
            lof_cal,
            ae_cal,
        };
        Ok(Self {
            info,
            vectors,
            det,
            cache: Mutex::new(HashMap::new()),
        })
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

    pub fn threshold(&self) -> f64 {
        self.info.params.threshold
    }

    /// Scores messages. Never fails: any string (empty, no letters, huge) gets a score.
    pub fn score<S: AsRef<str>>(&self, messages: &[S]) -> Vec<Score> {
        let mut tokens = Vec::new();
        messages
            .iter()
            .map(|m| self.score_with(m.as_ref(), &mut tokens))
            .collect()
    }

    /// Scores one message.
    pub fn score_one(&self, message: &str) -> Score {
        self.score_with(message, &mut Vec::new())
    }

    fn score_with(&self, message: &str, tokens: &mut Vec<String>) -> Score {
        self.info.params.tokenizer.tokens_into(message, tokens);
        let key = template_key(tokens);
        let cached = self.cache.lock().ok().and_then(|c| c.get(&key).copied());
        let signals = match cached {
            Some(s) => s,
            None => {
                let s = self.signals(tokens);
                if let Ok(mut c) = self.cache.lock() {
                    if c.len() >= CACHE_LIMIT {
                        c.clear();
                    }
                    c.insert(key, s);
                }
                s
            }
        };
        let p = &self.info.params;
        p.ensemble
            .combine(&signals, p.threshold, self.det.ae.threshold())
    }

    fn signals(&self, tokens: &[String]) -> Signals {
        let v = self.vectors.message_vector(tokens);
        let lof = self.det.lof.score(&v);
        let ae_error = self.det.ae.error(&v);
        Signals {
            rarity: self.det.rarity.score(tokens),
            lof,
            lof_calibrated: self.det.lof_cal.calibrate(lof),
            ae_error,
            ae_calibrated: self.det.ae_cal.calibrate(ae_error),
            severity: severity_damped(tokens, self.info.params.ensemble.user_error_damping),
        }
    }

    /// Saves into `dir` (created if missing); see [`store`] for the layout and atomicity.
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        let werr = |source| ModelError::Write {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(werr)?;
        self.vectors.save(&dir.join("vectors.fifu"))?;
        store::write_atomically(&dir.join("detectors.json"), |w| {
            serde_json::to_writer(w, &self.det).map_err(std::io::Error::other)
        })
        .map_err(werr)?;
        store::write_atomically(&dir.join("manifest.json"), |w| {
            serde_json::to_writer_pretty(w, &self.info).map_err(std::io::Error::other)
        })
        .map_err(werr)
    }

    /// Loads a model saved by [`Model::save`]. A missing, corrupt, half-written or
    /// other-format model is an error naming the directory, never a panic.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let corrupt = |what: String| ModelError::Corrupt {
            path: dir.to_path_buf(),
            what,
        };
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|source| ModelError::Read {
                path: dir.join(name),
                source,
            })
        };
        let manifest: serde_json::Value = serde_json::from_slice(&read("manifest.json")?)
            .map_err(|e| corrupt(format!("manifest.json: {e}")))?;
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
        let info: ModelInfo =
            serde_json::from_value(manifest).map_err(|e| corrupt(format!("manifest.json: {e}")))?;
        let mut det: Detectors = serde_json::from_slice(&read("detectors.json")?)
            .map_err(|e| corrupt(format!("detectors.json: {e}")))?;
        if det.version != info.version {
            return Err(corrupt(format!(
                "detectors.json belongs to model {}, manifest to {}",
                det.version, info.version
            )));
        }
        let vectors = WordVectors::load(&dir.join("vectors.fifu"))?;
        if vectors.dim() != info.params.embed.dim || !det.lof.rebuild_index() {
            return Err(corrupt(format!(
                "vectors have {} dimensions, expected {}",
                vectors.dim(),
                info.params.embed.dim
            )));
        }
        Ok(Self {
            info,
            vectors,
            det,
            cache: Mutex::new(HashMap::new()),
        })
    }
}

/// FNV-1a over the parameters and the training templates with counts.
fn model_version(params: &ModelParams, templates: &[(Vec<String>, u64)]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(serde_json::to_string(params).unwrap_or_default().as_bytes());
    for (tokens, count) in templates {
        feed(&template_key(tokens).to_le_bytes());
        feed(&count.to_le_bytes());
    }
    format!("m{}-{h:016x}", store::FORMAT_VERSION)
}
