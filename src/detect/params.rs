//! Parameter frequency: the values inside a known kind of message.
//!
//! `Accepted publickey for deploy from <ip>` is an everyday message; the same message for a
//! user who never logged in here is not. For every parameter slot of every template the
//! detector counts the training values; a message's evidence is its rarest slot value, as a
//! tail p-value within that slot (see [`crate::features::counts`]), multiplied by the number
//! of slots (Bonferroni: a template with ten slots gets ten chances to look odd).
//!
//! A value never seen in the slot scores the rate at which the slot met new values in
//! training (`½ · distinct / count`), not Good–Turing: slot values arrive in bursts (one
//! client makes 40 connections, then the next one), so a slot can have no singletons and
//! still take new values all the time. A slot that took more than [`MAX_VALUES`] distinct
//! values (process ids, request ids that escaped masking) is "open": it carries no evidence
//! and its values are not kept.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{Detector, DetectorKind, Evidence, Features};
use crate::features::{TailTable, TrainingSet, Unseen};

/// Slots with more distinct training values than this carry no evidence.
pub const MAX_VALUES: usize = 1024;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Slot {
    /// Training count per value (empty when open).
    values: HashMap<String, u64>,
    table: TailTable,
    open: bool,
}

/// Fitted slot value counts.
#[derive(Debug, Serialize, Deserialize)]
pub struct ParamFrequency {
    /// Per template id, per slot.
    slots: Vec<Vec<Slot>>,
    #[serde(skip)]
    online: Mutex<HashMap<(u32, usize), OnlineSlot>>,
}

#[derive(Debug, Default)]
struct OnlineSlot {
    /// Values seen after training (trained or new), with their online counts.
    values: HashMap<String, u64>,
    /// Of those, how many were new to the slot.
    new: u64,
    /// Messages of this template learned in all.
    learned: u64,
}

impl ParamFrequency {
    pub fn fit(ts: &TrainingSet<'_>) -> Self {
        let mut raw: Vec<Vec<HashMap<String, u64>>> = (0..ts.miner.len() as u32)
            .map(|id| {
                let n = ts.miner.template(id).map_or(0, |t| t.slots().count());
                vec![HashMap::new(); n]
            })
            .collect();
        for ((tokens, n), &id) in ts.sequences.iter().zip(ts.templates) {
            let values = ts.miner.values(id, tokens);
            if let Some(slots) = raw.get_mut(id as usize) {
                for (slot, v) in slots.iter_mut().zip(values) {
                    if slot.len() <= MAX_VALUES || slot.contains_key(v) {
                        *slot.entry(v.to_string()).or_insert(0) += n;
                    }
                }
            }
        }
        let slots = raw
            .into_iter()
            .map(|slots| {
                slots
                    .into_iter()
                    .map(|values| {
                        let table = TailTable::from_counts(values.values().copied());
                        if values.len() > MAX_VALUES {
                            Slot {
                                values: HashMap::new(),
                                table,
                                open: true,
                            }
                        } else {
                            Slot {
                                values,
                                table,
                                open: false,
                            }
                        }
                    })
                    .collect()
            })
            .collect();
        Self {
            slots,
            online: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u32, usize), OnlineSlot>> {
        self.online.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rarest slot of a message: `(slot index, p before Bonferroni, training count)`.
    pub fn rarest(&self, f: &Features<'_>) -> Option<(usize, f64, u64)> {
        let slots = self.slots.get(f.template? as usize)?;
        let mut online = None;
        let mut best: Option<(usize, f64, u64)> = None;
        for (i, (slot, v)) in slots.iter().zip(f.params).enumerate() {
            if slot.open {
                continue;
            }
            let k = slot.values.get(*v).copied().unwrap_or(0);
            let on = online.get_or_insert_with(|| self.lock());
            let (new, learned, seen) = match on.get(&(f.template?, i)) {
                Some(o) => (o.new, o.learned, o.values.get(*v).copied().unwrap_or(0)),
                None => (0, 0, 0),
            };
            let p = if k > 0 {
                slot.table.p_at(slot.table.rescaled(k, seen, learned))
            } else {
                let unseen = slot.table.p_unseen(Unseen::DistinctRate, new, learned);
                if seen > 0 {
                    // Place the value among training values and the other new ones.
                    let (mut below, mut at) = slot.table.mass_below_at(seen);
                    if let Some(o) = on.get(&(f.template?, i)) {
                        for (val, &c) in &o.values {
                            if slot.values.contains_key(val) {
                                continue;
                            }
                            if c < seen {
                                below += c;
                            } else if c == seen {
                                at += c;
                            }
                        }
                    }
                    let total = (slot.table.total() + learned).max(1) as f64;
                    unseen.max((below as f64 + 0.5 * at as f64) / total)
                } else {
                    unseen
                }
            };
            if best.is_none_or(|(_, b, _)| p < b) {
                best = Some((i, p, k));
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
            .map_or(0, |s| s.iter().filter(|slot| !slot.open).count());
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
            if slot.open {
                continue;
            }
            let o = on.entry((id, i)).or_default();
            o.learned += 1;
            let is_new = !slot.values.contains_key(*v);
            let room = o.values.len() < MAX_VALUES;
            match o.values.get_mut(*v) {
                Some(c) => *c += 1,
                None if room => {
                    o.values.insert(v.to_string(), 1);
                    o.new += u64::from(is_new);
                }
                None => {}
            }
        }
    }
}
