//! Parameter frequency: the values inside a known kind of message.
//!
//! `Accepted publickey for deploy from <ip>` is an everyday message; the same message for a
//! user who never logged in here is not. For every parameter slot of every template the
//! detector counts the training values (see [`crate::features::values`]); a message's evidence
//! is its rarest slot value, multiplied by the number of slots (Bonferroni: a template with
//! ten slots gets ten chances to look odd).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{Detector, DetectorKind, Evidence, Features};
use crate::features::{OnlineValues, TrainingSet, ValueCounter, ValueCounts};

/// Fitted slot value counts.
#[derive(Debug, Serialize, Deserialize)]
pub struct ParamFrequency {
    /// Per template id, per slot.
    slots: Vec<Vec<ValueCounts>>,
    #[serde(skip)]
    online: Mutex<HashMap<(u32, usize), OnlineValues>>,
}

impl ParamFrequency {
    pub fn fit(ts: &TrainingSet<'_>) -> Self {
        let mut raw: Vec<Vec<ValueCounter>> = (0..ts.miner.len() as u32)
            .map(|id| {
                let n = ts.miner.template(id).map_or(0, |t| t.slots().count());
                (0..n).map(|_| ValueCounter::default()).collect()
            })
            .collect();
        for ((tokens, n), &id) in ts.sequences.iter().zip(ts.templates) {
            let values = ts.miner.values(id, tokens);
            if let Some(slots) = raw.get_mut(id as usize) {
                for (slot, v) in slots.iter_mut().zip(values) {
                    slot.add(v, *n);
                }
            }
        }
        Self {
            slots: raw
                .into_iter()
                .map(|s| s.into_iter().map(ValueCounter::finish).collect())
                .collect(),
            online: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u32, usize), OnlineValues>> {
        self.online.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rarest slot of a message: `(slot index, p before Bonferroni, training count)`.
    pub fn rarest(&self, f: &Features<'_>) -> Option<(usize, f64, u64)> {
        let id = f.template?;
        let slots = self.slots.get(id as usize)?;
        let on = self.lock();
        let mut best: Option<(usize, f64, u64)> = None;
        for (i, (slot, v)) in slots.iter().zip(f.params).enumerate() {
            let Some(p) = slot.p(v, on.get(&(id, i))) else {
                continue;
            };
            if best.is_none_or(|(_, b, _)| p < b) {
                best = Some((i, p, slot.count(v)));
            }
        }
        best
    }
}

impl Detector for ParamFrequency {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Params
    }

    fn evidence(&self, f: &Features<'_>) -> Evidence {
        let n = f
            .template
            .and_then(|id| self.slots.get(id as usize))
            .map_or(0, |s| s.iter().filter(|slot| !slot.is_open()).count());
        match self.rarest(f) {
            Some((_, p, k)) => Evidence {
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
        let Some(id) = f.template else { return };
        let Some(slots) = self.slots.get(id as usize) else {
            return;
        };
        let mut on = self.lock();
        for (i, (slot, v)) in slots.iter().zip(f.params).enumerate() {
            slot.learn(v, on.entry((id, i)).or_default());
        }
    }
}
