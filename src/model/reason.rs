//! `lad_reason`: why a message got its score, in words and numbers, short enough for a UI
//! column (the service writes it into every anomaly document; file mode into the NDJSON).
//!
//! Built only for the messages that need it (anomalies, or every message on request), from
//! the score's signals plus a second look at the message's tokens: the training tokens it
//! lacks and the nearest known message kind.

use serde::{Deserialize, Serialize};

use super::feedback::Verdict;
use super::{collapse_runs, Model, Score};

/// Longest template text kept in a reason (characters).
const MAX_TEMPLATE_CHARS: usize = 96;
/// New tokens named in a reason, at most.
const MAX_NEW_TOKENS: usize = 3;
/// Longest token kept in a reason (characters).
const MAX_TOKEN_CHARS: usize = 32;

/// Why a message scored as it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The strongest signals in words ("new kind of message for this host, error words").
    pub why: String,
    /// Training messages of its kind (0: a kind new to the host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<u64>,
    /// Training messages in all.
    pub of: u64,
    /// Tokens of the message that never occurred in training (at most three).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_tokens: Vec<String>,
    /// The nearest known message kind (`<*>` for parameters)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nearest: Option<String>,
    /// …and how far the message is from it (0 = same constant tokens, 1 = none shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<f64>,
    /// The threat rule that fired, with its window counts, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threat: Option<String>,
    /// A user's verdict that decided the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Verdict>,
    /// The entity (user, host+user, source IP) whose model scored the event, with
    /// `ENTITY_INDEX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// `true` when that entity had too little history and its host's model scored it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
    /// The `IGNORE_USERS` / `IGNORE_FILES` / `ABUSE_FILES` entry that decided the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
}

impl Model {
    /// The reason behind `score`, the score this model gave `message`.
    pub fn reason(&self, message: &str, score: &Score) -> Reason {
        let s = &score.signals;
        let mut tokens = Vec::new();
        self.info.params.tokenizer.tokens_into(message, &mut tokens);
        collapse_runs(&mut tokens);
        let miner = &self.det.miner;
        let mut new_tokens: Vec<String> = Vec::new();
        for t in &tokens {
            if new_tokens.len() == MAX_NEW_TOKENS {
                break;
            }
            if !miner.knows(t) && !new_tokens.iter().any(|n| n == t) {
                new_tokens.push(truncate(t, MAX_TOKEN_CHARS));
            }
        }
        let nearest = match s.template_id {
            Some(id) => Some((id, miner.similarity_to(id, &tokens))),
            None => miner.nearest(&tokens),
        };
        let (nearest, distance) =
            match nearest.and_then(|(id, sim)| Some((miner.template(id)?, sim))) {
                Some((t, sim)) => (
                    Some(truncate(&t.text(), MAX_TEMPLATE_CHARS)),
                    Some(((1.0 - sim) * 100.0).round() / 100.0),
                ),
                None => (None, None),
            };
        Reason {
            why: s.explain(),
            seen: s.template_count,
            of: s.training_messages,
            new_tokens,
            nearest,
            distance,
            threat: None,
            feedback: s.feedback,
            entity: None,
            fallback: false,
            control: None,
        }
    }
}

impl Model {
    /// The kind of `message` as every host's model sees it: a hash of its masked token
    /// sequence and that sequence as text (`<num>` for numbers and the like). Two hosts
    /// logging the same new message get the same key (for fleet-wide events).
    pub fn kind_of(&self, message: &str) -> (u64, String) {
        let mut tokens = Vec::new();
        self.info.params.tokenizer.tokens_into(message, &mut tokens);
        collapse_runs(&mut tokens);
        (
            super::sequence_key(&tokens),
            truncate(&tokens.join(" "), MAX_TEMPLATE_CHARS),
        )
    }
}

/// `s` cut to at most `max` characters (on a character boundary, `…` marking the cut).
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelParams;

    fn model() -> Model {
        let mut train = Vec::new();
        for i in 0..400 {
            train.push(format!("session opened for user u{} by (uid=0)", i % 7));
            train.push(format!(
                "connection from 10.0.0.{} port {}",
                i % 50,
                1000 + i
            ));
        }
        Model::fit(&train, &ModelParams::default()).unwrap()
    }

    #[test]
    fn a_new_message_names_its_new_tokens_and_nearest_kind() {
        let m = model();
        let msg = "segfault in kernel module nvidia at 0x00ff";
        let score = m.score_one(msg);
        let r = m.reason(msg, &score);
        assert_eq!(r.seen, Some(0), "{r:?}");
        assert_eq!(r.of, 800);
        assert!(r.new_tokens.iter().any(|t| t == "segfault"), "{r:?}");
        assert!(r.new_tokens.len() <= MAX_NEW_TOKENS);
        assert!(r.why.contains("new kind"), "{r:?}");
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.len() <= 300, "{} bytes: {json}", json.len());
    }

    #[test]
    fn a_known_message_names_its_own_kind_at_distance_zero() {
        let m = model();
        let msg = "session opened for user u3 by (uid=0)";
        let r = m.reason(msg, &m.score_one(msg));
        assert!(r.new_tokens.is_empty(), "{r:?}");
        assert!(r.seen.is_some_and(|c| c > 50), "{r:?}");
        let nearest = r.nearest.as_deref().unwrap_or_default();
        assert!(nearest.starts_with("session opened for user"), "{r:?}");
        assert_eq!(r.distance, Some(0.0));
    }

    #[test]
    fn truncation_keeps_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("ok", 5), "ok");
    }
}
