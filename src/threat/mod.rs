//! Threat detection and triage: burst (rate) detectors per entity, threat rules as data,
//! and a threat type, a severity and evidence on every anomaly.
//!
//! Line-by-line scoring cannot see a burst: a web scan raises alert kinds the host already
//! has, only hundreds of times more often, and every detector that judges one event alone
//! misses it. This module looks at *windows* of events per entity (source IP, user, host,
//! event type, or any combination) and at the security meaning of events (authentication
//! failures, `sudo`, sensitive paths), and says what kind of threat an anomaly is.
//!
//! ```text
//!  Event ─► extract (rule file: fill user/source_ip/outcome from text) ─► View
//!              │
//!              ├─► rate::RateModel   sliding counts per entity and window, compared with the
//!              │                     entity's own baseline peak; calibrated on the baseline
//!              │                     (cross-fitted) into a p-value      ─► rate_p (small = burst)
//!              └─► matcher::Rules    the rule file: match + count / distinct / new_for /
//!                                    off_hours / exceeds_baseline / after ─► λ (likelihood ratio)
//!                                          │
//!                         classify: odds = contamination · λ / rate_p,  score = odds/(1+odds)
//!                                   threat type, severity band, entity, evidence
//!                                          ▼
//!                                    ThreatFinding
//! ```
//!
//! [`ThreatEngine`] ties it together: [`ThreatEngine::fit`] on the baseline events, then
//! [`ThreatEngine::observe`] each later event in time order. It is a plain value (serde),
//! streaming, with bounded memory (idle entities are evicted; every per-key map has a cap),
//! and behaves the same in file mode and in service mode.
//!
//! The finding is built to be combined with the line model's evidence: `rate_p` is a p-value
//! with the same meaning as the line model's (a share of baseline events at least as
//! extreme), and `lambda` is a likelihood ratio like its severity prior, so the ensemble can
//! use `odds = contamination · λ_line · λ_threat / min(p_line, rate_p)`.
//!
//! * [`eval`] runs the evaluation protocol of labeled event streams (baseline by time, attack
//!   steps found, false positives per day);
//! * [`report`] writes `anomalies.csv`, `anomalies.json` and `anomaly_dashboard.png`;
//! * [`bench`] measures throughput and memory of the rate detectors.

pub mod bench;
pub mod classify;
pub mod engine;
pub mod entity;
pub mod eval;
pub mod matcher;
pub mod rate;
pub mod report;
pub mod rules;
pub mod span;
pub mod syslog;
pub mod tail;
#[cfg(test)]
mod targets;
pub mod triage;
pub mod window;

pub use classify::{Severity, ThreatType};
pub use engine::{FitSummary, ThreatEngine, ThreatFinding, ThreatParams};
pub use entity::{EntityRef, Slot};
pub use rules::RuleFile;

use std::path::PathBuf;

/// Everything that can go wrong loading rules, fitting, saving or loading an engine.
#[derive(Debug, thiserror::Error)]
pub enum ThreatError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rule file {origin}: {message}")]
    RuleSyntax { origin: String, message: String },
    #[error("rule '{rule}': {message}")]
    Rule { rule: String, message: String },
    #[error("rate detectors: {0}")]
    Rate(String),
    #[error("saved threat engine {path} is unusable ({what}); fit it again")]
    Corrupt { path: PathBuf, what: String },
    #[error(
        "saved threat engine {path} has format {found}, this lad reads {expected}; fit it again"
    )]
    FormatMismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("report: {0}")]
    Report(String),
}
