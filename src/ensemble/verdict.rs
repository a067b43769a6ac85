//! A user's verdict on a message: it overrides the ensemble's decision for every message of
//! the same kind (see `crate::model::feedback` for how it is stored and matched).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Score;

/// What a user said about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Never flag messages of this kind on this host.
    Normal,
    /// Always flag messages of this kind on this host.
    Anomaly,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Normal => "normal",
            Verdict::Anomaly => "anomaly",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict that is not `normal` or `anomaly`.
#[derive(Debug, thiserror::Error)]
#[error("feedback {0:?} is not a verdict: use \"normal\" or \"anomaly\"")]
pub struct BadVerdict(pub String);

impl FromStr for Verdict {
    type Err = BadVerdict;
    fn from_str(s: &str) -> Result<Self, BadVerdict> {
        match s.trim().to_ascii_lowercase().as_str() {
            "normal" => Ok(Verdict::Normal),
            "anomaly" | "anomalous" => Ok(Verdict::Anomaly),
            _ => Err(BadVerdict(s.to_string())),
        }
    }
}

/// Score given to a message whose kind was marked an anomaly: flagged, high, in [0, 1].
const MARKED_ANOMALY_SCORE: f64 = 0.99;

impl Score {
    /// The score after the user's verdict: `normal` caps it below the threshold (half of
    /// it), `anomaly` raises it above the threshold; the verdict is recorded in the signals.
    pub fn with_verdict(mut self, verdict: Verdict, threshold: f64) -> Self {
        match verdict {
            Verdict::Normal => {
                self.is_anomaly = false;
                self.anomaly_score = self.anomaly_score.min(threshold * 0.5);
            }
            Verdict::Anomaly => {
                self.is_anomaly = true;
                self.anomaly_score = self.anomaly_score.max(MARKED_ANOMALY_SCORE.max(threshold));
            }
        }
        self.signals.feedback = Some(verdict);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_parse_and_print() {
        assert_eq!("Normal".parse::<Verdict>().unwrap(), Verdict::Normal);
        assert_eq!(" anomaly".parse::<Verdict>().unwrap(), Verdict::Anomaly);
        let e = "fine".parse::<Verdict>().unwrap_err().to_string();
        assert!(e.contains("\"normal\" or \"anomaly\""), "{e}");
        assert_eq!(Verdict::Anomaly.to_string(), "anomaly");
    }

    #[test]
    fn verdicts_cap_or_raise_the_score() {
        let flagged = Score {
            is_anomaly: true,
            anomaly_score: 0.9,
            signals: Default::default(),
        };
        let n = flagged.with_verdict(Verdict::Normal, 0.5);
        assert!(!n.is_anomaly && n.anomaly_score == 0.25);
        assert_eq!(n.signals.feedback, Some(Verdict::Normal));
        let quiet = Score {
            is_anomaly: false,
            anomaly_score: 0.01,
            ..flagged
        };
        let a = quiet.with_verdict(Verdict::Anomaly, 0.5);
        assert!(a.is_anomaly && a.anomaly_score >= 0.99 && a.anomaly_score <= 1.0);
    }
}
