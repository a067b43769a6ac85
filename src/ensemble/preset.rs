//! Presets: two ways of weighing the same evidence.
//!
//! * `ops` (the default): what operators page on. Severity weighs in strongly: a fatal-class
//!   message is flagged unless it is common on the host; an error-class one when it is rare;
//!   a message with no trouble word when it is among the rarest `contamination` of the host's
//!   traffic.
//! * `security`: novelty and rarity first. Security events (a new `sudo` command, a new user,
//!   a changed `/etc/passwd`) carry no trouble words, so the prior is nearly flat, and the
//!   parameter and field detectors (a new user, process or source inside a known kind of
//!   message) count as much as the template detector; the time of day counts too.
//!
//! Field, numeric and time detectors are fitted only when the training data has fields or
//! timestamps (structured profiles); on plain log lines they sit out and take no share of
//! the false-alarm budget.
//!
//! Every number can be overridden (`--detectors`, `--contamination`, `--severity-weight`,
//! YAML `DETECTORS`, …); BENCHMARKS.md has the ablation behind the defaults.

use serde::{Deserialize, Serialize};

use super::prior::{ClassRatios, PriorParams};
use crate::detect::{DetectorKind, DetectorSpec};

/// A named set of ensemble defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    #[default]
    Ops,
    Security,
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ops" => Ok(Self::Ops),
            "security" => Ok(Self::Security),
            o => Err(format!(
                "unknown preset '{o}': expected 'ops' or 'security'"
            )),
        }
    }
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ops => "ops",
            Self::Security => "security",
        }
    }

    /// The detectors and their weights.
    pub fn detectors(self) -> Vec<DetectorSpec> {
        let w = |kind, weight| DetectorSpec { kind, weight };
        match self {
            Self::Ops => vec![
                w(DetectorKind::Template, 1.0),
                w(DetectorKind::Params, 0.25),
                w(DetectorKind::Fields, 0.25),
                w(DetectorKind::Numeric, 0.25),
            ],
            Self::Security => vec![
                w(DetectorKind::Template, 1.0),
                w(DetectorKind::Params, 1.0),
                w(DetectorKind::Fields, 1.0),
                w(DetectorKind::Numeric, 0.5),
                w(DetectorKind::Hour, 0.5),
            ],
        }
    }

    /// The severity prior's ratios.
    pub fn prior(self) -> PriorParams {
        match self {
            Self::Ops => PriorParams {
                level: ClassRatios {
                    fatal: 100.0,
                    error: 3.0,
                    warning: 1.5,
                    notice: 1.0,
                    info: 0.5,
                },
                text: ClassRatios {
                    fatal: 100.0,
                    error: 3.0,
                    warning: 1.5,
                    notice: 1.0,
                    info: 1.0,
                },
                caller_error: 0.05,
            },
            Self::Security => PriorParams {
                level: ClassRatios {
                    fatal: 2.0,
                    error: 1.5,
                    warning: 1.2,
                    notice: 1.0,
                    info: 1.0,
                },
                text: ClassRatios {
                    fatal: 3.0,
                    error: 1.5,
                    warning: 1.2,
                    notice: 1.0,
                    info: 1.0,
                },
                caller_error: 0.5,
            },
        }
    }
}
