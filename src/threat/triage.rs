//! Triage: the final verdict on one event, from the line (or event) model's score and the
//! threat layer's finding. Used by file mode (`lad detect --threat`) and the service
//! (`lad_threat`, `lad_severity` in the document), so both say the same.
//!
//! Either layer can raise an anomaly: the line model sees what is new or rare in one
//! message, the threat layer what is only visible over a window (bursts, spraying, a success
//! after failures). The score is the larger of the two; every anomaly carries a threat type
//! (`unusual` when no rule names it) and a severity band of its score.

use serde::Serialize;

use super::{Severity, ThreatFinding, ThreatType};
use crate::model::Score;

/// The verdict on one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Triage {
    pub is_anomaly: bool,
    /// In `[0, 1]`.
    pub anomaly_score: f64,
    /// What the anomaly is; `None` when not an anomaly.
    pub threat_type: Option<ThreatType>,
    /// The band of `anomaly_score`; `None` when not an anomaly.
    pub severity: Option<Severity>,
    /// The threat layer's explanation when it contributed (rule and window counts).
    pub threat_reason: Option<String>,
}

/// Combines a line score and the threat finding for the same event.
pub fn triage(score: &Score, finding: Option<&ThreatFinding>) -> Triage {
    let threat_hit = finding.filter(|f| f.is_anomaly);
    let is_anomaly = score.is_anomaly || threat_hit.is_some();
    let anomaly_score = score
        .anomaly_score
        .max(threat_hit.map_or(0.0, |f| f.score))
        .clamp(0.0, 1.0);
    if !is_anomaly {
        return Triage {
            is_anomaly,
            anomaly_score,
            threat_type: None,
            severity: None,
            threat_reason: None,
        };
    }
    // A rule that fired names the threat even when the line model raised the anomaly.
    let named = finding.filter(|f| !f.rules.is_empty() || f.is_anomaly);
    let threat_type = named.map_or(ThreatType::Unusual, |f| f.threat_type.clone());
    Triage {
        is_anomaly,
        anomaly_score,
        threat_type: Some(threat_type),
        // Flagged below 0.5 only with a lowered SCORE_THRESHOLD: the lowest band.
        severity: Some(Severity::of(anomaly_score).unwrap_or(Severity::Low)),
        threat_reason: named.map(ThreatFinding::explain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Event;
    use crate::threat::ThreatEngine;

    fn line(is_anomaly: bool, s: f64) -> Score {
        Score {
            is_anomaly,
            anomaly_score: s,
            signals: Default::default(),
        }
    }

    #[test]
    fn a_line_anomaly_without_a_rule_is_unusual_with_its_band() {
        let t = triage(&line(true, 0.9), None);
        assert!(t.is_anomaly);
        assert_eq!(t.threat_type, Some(ThreatType::Unusual));
        assert_eq!(t.severity, Some(Severity::High));
        let quiet = triage(&line(false, 0.1), None);
        assert!(!quiet.is_anomaly && quiet.severity.is_none() && quiet.threat_type.is_none());
    }

    #[test]
    fn a_brute_force_burst_raises_an_anomaly_the_line_model_misses() {
        let mut engine = ThreatEngine::with_shipped_rules();
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let ev = |i: i64, msg: String| {
            let mut e = crate::threat::syslog::event_from_line(
                &format!("Nov 14 22:13:20 web1 sshd[{}]: {msg}", 100 + i),
                i as usize + 1,
                2023,
            );
            e.timestamp = Some(t0 + chrono::Duration::seconds(i));
            e
        };
        let baseline: Vec<Event> = (0..2000)
            .map(|i| {
                ev(
                    i * 60,
                    format!(
                        "Accepted publickey for u{} from 10.0.0.{} port 22 ssh2",
                        i % 5,
                        i % 9
                    ),
                )
            })
            .collect();
        engine.fit(&baseline);
        let mut last = None;
        for k in 0..60 {
            let e = ev(
                130_000 + k,
                "Failed password for admin from 203.0.113.7 port 4242 ssh2".to_string(),
            );
            last = Some(engine.observe(&e));
        }
        let f = last.unwrap();
        let t = triage(&line(false, 0.2), Some(&f));
        assert!(t.is_anomaly, "{f:?}");
        assert_eq!(t.threat_type, Some(ThreatType::BruteForce), "{f:?}");
        assert!(t.severity.is_some());
        assert!(t.threat_reason.unwrap().contains("203.0.113.7"));
    }
}
