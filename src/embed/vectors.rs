//! Word vectors and message vectors, stored in the finalfusion format.
//!
//! A message vector is the mean of its known tokens' vectors, each weighted by its inverse
//! document frequency on the training messages (`ln((N+1)/(df+1)) + 1`), so that a rare word
//! such as `panic` is not drowned by the boilerplate around it. Unseen tokens are left out
//! of the mean rather than counted as zeros (the original counts them as zeros, which pulls
//! every message with a new word toward the origin); their novelty is measured separately by
//! the rarity detector. A message with no known token gets the zero vector.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use finalfusion::io::{ReadEmbeddings, WriteEmbeddings};
use finalfusion::norms::NdNorms;
use finalfusion::prelude::Embeddings;
use finalfusion::storage::{NdArray, StorageView};
use finalfusion::vocab::{SimpleVocab, Vocab};

/// Trained word vectors with per-word IDF weights.
#[derive(Debug, Clone)]
pub struct WordVectors {
    dim: usize,
    index: HashMap<String, u32>,
    words: Vec<String>,
    /// Raw (not normalised) vectors, row-major.
    matrix: Vec<f32>,
    /// IDF weight per word, same order as `words`.
    idf: Vec<f32>,
}

/// Errors reading or writing vectors.
#[derive(Debug, thiserror::Error)]
pub enum VectorsError {
    #[error("cannot read word vectors {path}: {source}")]
    Read {
        path: String,
        source: finalfusion::error::Error,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write word vectors {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("word vectors {path} are inconsistent: {what}")]
    Inconsistent { path: String, what: String },
}

impl WordVectors {
    pub fn new(dim: usize, words: Vec<String>, matrix: Vec<f32>, idf: Vec<f32>) -> Self {
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        Self {
            dim,
            index,
            words,
            matrix,
            idf,
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The vector of `word`, if it was in the training vocabulary.
    pub fn get(&self, word: &str) -> Option<&[f32]> {
        self.index
            .get(word)
            .map(|&i| &self.matrix[i as usize * self.dim..(i as usize + 1) * self.dim])
    }

    /// IDF-weighted mean of the known tokens' vectors, written into `out` (length `dim`).
    pub fn message_vector_into<S: AsRef<str>>(&self, tokens: &[S], out: &mut [f32]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        let mut total = 0f32;
        for t in tokens {
            if let Some(&i) = self.index.get(t.as_ref()) {
                let w = self.idf[i as usize];
                let row = &self.matrix[i as usize * self.dim..(i as usize + 1) * self.dim];
                out.iter_mut().zip(row).for_each(|(o, r)| *o += w * r);
                total += w;
            }
        }
        if total > 0.0 {
            out.iter_mut().for_each(|o| *o /= total);
        }
    }

    pub fn message_vector<S: AsRef<str>>(&self, tokens: &[S]) -> Vec<f32> {
        let mut v = vec![0f32; self.dim];
        self.message_vector_into(tokens, &mut v);
        v
    }

    /// Writes `path` (finalfusion) plus `path.idf` (one weight per line), each atomically.
    pub fn save(&self, path: &Path) -> Result<(), VectorsError> {
        let err = |source| VectorsError::Write {
            path: path.display().to_string(),
            source,
        };
        let n = self.words.len();
        let mut unit = self.matrix.clone();
        let mut norms = Vec::with_capacity(n);
        for row in unit.chunks_exact_mut(self.dim.max(1)) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
            norms.push(norm);
        }
        let storage = ndarray015::Array2::from_shape_vec((n, self.dim), unit)
            .map_err(|e| err(std::io::Error::other(e.to_string())))?;
        let embeddings = Embeddings::new(
            None,
            SimpleVocab::new(self.words.clone()),
            NdArray::new(storage),
            NdNorms::new(ndarray015::Array1::from(norms)),
        );
        crate::durable::write_atomically(path, |w| {
            embeddings
                .write_embeddings(w)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map_err(err)?;
        let idf_path = path.with_extension("idf");
        crate::durable::write_atomically(&idf_path, |w| {
            for x in &self.idf {
                writeln!(w, "{x}")?;
            }
            Ok(())
        })
        .map_err(err)
    }

    /// Reads what [`WordVectors::save`] wrote.
    pub fn load(path: &Path) -> Result<Self, VectorsError> {
        let p = path.display().to_string();
        let file = File::open(path).map_err(|source| VectorsError::Io {
            path: p.clone(),
            source,
        })?;
        let emb: Embeddings<SimpleVocab, NdArray> =
            Embeddings::read_embeddings(&mut BufReader::new(file)).map_err(|source| {
                VectorsError::Read {
                    path: p.clone(),
                    source,
                }
            })?;
        let words: Vec<String> = emb.vocab().words().to_vec();
        let dim = emb.dims();
        let norms = emb
            .norms()
            .map(|n| n.to_vec())
            .unwrap_or_else(|| vec![1.0; words.len()]);
        let mut matrix = Vec::with_capacity(words.len() * dim);
        for (i, row) in emb.storage().view().outer_iter().enumerate() {
            let norm = norms.get(i).copied().unwrap_or(1.0);
            matrix.extend(row.iter().map(|x| x * norm));
        }
        let idf_text = std::fs::read_to_string(path.with_extension("idf")).map_err(|source| {
            VectorsError::Io {
                path: p.clone(),
                source,
            }
        })?;
        let idf: Vec<f32> = idf_text
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if idf.len() != words.len() {
            return Err(VectorsError::Inconsistent {
                path: p,
                what: format!("{} words but {} idf weights", words.len(), idf.len()),
            });
        }
        Ok(Self::new(dim, words, matrix, idf))
    }
}
