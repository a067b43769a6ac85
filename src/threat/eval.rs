//! The evaluation protocol of labeled event streams (`../shared/data/security/README.md`):
//!
//! * **baseline by time**: fit on the events of the first half of the stream's *time span*,
//!   score the rest (attack floods can outnumber everything else, so a split by count would
//!   put them in the baseline); [`BaselineSplit::SelfFit`] fits on everything and scores
//!   everything (for recordings with no clean period);
//! * the label is removed before the engine sees an event (each event is copied without it);
//! * reported: precision, recall, F1, ROC-AUC, PR-AUC (scikit-learn's definitions, shared
//!   with `lad eval`), flagged rate, **attack steps found** (distinct attack labels with at
//!   least one flagged event, out of those present in the scored part), false positives per
//!   day of scored time, and what the flagged events were typed as.
//!
//! The line model's evidence can be folded in ([`LineEvidence`], one per scored event) the
//! way the ensemble is meant to combine them: `odds = contamination · λ_line · λ_threat /
//! min(p_line, rate_p)`; without it the threat layer is measured alone.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::classify::{combine, Severity, ThreatType};
use super::engine::{ThreatEngine, ThreatFinding, ThreatParams};
use super::rules::RuleFile;
use super::ThreatError;
use crate::eval::metrics::{average_precision, roc_auc, Confusion};
use crate::profile::Event;

/// Which events train and which are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BaselineSplit {
    /// Train on events before the middle of the time span, score the rest.
    TimeHalf,
    /// Train on events before this time, score the rest.
    Until(DateTime<Utc>),
    /// Train on everything, then score everything from a fresh stream.
    SelfFit,
}

/// Labels that mean "not an attack" (case-insensitive).
pub const NORMAL_LABELS: &[&str] = &["normal", "benign", "0", "false", "none", "-"];

/// The line model's evidence for one scored event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LineEvidence {
    /// Novelty p-value.
    pub p: f64,
    /// Severity prior λ.
    pub lambda: f64,
}

/// Per attack step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub label: String,
    pub events: usize,
    pub flagged: usize,
}

/// The result. Field names follow `lad eval` where they mean the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvalReport {
    pub split: BaselineSplit,
    pub with_line_model: bool,
    pub n_baseline: usize,
    pub n_scored: usize,
    /// Scored events with an attack label.
    pub n_attack: usize,
    /// Scored events without any label (left out of the metrics).
    pub n_unlabeled: usize,
    pub scored_days: f64,
    pub contamination: f64,
    pub fit_seconds: f64,
    pub score_seconds: f64,
    pub events_per_second: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub flagged_rate: f64,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_positives_per_day: f64,
    pub steps_present: usize,
    pub steps_found: usize,
    pub steps: Vec<StepResult>,
    /// Flagged events by threat type, and how many of them were attacks.
    pub flagged_by_threat: BTreeMap<String, (usize, usize)>,
    /// Flagged events by severity.
    pub flagged_by_severity: BTreeMap<String, usize>,
}

/// One scored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Index into the input events.
    pub index: usize,
    pub finding: ThreatFinding,
    /// The score the metrics use: the finding's, or combined with the line model's.
    pub score: f64,
}

fn is_normal(label: &str) -> bool {
    let l = label.trim();
    NORMAL_LABELS.iter().any(|n| n.eq_ignore_ascii_case(l))
}

/// Indices of baseline and scored events, each in input order.
pub fn split_indices(events: &[Event], split: BaselineSplit) -> (Vec<usize>, Vec<usize>) {
    let cut = match split {
        BaselineSplit::SelfFit => {
            return ((0..events.len()).collect(), (0..events.len()).collect())
        }
        BaselineSplit::Until(t) => t,
        BaselineSplit::TimeHalf => {
            let times = events.iter().filter_map(|e| e.timestamp);
            let (lo, hi) = times.fold((None, None), |(lo, hi): (Option<DateTime<Utc>>, _), t| {
                (
                    Some(lo.map_or(t, |l| l.min(t))),
                    Some(hi.map_or(t, |h: DateTime<Utc>| h.max(t))),
                )
            });
            match (lo, hi) {
                (Some(lo), Some(hi)) => lo + (hi - lo) / 2,
                _ => return ((0..events.len()).collect(), Vec::new()),
            }
        }
    };
    // Events without a time go with the last timed event before them.
    let mut last = None;
    let mut base = Vec::new();
    let mut scored = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let t = e.timestamp.or(last);
        last = t;
        if t.is_some_and(|t| t < cut) {
            base.push(i);
        } else {
            scored.push(i);
        }
    }
    (base, scored)
}

/// Fits, scores and measures. `line`, if given, has one entry per scored event (in the
/// order of [`split_indices`]'s second list).
pub fn evaluate_alerts(
    events: &[Event],
    split: BaselineSplit,
    rules: &RuleFile,
    params: &ThreatParams,
    line: Option<&[LineEvidence]>,
) -> Result<(AlertEvalReport, Vec<Scored>), ThreatError> {
    let (base_idx, scored_idx) = split_indices(events, split);
    if let Some(l) = line {
        if l.len() != scored_idx.len() {
            return Err(ThreatError::Rate(format!(
                "line evidence for {} events, but {} are scored",
                l.len(),
                scored_idx.len()
            )));
        }
    }
    let unlabeled = |i: usize| {
        let mut e = events[i].clone();
        e.label = None;
        e
    };
    let mut engine = ThreatEngine::new(rules, params.clone())?;
    let t0 = Instant::now();
    let baseline: Vec<Event> = base_idx.iter().map(|&i| unlabeled(i)).collect();
    engine.fit(&baseline);
    drop(baseline);
    if split == BaselineSplit::SelfFit {
        engine.restart_stream();
    }
    let fit_seconds = t0.elapsed().as_secs_f64();
    let c = engine.contamination();
    let t1 = Instant::now();
    let mut out = Vec::with_capacity(scored_idx.len());
    for (k, &i) in scored_idx.iter().enumerate() {
        let finding = engine.observe(&unlabeled(i));
        let score = match line {
            Some(l) => {
                let le = l[k];
                combine(c, finding.lambda * le.lambda, finding.rate_p.min(le.p))
            }
            None => finding.score,
        };
        out.push(Scored {
            index: i,
            finding,
            score,
        });
    }
    let score_seconds = t1.elapsed().as_secs_f64();

    let mut truth = Vec::new();
    let mut scores = Vec::new();
    let mut flags = Vec::new();
    let mut steps: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut by_threat: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut by_sev: BTreeMap<String, usize> = BTreeMap::new();
    let mut unlabeled_n = 0;
    for s in &out {
        let flagged = s.score >= 0.5;
        if flagged {
            let sev = Severity::of(s.score).map_or("-", Severity::as_str);
            *by_sev.entry(sev.to_string()).or_insert(0) += 1;
        }
        let Some(label) = events[s.index].label.as_deref() else {
            unlabeled_n += 1;
            continue;
        };
        let attack = !is_normal(label);
        truth.push(attack);
        scores.push(s.score);
        flags.push(flagged);
        if attack {
            let e = steps.entry(label.to_string()).or_insert((0, 0));
            e.0 += 1;
            e.1 += flagged as usize;
        }
        if flagged {
            let t = if s.finding.is_anomaly || s.finding.threat_type != ThreatType::Unusual {
                s.finding.threat_type.to_string()
            } else {
                ThreatType::Unusual.to_string()
            };
            let e = by_threat.entry(t).or_insert((0, 0));
            e.0 += 1;
            e.1 += attack as usize;
        }
    }
    let conf = Confusion::of(&truth, &flags);
    let scored_days = {
        let times: Vec<i64> = scored_idx
            .iter()
            .filter_map(|&i| events[i].timestamp.map(|t| t.timestamp_millis()))
            .collect();
        match (times.iter().min(), times.iter().max()) {
            (Some(a), Some(b)) => (b - a) as f64 / 86_400_000.0,
            _ => 0.0,
        }
    };
    let n_flagged = flags.iter().filter(|&&f| f).count();
    let report = AlertEvalReport {
        split,
        with_line_model: line.is_some(),
        n_baseline: base_idx.len(),
        n_scored: out.len(),
        n_attack: truth.iter().filter(|&&t| t).count(),
        n_unlabeled: unlabeled_n,
        scored_days,
        contamination: c,
        fit_seconds,
        score_seconds,
        events_per_second: out.len() as f64 / score_seconds.max(1e-9),
        precision: conf.precision(),
        recall: conf.recall(),
        f1: conf.f1(),
        roc_auc: roc_auc(&truth, &scores),
        pr_auc: average_precision(&truth, &scores),
        flagged_rate: if truth.is_empty() {
            0.0
        } else {
            n_flagged as f64 / truth.len() as f64
        },
        true_positives: conf.tp,
        false_positives: conf.fp,
        false_positives_per_day: if scored_days > 0.0 {
            conf.fp as f64 / scored_days.max(1.0 / 24.0)
        } else {
            conf.fp as f64
        },
        steps_present: steps.len(),
        steps_found: steps.values().filter(|(_, f)| *f > 0).count(),
        steps: steps
            .into_iter()
            .map(|(label, (events, flagged))| StepResult {
                label,
                events,
                flagged,
            })
            .collect(),
        flagged_by_threat: by_threat,
        flagged_by_severity: by_sev,
    };
    Ok((report, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ms: i64, host: &str, kind: &str, label: &str) -> Event {
        let mut e = Event::new(0, 1);
        e.timestamp = DateTime::from_timestamp_millis(ms);
        e.host = Some(host.into());
        e.message = format!("{kind} alert");
        e.fields.push(crate::profile::Field {
            name: "event_type".into(),
            value: crate::profile::FieldValue::Category(kind.into()),
        });
        e.label = Some(label.into());
        e
    }

    /// Two days of steady alerts, then a flood of a known kind on one host (the attack).
    fn stream() -> Vec<Event> {
        let mut out = Vec::new();
        let min = 60_000;
        for m in 0..(4 * 24 * 60) {
            for (h, kind) in [("web", "E1"), ("mail", "E2"), ("db", "E3")] {
                if (m + h.len() as i64) % 3 == 0 {
                    out.push(ev(m * min, h, kind, "normal"));
                }
            }
            if m == 3 * 24 * 60 {
                for i in 0..2000 {
                    out.push(ev(m * min + i * 10, "web", "E1", "scan"));
                }
            }
        }
        out
    }

    #[test]
    fn a_flood_of_a_known_alert_kind_is_found_with_few_false_positives() {
        let events = stream();
        let (base, scored) = split_indices(&events, BaselineSplit::TimeHalf);
        assert!(base
            .iter()
            .all(|&i| events[i].label.as_deref() == Some("normal")));
        assert_eq!(base.len() + scored.len(), events.len());
        let (r, out) = evaluate_alerts(
            &events,
            BaselineSplit::TimeHalf,
            &RuleFile::shipped(),
            &ThreatParams::default(),
            None,
        )
        .unwrap();
        assert_eq!(out.len(), r.n_scored);
        assert_eq!((r.steps_present, r.steps_found), (1, 1));
        assert!(r.recall > 0.9, "{r:?}");
        assert!(r.false_positives_per_day <= 20.0, "{r:?}");
        assert!(r.roc_auc > 0.95, "{r:?}");
        assert!(r.flagged_by_threat.contains_key("alert_flood"), "{r:?}");
        // Line evidence of the wrong length is an error, not a panic.
        assert!(evaluate_alerts(
            &events,
            BaselineSplit::TimeHalf,
            &RuleFile::shipped(),
            &ThreatParams::default(),
            Some(&[]),
        )
        .is_err());
    }

    #[test]
    fn self_fit_scores_everything_and_untimed_events_follow_their_predecessor() {
        let mut events = stream();
        events[10].timestamp = None;
        let (b, s) = split_indices(&events, BaselineSplit::SelfFit);
        assert_eq!((b.len(), s.len()), (events.len(), events.len()));
        let (b, _) = split_indices(&events, BaselineSplit::TimeHalf);
        assert!(b.contains(&10));
        assert!(split_indices(&[], BaselineSplit::TimeHalf).1.is_empty());
    }
}
