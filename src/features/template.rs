//! Template mining: which message *kind* a line is, and which of its words are parameters.
//!
//! Two lines `session opened for user root` and `session opened for user alice` are one kind
//! of message with a parameter in the last position. Counting kinds rather than exact token
//! sequences is what lets rarity mean something (a host says a few hundred kinds of thing),
//! and the parameters are a signal of their own: a new user, host or command inside a known
//! kind of message is how most security events look.
//!
//! The algorithm is Drain (He et al., ICWS 2017) over our masked tokens, with one change:
//! tokens that occur in a large share of all messages weigh less in the similarity.
//! Syslog-style lines start with a header (month, host, program, level) that is the same on
//! every line; with plain counting those positions dominate the similarity of short
//! messages, and unrelated messages of the same length merge. A token's weight is its IDF
//! relative to that of a token in 10 % of the messages, capped at 1:
//! `min(1, ln((N+1)/(df+1)) / ln 10) + ε`, so tokens in (almost) every message count
//! (almost) nothing, without knowing any log format, while all other tokens count as in
//! Drain — a rare parameter value does not weigh more than a common word, or every new user
//! name would start a new template. Header variation (`Jun` against `Jul`) costs almost
//! nothing either, so a line still finds its template when the month changes.
//!
//! Like Drain, templates are grouped by token count (a message kind has a fixed shape), a
//! line joins the most similar template of its length when the similarity reaches
//! `similarity` (0.6 by default), and the positions where they differ become wildcards.
//! Everything is deterministic: templates are created in order of first appearance, ties
//! go to the lowest id.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Template miner settings. Saved with the model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplateParams {
    /// A line joins a template when the IDF-weighted share of matching template tokens is at
    /// least this (Drain's `st`).
    pub similarity: f64,
}

impl Default for TemplateParams {
    fn default() -> Self {
        Self { similarity: 0.6 }
    }
}

/// Weight of a token that occurs in every training message. Keeps the similarity defined
/// for templates made only of such tokens.
const WEIGHT_FLOOR: f32 = 0.05;

/// Tokens in fewer than this share of messages weigh fully.
const COMMON_SHARE: f64 = 0.1;

/// One message kind: constant tokens and wildcards (`None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub tokens: Vec<Option<String>>,
    /// Similarity weight of each position (0 for wildcards), rebuilt after loading.
    #[serde(skip)]
    weights: Vec<f32>,
}

impl Template {
    /// Positions of the wildcards, in order: the template's parameter slots.
    pub fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_none())
            .map(|(i, _)| i)
    }

    /// The template as text, wildcards written `<*>` (for explanations and reports).
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self
            .tokens
            .iter()
            .map(|t| t.as_deref().unwrap_or("<*>"))
            .collect();
        parts.join(" ")
    }
}

/// The fitted miner: templates plus the token weights the similarity uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateMiner {
    params: TemplateParams,
    /// IDF weight of every training token; a token not in the map (never in training)
    /// cannot be a constant of a trained template, so it needs no weight.
    weights: HashMap<String, f32>,
    templates: Vec<Template>,
    /// Token count → template ids with that many tokens. Rebuilt after loading.
    #[serde(skip)]
    by_len: HashMap<usize, Vec<u32>>,
}

impl TemplateMiner {
    /// An empty miner whose similarity uses `weights` (token → IDF weight).
    pub fn new(params: TemplateParams, weights: HashMap<String, f32>) -> Self {
        Self {
            params,
            weights,
            templates: Vec::new(),
            by_len: HashMap::new(),
        }
    }

    /// IDF weights from document frequencies over `n` messages.
    pub fn idf_weights<'a>(
        df: impl IntoIterator<Item = (&'a str, u64)>,
        n: u64,
    ) -> HashMap<String, f32> {
        let n = n as f64;
        let full = (1.0 / COMMON_SHARE).ln();
        df.into_iter()
            .map(|(t, d)| {
                let idf = ((n + 1.0) / (d as f64 + 1.0)).ln();
                let w = (idf / full).clamp(0.0, 1.0) as f32;
                (t.to_string(), w + WEIGHT_FLOOR)
            })
            .collect()
    }

    /// Fits on distinct token sequences in order of first appearance (their counts do not
    /// matter for the shapes; they are counted by the detectors).
    pub fn fit<'a>(
        params: TemplateParams,
        weights: HashMap<String, f32>,
        sequences: impl IntoIterator<Item = &'a [String]>,
    ) -> Self {
        let mut m = Self::new(params, weights);
        for tokens in sequences {
            m.add(tokens);
        }
        m
    }

    /// Rebuilds the length index and the per-position weights after deserialisation.
    pub fn rebuild_index(&mut self) {
        self.by_len.clear();
        for i in 0..self.templates.len() {
            let w = self.position_weights(&self.templates[i].tokens);
            self.templates[i].weights = w;
            let len = self.templates[i].tokens.len();
            self.by_len.entry(len).or_default().push(i as u32);
        }
    }

    fn position_weights(&self, tokens: &[Option<String>]) -> Vec<f32> {
        tokens
            .iter()
            .map(|t| t.as_deref().map_or(0.0, |t| self.weight(t)))
            .collect()
    }

    pub fn params(&self) -> TemplateParams {
        self.params
    }

    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    pub fn template(&self, id: u32) -> Option<&Template> {
        self.templates.get(id as usize)
    }

    fn weight(&self, token: &str) -> f32 {
        self.weights.get(token).copied().unwrap_or(1.0)
    }

    /// Weighted share of the template's constant tokens that `tokens` repeats.
    fn similarity(t: &Template, tokens: &[String]) -> f64 {
        let (mut same, mut all) = (0f64, 0f64);
        for ((a, b), &w) in t.tokens.iter().zip(tokens).zip(&t.weights) {
            if let Some(a) = a {
                let w = f64::from(w);
                all += w;
                if a == b {
                    same += w;
                }
            }
        }
        if all <= 0.0 {
            1.0 // an all-wildcard template matches any line of its length
        } else {
            same / all
        }
    }

    /// The best template for `tokens` with similarity ≥ the threshold, if any.
    pub fn find(&self, tokens: &[String]) -> Option<u32> {
        let ids = self.by_len.get(&tokens.len())?;
        let mut best: Option<(u32, f64)> = None;
        for &id in ids {
            let s = Self::similarity(&self.templates[id as usize], tokens);
            if s >= self.params.similarity && best.is_none_or(|(_, b)| s > b) {
                best = Some((id, s));
            }
        }
        best.map(|(id, _)| id)
    }

    /// The most similar template of the same length, whatever the threshold, with its
    /// similarity in [0, 1] (for explanations: "nearest known kind").
    pub fn nearest(&self, tokens: &[String]) -> Option<(u32, f64)> {
        let ids = self.by_len.get(&tokens.len())?;
        let mut best: Option<(u32, f64)> = None;
        for &id in ids {
            let s = Self::similarity(&self.templates[id as usize], tokens);
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((id, s));
            }
        }
        best
    }

    /// Similarity of `tokens` to template `id` (0 when the lengths differ or there is no
    /// such template).
    pub fn similarity_to(&self, id: u32, tokens: &[String]) -> f64 {
        match self.template(id) {
            Some(t) if t.tokens.len() == tokens.len() => Self::similarity(t, tokens),
            _ => 0.0,
        }
    }

    /// Whether `token` occurred in the training messages.
    pub fn knows(&self, token: &str) -> bool {
        self.weights.contains_key(token)
    }

    /// Weighted share of equal tokens between two token sequences of the same length (0
    /// for different lengths): how feedback on one message extends to messages like it.
    pub fn likeness(&self, a: &[String], b: &[String]) -> f64 {
        if a.len() != b.len() {
            return 0.0;
        }
        let (mut same, mut all) = (0f64, 0f64);
        for (x, y) in a.iter().zip(b) {
            let w = f64::from(self.weight(x).max(self.weight(y)));
            all += w;
            if x == y {
                same += w;
            }
        }
        if all <= 0.0 {
            1.0
        } else {
            same / all
        }
    }

    /// Adds a line: merges it into its best template (differing positions become
    /// wildcards) or starts a new template. Returns the template id.
    pub fn add(&mut self, tokens: &[String]) -> u32 {
        if let Some(id) = self.find(tokens) {
            let t = &mut self.templates[id as usize];
            for ((a, b), w) in t.tokens.iter_mut().zip(tokens).zip(t.weights.iter_mut()) {
                if a.as_deref().is_some_and(|a| a != b) {
                    *a = None;
                    *w = 0.0;
                }
            }
            return id;
        }
        let id = self.templates.len() as u32;
        let tokens: Vec<Option<String>> = tokens.iter().cloned().map(Some).collect();
        let weights = self.position_weights(&tokens);
        self.templates.push(Template { tokens, weights });
        let tokens = &self.templates[id as usize].tokens;
        let len = tokens.len();
        self.by_len.entry(len).or_default().push(id);
        id
    }

    /// The values of `tokens` at the template's wildcard positions.
    pub fn values<'a>(&self, id: u32, tokens: &'a [String]) -> Vec<&'a str> {
        match self.template(id) {
            Some(t) => t
                .slots()
                .filter_map(|i| tokens.get(i))
                .map(String::as_str)
                .collect(),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    fn miner(lines: &[&str]) -> TemplateMiner {
        let seqs: Vec<Vec<String>> = lines.iter().map(|l| toks(l)).collect();
        let mut df: HashMap<&str, u64> = HashMap::new();
        for s in &seqs {
            let mut u: Vec<&str> = s.iter().map(String::as_str).collect();
            u.sort_unstable();
            u.dedup();
            for t in u {
                *df.entry(t).or_default() += 1;
            }
        }
        let w = TemplateMiner::idf_weights(df, seqs.len() as u64);
        TemplateMiner::fit(TemplateParams::default(), w, seqs.iter().map(Vec::as_slice))
    }

    #[test]
    fn parameters_become_wildcards() {
        let m = miner(&[
            "Jun 1 host sshd session opened for user root",
            "Jun 1 host sshd session opened for user alice",
            "Jun 1 host kernel disk sda failure detected now",
        ]);
        assert_eq!(m.len(), 2);
        let id = m
            .find(&toks("Jun 1 host sshd session opened for user bob"))
            .unwrap();
        assert_eq!(
            m.template(id).unwrap().text(),
            "Jun 1 host sshd session opened for user <*>"
        );
        assert_eq!(
            m.values(id, &toks("Jun 1 host sshd session opened for user bob")),
            ["bob"]
        );
    }

    #[test]
    fn shared_header_does_not_merge_different_messages() {
        // Same length, same 3-token header: with plain position counting these would merge
        // (5 of 8 equal); header tokens occur in every line and weigh almost nothing.
        let m = miner(&[
            "<num> host RAS KERNEL INFO instruction cache parity",
            "<num> host RAS KERNEL INFO instruction cache parity",
            "<num> host RAS KERNEL INFO double hummer alignment",
            "<num> host RAS KERNEL INFO double hummer alignment",
        ]);
        assert_eq!(m.len(), 2);
        // A changed header still finds its template.
        assert!(m
            .find(&toks(
                "<num> other RAS KERNEL INFO instruction cache parity"
            ))
            .is_some());
        assert!(m
            .find(&toks("<num> host RAS KERNEL INFO totally new words"))
            .is_none());
        assert!(m.find(&toks("wrong length")).is_none());
    }

    #[test]
    fn deterministic_and_survives_serde() {
        let lines = ["a b c d", "a b c e", "x y z w", "a b q e"];
        let m1 = miner(&lines);
        let m2 = miner(&lines);
        assert_eq!(m1.templates, m2.templates);
        let s1 = serde_json::to_string(&m1).unwrap();
        let mut back: TemplateMiner = serde_json::from_str(&s1).unwrap();
        back.rebuild_index();
        assert_eq!(back.find(&toks("a b c d")), m1.find(&toks("a b c d")));
        assert!(miner(&[]).find(&toks("a")).is_none());
        let empty: Vec<String> = Vec::new();
        let m = TemplateMiner::fit(
            TemplateParams::default(),
            HashMap::new(),
            [empty.as_slice()],
        );
        assert_eq!(
            m.find(&[]),
            Some(0),
            "the empty message has its template too"
        );
    }
}
