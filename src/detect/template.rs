//! Template frequency: how often this host said this kind of message.
//!
//! The p-value is the share of training messages whose kind is at most as common (see
//! [`crate::features::counts`]), so a kind seen a handful of times among thousands is
//! unusual even though it is "known", and being rare means less on a host full of one-off
//! lines. A kind never seen in training scores the Good–Turing estimate of how often new
//! kinds appear — the strongest evidence this detector gives.
//!
//! Online novelty memory: messages scored after training are remembered (their count, and
//! new kinds in a small online miner), so a new kind is surprising the first time and less
//! so every time after, and a burst of new kinds (a reboot, a deploy) raises the estimate of
//! how often new kinds appear instead of flagging every line of it. The memory lives until
//! the next retrain; it is not saved with the model.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{Detector, DetectorKind, Evidence, Features};
use crate::features::{
    OnlineCounts, TailTable, TemplateMiner, TemplateParams, TrainingSet, Unseen,
};

/// Fitted template counts.
#[derive(Debug, Serialize, Deserialize)]
pub struct TemplateFrequency {
    /// Training messages per template id.
    counts: Vec<u64>,
    table: TailTable,
    similarity: TemplateParams,
    #[serde(skip)]
    online: Mutex<Online>,
}

/// What was learned after training.
#[derive(Debug, Default)]
struct Online {
    /// Messages of each trained kind since training.
    trained: Vec<u64>,
    /// New kinds, mined with plain (unweighted) similarity, and their counts.
    miner: Option<TemplateMiner>,
    counts: OnlineCounts,
    /// Messages learned in all.
    learned: u64,
}

impl TemplateFrequency {
    pub fn fit(ts: &TrainingSet<'_>) -> Self {
        let mut counts = vec![0u64; ts.miner.len()];
        for ((_, n), &t) in ts.sequences.iter().zip(ts.templates) {
            if let Some(c) = counts.get_mut(t as usize) {
                *c += n;
            }
        }
        Self {
            table: TailTable::from_counts(counts.iter().copied()),
            counts,
            similarity: ts.miner.params(),
            online: Mutex::new(Online::default()),
        }
    }

    pub(super) fn after_load(&mut self) {
        self.online = Mutex::new(Online::default());
    }

    /// Training messages of template `id`.
    pub fn count(&self, id: u32) -> u64 {
        self.counts.get(id as usize).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Online> {
        self.online.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Detector for TemplateFrequency {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Template
    }

    fn evidence(&self, f: &Features<'_>) -> Evidence {
        let on = self.lock();
        if let Some(id) = f.template {
            let c = self.count(id);
            if c > 0 {
                let o = on.trained.get(id as usize).copied().unwrap_or(0);
                let k = self.table.rescaled(c, o, on.learned);
                return Evidence {
                    raw: c as f64,
                    p: self.table.p_at(k),
                };
            }
        }
        let unseen = self
            .table
            .p_unseen(Unseen::GoodTuring, on.counts.keys(), on.learned);
        let seen_online = on
            .miner
            .as_ref()
            .and_then(|m| m.find(f.tokens))
            .map_or(0, |id| on.counts.count(id as usize));
        let p = if seen_online == 0 {
            unseen
        } else {
            unseen.max(on.counts.p(&self.table, seen_online, on.learned))
        };
        Evidence { raw: 0.0, p }
    }

    fn cacheable(&self) -> bool {
        false
    }

    fn learn(&self, f: &Features<'_>) {
        let mut on = self.lock();
        on.learned += 1;
        if let Some(id) = f.template.filter(|&id| self.count(id) > 0) {
            let id = id as usize;
            if on.trained.len() <= id {
                on.trained.resize(self.counts.len().max(id + 1), 0);
            }
            on.trained[id] += 1;
            return;
        }
        let sim = self.similarity;
        let miner = on
            .miner
            .get_or_insert_with(|| TemplateMiner::new(sim, Default::default()));
        let id = miner.add(f.tokens) as usize;
        on.counts.add(id);
    }
}
