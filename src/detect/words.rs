//! Word rarity: the rarest word in the message.
//!
//! The raw score is the document frequency of the message's rarest word (in how many
//! training messages it occurs); the p-value is the share of training messages whose own
//! rarest word is at most that rare (mid-p). A word never seen in training scores the
//! Good–Turing estimate: half the share of training messages whose rarest word occurred in
//! only that one message. This catches a new word inside a message kind whose template
//! could absorb it (a wildcard slot) and words of a new kind before the kind has a count.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Detector, DetectorKind, Evidence, Features};
use crate::features::{TailTable, TrainingSet, Unseen};

/// Fitted document frequencies.
#[derive(Debug, Serialize, Deserialize)]
pub struct WordRarity {
    df: HashMap<String, u64>,
    /// Training messages by the document frequency of their rarest word.
    table: TailTable,
}

impl WordRarity {
    pub fn fit(ts: &TrainingSet<'_>) -> Self {
        let mut df: HashMap<String, u64> = HashMap::new();
        let mut uniq: Vec<&str> = Vec::new();
        for (tokens, n) in ts.sequences {
            uniq.clear();
            uniq.extend(tokens.iter().map(String::as_str));
            uniq.sort_unstable();
            uniq.dedup();
            for t in &uniq {
                match df.get_mut(*t) {
                    Some(c) => *c += n,
                    None => {
                        df.insert((*t).to_string(), *n);
                    }
                }
            }
        }
        let pairs: Vec<(u64, u64)> = ts
            .sequences
            .iter()
            .filter_map(|(tokens, n)| {
                let min = tokens.iter().filter_map(|t| df.get(t)).min()?;
                Some((*min, *n))
            })
            .collect();
        Self {
            table: TailTable::from_value_masses(pairs),
            df,
        }
    }

    /// Training messages containing `token`.
    pub fn document_frequency(&self, token: &str) -> u64 {
        self.df.get(token).copied().unwrap_or(0)
    }

    /// The rarest token and its document frequency.
    pub fn rarest<'a>(&self, tokens: &'a [String]) -> Option<(&'a str, u64)> {
        tokens
            .iter()
            .map(|t| (t.as_str(), self.document_frequency(t)))
            .min_by_key(|&(_, d)| d)
    }
}

impl Detector for WordRarity {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Words
    }

    fn evidence(&self, f: &Features<'_>) -> Evidence {
        match self.rarest(f.tokens) {
            None => Evidence { raw: 0.0, p: 1.0 },
            Some((_, 0)) => Evidence {
                raw: 0.0,
                p: self.table.p_unseen(Unseen::GoodTuring, 0, 0),
            },
            Some((_, d)) => Evidence {
                raw: d as f64,
                p: self.table.p_seen(d),
            },
        }
    }
}
