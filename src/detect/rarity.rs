//! Token and template rarity: how new a message's words and shape are for this host.
//!
//! A host's normal traffic is a few hundred message templates repeated; what ops people want
//! flagged is mostly what the host has never (or hardly ever) said. Two surprises, each in
//! `[0, 1]`, normalised by the training size so they mean the same on every host:
//! * word surprise — the rarest token's `ln((N+1)/(df+1)) / ln(N+1)`, where `df` is the number of
//!   training messages containing it (an unseen word scores 1);
//! * template surprise — the same for the whole masked token sequence.
//!
//! The score is their mean.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Fitted document frequencies of tokens and templates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rarity {
    n: u64,
    token_df: HashMap<String, u64>,
    template_count: HashMap<u64, u64>,
}

/// A stable 64-bit hash of a token sequence (FNV-1a), used as the template key.
pub fn template_key<S: AsRef<str>>(tokens: &[S]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in tokens {
        for b in t.as_ref().bytes().chain([0x1f]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl Rarity {
    /// Fits on distinct templates (`tokens`) with their message counts.
    pub fn fit(templates: &[(Vec<String>, u64)]) -> Self {
        let mut token_df: HashMap<String, u64> = HashMap::new();
        let mut template_count = HashMap::new();
        let mut n = 0;
        for (tokens, count) in templates {
            n += count;
            *template_count.entry(template_key(tokens)).or_insert(0) += count;
            let mut uniq: Vec<&String> = tokens.iter().collect();
            uniq.sort();
            uniq.dedup();
            for t in uniq {
                *token_df.entry(t.clone()).or_insert(0) += count;
            }
        }
        Self {
            n,
            token_df,
            template_count,
        }
    }

    /// Training messages seen.
    pub fn messages(&self) -> u64 {
        self.n
    }

    /// Number of times `token` occurred in training messages.
    pub fn document_frequency(&self, token: &str) -> u64 {
        self.token_df.get(token).copied().unwrap_or(0)
    }

    fn surprise(&self, count: u64) -> f64 {
        let n = self.n as f64 + 1.0;
        if n <= 1.0 {
            return 1.0;
        }
        ((n / (count as f64 + 1.0)).ln() / n.ln()).clamp(0.0, 1.0)
    }

    /// Rarity of a message in `[0, 1]`.
    pub fn score<S: AsRef<str>>(&self, tokens: &[S]) -> f64 {
        let word = tokens
            .iter()
            .map(|t| self.surprise(self.document_frequency(t.as_ref())))
            .fold(0.0, f64::max);
        let template = self.surprise(
            self.template_count
                .get(&template_key(tokens))
                .copied()
                .unwrap_or(0),
        );
        0.5 * (word + template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Vec<String> {
        x.split(' ').map(String::from).collect()
    }

    #[test]
    fn frequent_is_low_unseen_is_one() {
        let r = Rarity::fit(&[
            (s("session opened for user"), 990),
            (s("session closed for user"), 9),
            (s("disk failure on"), 1),
        ]);
        assert!(r.score(&s("session opened for user")) < 0.05);
        let rare = r.score(&s("disk failure on"));
        assert!(rare > 0.7 && rare < 1.0, "{rare}");
        assert_eq!(r.score(&s("kernel panic now")), 1.0);
        // Known words in a new order: template surprise only.
        let reordered = r.score(&s("user for opened session"));
        assert!(reordered > 0.45 && reordered < 0.6, "{reordered}");
        assert_eq!(Rarity::fit(&[]).score(&s("x")), 1.0);
    }
}
