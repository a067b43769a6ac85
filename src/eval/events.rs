//! Evaluation on labeled event streams (`../shared/data/security/README.md`): the AIT alerts
//! and every file like them.
//!
//! * **Baseline by time**: train on the events of the first half of the file's time span
//!   (attack floods can outnumber everything else, so a split by row count would put them in
//!   the baseline), or the first N days, or (self mode) on everything.
//! * The label is removed by the profile before the model sees an event.
//! * Reported: the usual keys over the scored events, plus **attack steps found** (distinct
//!   attack labels with at least one flagged event, out of those in the scored part) and
//!   false positives per day.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::metrics;
use super::Mode;
use crate::model::entity::{EntityModels, EntityParams, EntityScore};
use crate::model::{ModelError, ModelParams};
use crate::profile::Event;

/// Where the baseline ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The first half of the time span (the protocol's default).
    HalfTime,
    /// The first N days from the first event.
    Days(u32),
    /// The first half of the events in file order.
    HalfRows,
}

impl std::str::FromStr for Baseline {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "time" => Ok(Self::HalfTime),
            "rows" => Ok(Self::HalfRows),
            d => d
                .strip_suffix('d')
                .unwrap_or(d)
                .parse()
                .map(Self::Days)
                .map_err(|_| format!("baseline '{s}': expected time, rows or a number of days")),
        }
    }
}

/// Per attack step: how many scored events carry it and how many were flagged.
#[derive(Debug, Clone, Serialize, Default)]
pub struct StepReport {
    pub events: usize,
    pub flagged: usize,
}

/// The result object: the protocol's keys plus the attack-step view.
#[derive(Debug, Clone, Serialize)]
pub struct EventEvalReport {
    pub mode: Mode,
    pub n_train: usize,
    pub n_test: usize,
    pub train_seconds: f64,
    pub score_seconds: f64,
    pub messages_per_second: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub flagged_rate: f64,
    pub attack_steps_found: usize,
    pub attack_steps_total: usize,
    pub false_positives: usize,
    pub false_positives_per_day: f64,
    /// Per attack label.
    pub steps: BTreeMap<String, StepReport>,
    /// Events scored by a fallback model (entity with too little history).
    pub fallback_events: usize,
    /// Entities with a model of their own.
    pub entities: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum EventEvalError {
    #[error("no training events before the baseline end ({0}); choose a later baseline")]
    NoTraining(String),
    #[error("no events after the baseline end ({0}); choose an earlier baseline")]
    NoTest(String),
    #[error("events have no timestamps: use --baseline rows")]
    NoTimes,
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Whether a label means "normal" (`normal`, `false`, `0`, `-`, or the given normal label).
pub fn is_normal(label: Option<&str>, normal: &str) -> bool {
    match label {
        None => true,
        Some(l) => {
            let l = l.trim();
            l.eq_ignore_ascii_case(normal)
                || ["normal", "false", "0", "-", ""]
                    .iter()
                    .any(|n| l.eq_ignore_ascii_case(n))
        }
    }
}

/// The index of the first scored event (events must be in time order for time baselines).
pub fn baseline_end(events: &[Event], b: Baseline) -> Result<(usize, String), EventEvalError> {
    let times: Vec<DateTime<Utc>> = events.iter().filter_map(|e| e.timestamp).collect();
    let cut = match b {
        Baseline::HalfRows => return Ok((events.len() / 2, "half of the rows".into())),
        Baseline::HalfTime => {
            let (lo, hi) = (times.iter().min(), times.iter().max());
            let (Some(lo), Some(hi)) = (lo, hi) else {
                return Err(EventEvalError::NoTimes);
            };
            *lo + (*hi - *lo) / 2
        }
        Baseline::Days(d) => {
            let Some(lo) = times.iter().min() else {
                return Err(EventEvalError::NoTimes);
            };
            *lo + Duration::days(i64::from(d))
        }
    };
    let n = events
        .iter()
        .take_while(|e| e.timestamp.is_none_or(|t| t < cut))
        .count();
    Ok((n, cut.to_rfc3339()))
}

/// Runs the protocol on `events` (sorted by time by the caller when a time baseline is used).
pub fn evaluate_events(
    events: &[Event],
    mode: Mode,
    baseline: Baseline,
    normal_label: &str,
    params: &ModelParams,
    entity: &EntityParams,
) -> Result<(EventEvalReport, Vec<EntityScore>), EventEvalError> {
    let (split, cut) = baseline_end(events, baseline)?;
    let (train, test) = match mode {
        Mode::Split => (&events[..split], &events[split..]),
        Mode::SelfTrained => (events, events),
    };
    if train.is_empty() {
        return Err(EventEvalError::NoTraining(cut));
    }
    if test.is_empty() {
        return Err(EventEvalError::NoTest(cut));
    }
    let t0 = Instant::now();
    let models = EntityModels::fit(train, params, entity)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let learn = mode == Mode::Split;
    let scores: Vec<EntityScore> = test.iter().map(|e| models.score(e, learn)).collect();
    let score_seconds = t1.elapsed().as_secs_f64();

    let y: Vec<bool> = test
        .iter()
        .map(|e| !is_normal(e.label.as_deref(), normal_label))
        .collect();
    let flags: Vec<bool> = scores.iter().map(|s| s.score.is_anomaly).collect();
    let values: Vec<f64> = scores.iter().map(|s| s.score.anomaly_score).collect();
    let c = metrics::Confusion::of(&y, &flags);
    let mut steps: BTreeMap<String, StepReport> = BTreeMap::new();
    for ((e, &attack), &flag) in test.iter().zip(&y).zip(&flags) {
        if attack {
            let s = steps
                .entry(e.label.clone().unwrap_or_default())
                .or_default();
            s.events += 1;
            s.flagged += usize::from(flag);
        }
    }
    let times: Vec<DateTime<Utc>> = test.iter().filter_map(|e| e.timestamp).collect();
    let days = match (times.iter().min(), times.iter().max()) {
        (Some(a), Some(b)) => ((*b - *a).num_seconds() as f64 / 86_400.0).max(1.0 / 24.0),
        _ => f64::NAN,
    };
    let report = EventEvalReport {
        mode,
        n_train: train.len(),
        n_test: test.len(),
        train_seconds,
        score_seconds,
        messages_per_second: test.len() as f64 / score_seconds.max(1e-9),
        precision: c.precision(),
        recall: c.recall(),
        f1: c.f1(),
        roc_auc: metrics::roc_auc(&y, &values),
        pr_auc: metrics::average_precision(&y, &values),
        flagged_rate: c.tp.saturating_add(c.fp) as f64 / test.len().max(1) as f64,
        attack_steps_found: steps.values().filter(|s| s.flagged > 0).count(),
        attack_steps_total: steps.len(),
        false_positives: c.fp,
        false_positives_per_day: c.fp as f64 / days,
        steps,
        fallback_events: scores.iter().filter(|s| s.fallback).count(),
        entities: models.entities().count(),
    };
    Ok((report, scores))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_baselines() {
        assert!(is_normal(Some("normal"), "normal"));
        assert!(is_normal(Some("false"), "normal"));
        assert!(is_normal(None, "normal"));
        assert!(!is_normal(Some("wpscan"), "normal"));
        assert!(!is_normal(Some("true"), "normal"));
        assert!(is_normal(Some("benign"), "benign"));
        assert_eq!("time".parse::<Baseline>(), Ok(Baseline::HalfTime));
        assert_eq!("3".parse::<Baseline>(), Ok(Baseline::Days(3)));
        assert_eq!("2d".parse::<Baseline>(), Ok(Baseline::Days(2)));
        assert!("soon".parse::<Baseline>().is_err());
        let mut evs = Vec::new();
        for h in 0..10 {
            let mut e = Event::new(0, h + 1);
            e.timestamp = DateTime::from_timestamp(1_700_000_000 + 3600 * h as i64, 0);
            evs.push(e);
        }
        assert_eq!(baseline_end(&evs, Baseline::HalfTime).unwrap().0, 5);
        assert_eq!(baseline_end(&evs, Baseline::HalfRows).unwrap().0, 5);
        assert_eq!(baseline_end(&evs, Baseline::Days(1)).unwrap().0, 10);
    }
}
