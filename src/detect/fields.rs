//! Field frequency: the values of an event's categorical fields — process, path, command,
//! user, source IP, event type — for this entity.
//!
//! A model is fitted per entity (host, user, …), so "a new process for this user" is a new
//! value of `exe` in the user's model. Each field name counts its training values (see
//! [`crate::features::values`]); an event's evidence is its rarest field value, multiplied
//! by the number of fields it has (Bonferroni). Plain log lines have no fields: the detector
//! is then not fitted at all.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{Detector, DetectorKind, Evidence, Features};
use crate::features::{OnlineValues, TrainingSet, ValueCounter, ValueCounts};
use crate::profile::FieldValue;

/// Fitted value counts per field name.
#[derive(Debug, Serialize, Deserialize)]
pub struct FieldFrequency {
    fields: BTreeMap<String, ValueCounts>,
    #[serde(skip)]
    online: Mutex<BTreeMap<String, OnlineValues>>,
}

/// Whether a field takes part (numbers have their own detector).
fn categorical(v: &FieldValue) -> Option<&str> {
    match v {
        FieldValue::Category(s) | FieldValue::Path(s) | FieldValue::Command(s) => Some(s),
        FieldValue::Number(_) => None,
    }
}

impl FieldFrequency {
    /// `None` when no training event has a categorical field.
    pub fn fit(ts: &TrainingSet<'_>) -> Option<Self> {
        let mut counters: BTreeMap<String, ValueCounter> = BTreeMap::new();
        for ctx in ts.contexts {
            for f in ctx.fields {
                if let Some(v) = categorical(&f.value) {
                    counters.entry(f.name.clone()).or_default().add(v, 1);
                }
            }
        }
        if counters.is_empty() {
            return None;
        }
        Some(Self {
            fields: counters.into_iter().map(|(k, c)| (k, c.finish())).collect(),
            online: Mutex::new(BTreeMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, OnlineValues>> {
        self.online.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rarest field of an event: `(name, value, p before Bonferroni, training count)`.
    pub fn rarest<'a>(&self, f: &Features<'a>) -> Option<(&'a str, &'a str, f64, u64)> {
        let on = self.lock();
        let mut best: Option<(&str, &str, f64, u64)> = None;
        for field in f.context.fields {
            let Some(v) = categorical(&field.value) else {
                continue;
            };
            let counts = self.fields.get(&field.name);
            let p = match counts {
                Some(c) => c.p(v, on.get(&field.name)),
                // A field the entity never had: as surprising as a value never seen.
                None => Some(0.5),
            };
            let Some(p) = p else { continue };
            if best.is_none_or(|(_, _, b, _)| p < b) {
                best = Some((&field.name, v, p, counts.map_or(0, |c| c.count(v))));
            }
        }
        best
    }
}

impl Detector for FieldFrequency {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Fields
    }

    fn evidence(&self, f: &Features<'_>) -> Evidence {
        let n = f
            .context
            .fields
            .iter()
            .filter(|x| categorical(&x.value).is_some())
            .filter(|x| self.fields.get(&x.name).is_none_or(|c| !c.is_open()))
            .count();
        match self.rarest(f) {
            Some((_, _, p, k)) => Evidence {
                raw: k as f64,
                p: (p * n.max(1) as f64).min(1.0),
            },
            None => Evidence { raw: 0.0, p: 1.0 },
        }
    }

    fn cacheable(&self) -> bool {
        false
    }

    fn learn(&self, f: &Features<'_>) {
        let mut on = self.lock();
        for field in f.context.fields {
            let (Some(v), Some(c)) = (categorical(&field.value), self.fields.get(&field.name))
            else {
                continue;
            };
            c.learn(v, on.entry(field.name.clone()).or_default());
        }
    }
}
