//! The rule file: threat rules as data (`config/threat_rules.yaml`, user-extendable).
//!
//! ```yaml
//! version: 1
//! extract:                 # fill user / source_ip / outcome / … from the text
//!   - id: sshd_failed_password
//!     source: OpenSSH auth2.c / auth.c log format "Failed %s for %s%.100s from %.200s port %d %s"
//!     pattern: 'Failed \S+ for (?:invalid user )?(?P<user>\S+) from (?P<source_ip>[0-9a-fA-F.:]+) port'
//!     set: {outcome: failure, event_type: ssh_auth_failure}
//! rates:                   # burst detectors (see rate.rs); defaults when left out
//!   windows: [1m, 10m, 1h]
//!   families:
//!     - {by: [host, event_type], threat: alert_flood}
//! rules:
//!   - id: auth_failures_from_source
//!     threat: brute_force
//!     source: fail2ban jail.conf defaults (maxretry = 5, findtime = 10m)
//!     score: 0.9           # the score the rule gives on its own (≥ 0.5; severity band)
//!     when:                # which events the rule looks at: all of these must hold
//!       text: ['(?i)authentication failure']     # any of these regexes on the message
//!       not_text: []                              # none of these
//!       fields: {outcome: ['^failure$']}          # every listed slot: any value, any regex
//!     require: [source_ip] # slots that must have a value
//!     count: {by: [source_ip], window: 10m, at_least: 5}
//! ```
//!
//! Conditions besides `when` (all that are given must hold):
//! * `count: {by, window, at_least}` — matching events of the entity in the window;
//! * `distinct: {by, of, window, at_least}` — distinct values of `of` (users per IP);
//! * `new_for: [slots]` — the entity never matched this rule in the baseline;
//! * `off_hours: {by, min_baseline, tolerance_hours}` — the entity was never active at this
//!   hour (± tolerance, UTC) in a baseline of at least a day with `min_baseline` of its events;
//! * `exceeds_baseline: {by, value_of | length_of, min_baseline}` — a number (or a text's
//!   length) above everything the entity showed in the baseline;
//! * `after: {rule, at_least}` — the entity has at least that many events of an earlier
//!   `count` rule (same `by`) in that rule's window: "a success after many failures".
//!
//! Every rule must say in `source` where it, and any number in it, comes from; the loader
//! rejects a rule without one. Unknown keys are errors, so a typo cannot silently disable a
//! rule.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::classify::ThreatType;
use super::entity::Slot;
use super::rate::RateSpec;
use super::span::Span;
use super::ThreatError;

/// The rule file lad ships (`config/threat_rules.yaml`).
pub const DEFAULT_RULES: &str = include_str!("../../config/threat_rules.yaml");

/// The version this lad reads.
pub const VERSION: u32 = 1;

/// A whole rule file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub version: u32,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub extract: Vec<ExtractSpec>,
    #[serde(default)]
    pub rates: RateSpec,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

/// Fills slots from the message with a regex's named groups (`user`, `source_ip`, `host`,
/// `outcome`, `event_type`, or any field name) and sets constant slots when it matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractSpec {
    pub id: String,
    pub source: String,
    pub pattern: String,
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

/// Which events a rule looks at.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// Any of these regexes matches the message (empty: no text condition).
    #[serde(default)]
    pub text: Vec<String>,
    /// None of these regexes matches the message.
    #[serde(default)]
    pub not_text: Vec<String>,
    /// For every listed slot, some value of it matches one of the regexes.
    #[serde(default)]
    pub fields: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountSpec {
    pub by: Vec<Slot>,
    pub window: Span,
    pub at_least: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistinctSpec {
    pub by: Vec<Slot>,
    pub of: Slot,
    pub window: Span,
    pub at_least: u32,
}

fn twenty() -> u32 {
    20
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffHoursSpec {
    pub by: Vec<Slot>,
    #[serde(default = "twenty")]
    pub min_baseline: u32,
    #[serde(default = "one")]
    pub tolerance_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceedSpec {
    pub by: Vec<Slot>,
    /// A numeric slot (`bytes`).
    #[serde(default)]
    pub value_of: Option<Slot>,
    /// A text slot whose length counts (`query`).
    #[serde(default)]
    pub length_of: Option<Slot>,
    #[serde(default = "twenty")]
    pub min_baseline: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfterSpec {
    pub rule: String,
    pub at_least: u32,
}

/// One threat rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub threat: ThreatType,
    #[serde(default)]
    pub description: String,
    /// Where the rule and its numbers come from.
    pub source: String,
    /// The score the rule gives on its own, in `[0.5, 1)`.
    pub score: f64,
    #[serde(default)]
    pub when: MatchSpec,
    #[serde(default)]
    pub require: Vec<Slot>,
    #[serde(default)]
    pub count: Option<CountSpec>,
    #[serde(default)]
    pub distinct: Option<DistinctSpec>,
    #[serde(default)]
    pub new_for: Option<Vec<Slot>>,
    #[serde(default)]
    pub off_hours: Option<OffHoursSpec>,
    #[serde(default)]
    pub exceeds_baseline: Option<ExceedSpec>,
    #[serde(default)]
    pub after: Option<AfterSpec>,
    /// The entity a finding names (default: the first condition's `by`, else the source IP,
    /// user or host).
    #[serde(default)]
    pub entity: Option<Vec<Slot>>,
}

impl RuleFile {
    /// Parses and validates a rule file's text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ThreatError> {
        let file: RuleFile = serde_saphyr::from_str(text).map_err(|e| ThreatError::RuleSyntax {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        file.validate(origin)?;
        Ok(file)
    }

    /// Reads and validates a rule file.
    pub fn load(path: &Path) -> Result<Self, ThreatError> {
        let text = std::fs::read_to_string(path).map_err(|source| ThreatError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// The shipped rules.
    pub fn shipped() -> Self {
        Self::from_yaml(DEFAULT_RULES, "config/threat_rules.yaml")
            .expect("the shipped rule file is valid (tested)")
    }

    /// Checks everything but the regexes (compiled, and checked, by the matcher).
    pub fn validate(&self, origin: &str) -> Result<(), ThreatError> {
        if self.version != VERSION {
            return Err(ThreatError::RuleSyntax {
                origin: origin.into(),
                message: format!(
                    "version {} (this lad reads version {VERSION})",
                    self.version
                ),
            });
        }
        self.rates.validate().map_err(ThreatError::Rate)?;
        let mut ids = std::collections::HashSet::new();
        for x in &self.extract {
            if x.source.trim().is_empty() {
                return Err(ThreatError::Rule {
                    rule: x.id.clone(),
                    message: "extractor without a `source` (say where the format comes from)"
                        .into(),
                });
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            let err = |message: String| ThreatError::Rule {
                rule: r.id.clone(),
                message,
            };
            if r.id.trim().is_empty() {
                return Err(ThreatError::Rule {
                    rule: format!("#{}", i + 1),
                    message: "rule without an id".into(),
                });
            }
            if !ids.insert(r.id.as_str()) {
                return Err(err("duplicate rule id".into()));
            }
            if r.source.trim().is_empty() {
                return Err(err(
                    "no `source`: every rule says where it and its numbers come from".into(),
                ));
            }
            if !(0.5..1.0).contains(&r.score) {
                return Err(err(format!(
                    "score {} is outside [0.5, 1): a rule's score is the severity it gives",
                    r.score
                )));
            }
            for (name, n) in [
                ("count.at_least", r.count.as_ref().map(|c| c.at_least)),
                ("distinct.at_least", r.distinct.as_ref().map(|c| c.at_least)),
                ("after.at_least", r.after.as_ref().map(|c| c.at_least)),
            ] {
                if n == Some(0) {
                    return Err(err(format!("{name} must be at least 1")));
                }
            }
            for by in [
                r.count.as_ref().map(|c| &c.by),
                r.distinct.as_ref().map(|c| &c.by),
                r.new_for.as_ref(),
                r.off_hours.as_ref().map(|c| &c.by),
                r.exceeds_baseline.as_ref().map(|c| &c.by),
            ]
            .into_iter()
            .flatten()
            {
                if by.is_empty() {
                    return Err(err("a `by` list is empty".into()));
                }
            }
            if let Some(x) = &r.exceeds_baseline {
                if x.value_of.is_some() == x.length_of.is_some() {
                    return Err(err(
                        "exceeds_baseline needs exactly one of value_of and length_of".into(),
                    ));
                }
            }
            if let Some(o) = &r.off_hours {
                if o.tolerance_hours > 11 {
                    return Err(err("off_hours.tolerance_hours must be at most 11".into()));
                }
            }
            if let Some(a) = &r.after {
                let Some(target) = self.rules[..i].iter().find(|x| x.id == a.rule) else {
                    return Err(err(format!(
                        "after.rule '{}' is not a rule defined earlier in the file",
                        a.rule
                    )));
                };
                if target.count.is_none() {
                    return Err(err(format!(
                        "after.rule '{}' has no `count` condition to look back on",
                        a.rule
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
version: 1
rules:
  - id: a
    threat: brute_force
    source: test
    score: 0.9
    count: {by: [source_ip], window: 10m, at_least: 5}
  - id: b
    threat: brute_force
    source: test
    score: 0.97
    after: {rule: a, at_least: 5}
"#;

    #[test]
    fn minimal_file_parses_with_default_rates() {
        let f = RuleFile::from_yaml(MINIMAL, "t").unwrap();
        assert_eq!(f.rules.len(), 2);
        assert_eq!(f.rules[0].count.as_ref().unwrap().window, Span::secs(600));
        assert_eq!(f.rates, RateSpec::default());
    }

    #[test]
    fn shipped_rules_are_valid_and_sourced() {
        let f = RuleFile::shipped();
        assert!(f.rules.len() >= 10);
        assert!(f.rules.iter().all(|r| r.source.len() > 10));
        for t in [
            ThreatType::BruteForce,
            ThreatType::PrivilegeEscalation,
            ThreatType::DataExfiltration,
            ThreatType::LateralMovement,
        ] {
            assert!(f.rules.iter().any(|r| r.threat == t), "{t}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (MINIMAL.replace("version: 1", "version: 2"), "version 2"),
            (
                MINIMAL.replace("source: test\n    score: 0.9", "source: ''\n    score: 0.9"),
                "no `source`",
            ),
            (
                MINIMAL.replace("score: 0.9\n", "score: 0.3\n"),
                "outside [0.5, 1)",
            ),
            (
                MINIMAL.replace("rule: a,", "rule: zzz,"),
                "not a rule defined earlier",
            ),
            (
                MINIMAL.replace("at_least: 5}\n  - id: b", "at_least: 0}\n  - id: b"),
                "at least 1",
            ),
            (MINIMAL.replace("id: b", "id: a"), "duplicate"),
            (
                MINIMAL.replace("window: 10m", "window: 10 parsecs"),
                "unknown unit",
            ),
            (
                MINIMAL.replace("score: 0.97", "score: 0.97\n    cuont: {}"),
                "cuont",
            ),
        ];
        for (text, want) in cases {
            let e = RuleFile::from_yaml(&text, "t").unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }
}
