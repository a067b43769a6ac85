//! Threat types, severity bands, and how rule and burst evidence combine into one score.
//!
//! ```text
//! λ      = the strongest fired rule's likelihood ratio (1 when none fired)
//!          a rule with `score: s` has λ = odds(s) / contamination, so alone (no burst) it
//!          scores exactly s
//! p      = the burst p-value (1 when there is no burst evidence)
//! odds   = contamination · λ / p ;   score = odds / (1 + odds)
//! ```
//!
//! The same arithmetic as the line model's ensemble (`odds = contamination · λ / p`), so a
//! burst alone is flagged when it is rarer than `contamination` of the baseline, a rule alone
//! gives its own score, and a rule *with* a burst scores higher than either. Rules do not
//! multiply with each other: two rules about one brute force (by IP and by user) are two
//! views of the same evidence, so the strongest decides.
//!
//! Severity bands are those of the JSON pipeline lad replaces: LOW 0.5–0.7, MEDIUM 0.7–0.85,
//! HIGH 0.85–0.95, CRITICAL ≥ 0.95 (below 0.5: not an anomaly, no severity).

use serde::{Deserialize, Serialize};

/// What kind of threat an anomaly is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ThreatType {
    BruteForce,
    PrivilegeEscalation,
    DataExfiltration,
    LateralMovement,
    /// An alert kind whose rate jumped far over its baseline.
    AlertFlood,
    /// Anomalous, but no rule names what it is.
    Unusual,
    /// A type a user's rule file defines (`reconnaissance`, `persistence`, …).
    Other(String),
}

impl ThreatType {
    pub fn as_str(&self) -> &str {
        match self {
            Self::BruteForce => "brute_force",
            Self::PrivilegeEscalation => "privilege_escalation",
            Self::DataExfiltration => "data_exfiltration",
            Self::LateralMovement => "lateral_movement",
            Self::AlertFlood => "alert_flood",
            Self::Unusual => "unusual",
            Self::Other(s) => s,
        }
    }

    /// Whether the type names an attack (everything but `unusual`).
    pub fn is_attack(&self) -> bool {
        *self != Self::Unusual
    }
}

impl From<String> for ThreatType {
    fn from(s: String) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "brute_force" => Self::BruteForce,
            "privilege_escalation" => Self::PrivilegeEscalation,
            "data_exfiltration" => Self::DataExfiltration,
            "lateral_movement" => Self::LateralMovement,
            "alert_flood" => Self::AlertFlood,
            "unusual" | "" => Self::Unusual,
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<ThreatType> for String {
    fn from(t: ThreatType) -> String {
        t.as_str().to_string()
    }
}

impl std::fmt::Display for ThreatType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity bands of the combined score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The band of a score; `None` below 0.5 (not an anomaly) and for NaN.
    pub fn of(score: f64) -> Option<Self> {
        if score >= 0.95 {
            Some(Self::Critical)
        } else if score >= 0.85 {
            Some(Self::High)
        } else if score >= 0.7 {
            Some(Self::Medium)
        } else if score >= 0.5 {
            Some(Self::Low)
        } else {
            None
        }
    }

    /// The lowest score of the band.
    pub fn floor(self) -> f64 {
        match self {
            Self::Low => 0.5,
            Self::Medium => 0.7,
            Self::High => 0.85,
            Self::Critical => 0.95,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `p / (1 − p)`, finite for every `p` in `[0, 1)`.
pub fn odds(score: f64) -> f64 {
    let s = score.clamp(0.0, 1.0 - 1e-12);
    s / (1.0 - s)
}

/// The likelihood ratio a rule with `score` carries at `contamination`.
pub fn rule_lambda(score: f64, contamination: f64) -> f64 {
    odds(score) / contamination.clamp(1e-12, 1.0)
}

/// `odds / (1 + odds)` of `contamination · λ / p`, in `[0, 1]`.
pub fn combine(contamination: f64, lambda: f64, p: f64) -> f64 {
    let o = contamination.clamp(1e-12, 1.0) * lambda.max(0.0) / p.clamp(f64::MIN_POSITIVE, 1.0);
    if o.is_finite() {
        (o / (1.0 + o)).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_bands_match_the_pipeline() {
        assert_eq!(Severity::of(0.49), None);
        assert_eq!(Severity::of(0.5), Some(Severity::Low));
        assert_eq!(Severity::of(0.69), Some(Severity::Low));
        assert_eq!(Severity::of(0.7), Some(Severity::Medium));
        assert_eq!(Severity::of(0.849), Some(Severity::Medium));
        assert_eq!(Severity::of(0.85), Some(Severity::High));
        assert_eq!(Severity::of(0.9499), Some(Severity::High));
        assert_eq!(Severity::of(0.95), Some(Severity::Critical));
        assert_eq!(Severity::of(1.0), Some(Severity::Critical));
        assert_eq!(Severity::of(f64::NAN), None);
        for s in Severity::ALL {
            assert_eq!(Severity::of(s.floor()), Some(s));
        }
        assert_eq!(serde_json::to_string(&Severity::High).unwrap(), "\"HIGH\"");
    }

    #[test]
    fn a_rule_alone_scores_its_own_score_and_evidence_adds_up() {
        for c in [0.001, 0.005, 0.05] {
            let l = rule_lambda(0.9, c);
            assert!((combine(c, l, 1.0) - 0.9).abs() < 1e-9);
            // A burst with p = 0.01 on top of it: higher than either alone.
            let both = combine(c, l, 0.01);
            assert!(both > 0.9 && both > combine(c, 1.0, 0.01));
        }
        // A burst alone is flagged exactly when p ≤ contamination.
        assert!(combine(0.005, 1.0, 0.005) >= 0.5);
        assert!(combine(0.005, 1.0, 0.0051) < 0.5);
        assert_eq!(combine(0.005, 1.0, 0.0), 1.0);
        assert!(combine(0.005, 1.0, 1.0) < 0.01);
    }

    #[test]
    fn threat_types_round_trip_as_strings() {
        for t in [
            ThreatType::BruteForce,
            ThreatType::PrivilegeEscalation,
            ThreatType::DataExfiltration,
            ThreatType::LateralMovement,
            ThreatType::AlertFlood,
            ThreatType::Unusual,
            ThreatType::Other("reconnaissance".into()),
        ] {
            let j = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<ThreatType>(&j).unwrap(), t);
        }
        assert_eq!(
            ThreatType::from("Brute_Force".to_string()),
            ThreatType::BruteForce
        );
        assert!(!ThreatType::Unusual.is_attack());
    }
}
