//! From prepared documents to write-back statements, shared by the follow loop and the
//! sweep: score what can be scored (off the async threads, engine panics contained), and
//! turn every document into exactly one statement with its counters.
//!
//! A document the engine fails on is not given up at once: the statement records the
//! failure (`lad_scoring_failures` + 1, `lad_scoring_error`) and leaves the document
//! unhandled, so the sweep tries it again later; after `SCORING_MAX_ATTEMPTS` failures it is
//! marked `lad_skipped: "scoring failed"`, the last reason kept.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

use mongodb::bson::{doc, Document};

use crate::config::ServiceConfig;
use crate::model::{HostModel, Reason, Score};
use crate::service::doc::{Action, Prepared, SkipReason, SweepKind};
use crate::service::layers::fleet_events::NewKind;
use crate::service::pipeline::stats::WorkerStats;
use crate::sink::mongo::UpdateStmt;
use crate::source::mongo::FAILURES_FIELD;
use crate::threat::triage::{triage, Triage};

/// Field with a profile's reason for skipping a document.
pub const SKIP_DETAIL_FIELD: &str = "lad_skip_detail";

/// One message to score: its text, a structured document's events, whether it is newer
/// than the model (then remembered), and its time.
struct Item {
    text: String,
    events: Vec<crate::profile::Event>,
    new: bool,
    at: chrono::DateTime<chrono::Utc>,
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// Field with the last scoring failure's reason.
pub const ERROR_FIELD: &str = "lad_scoring_error";
/// Longest reason kept in [`ERROR_FIELD`].
const MAX_REASON: usize = 500;

/// Statements for one batch and what they count.
#[derive(Debug, Default)]
pub(crate) struct Verdicts {
    pub stmts: Vec<UpdateStmt>,
    pub stats: WorkerStats,
    /// Anomalies of a kind new to the host: candidates for a fleet-wide event.
    pub new_kinds: Vec<NewKind>,
}

/// What scoring one message gives.
struct Scored {
    /// The final score (the threat layer's verdict folded in, when it is on).
    score: Score,
    reason: Option<Reason>,
    kind: Option<(u64, String)>,
    triage: Option<Triage>,
}

/// Scores `prepared` with `model` and builds one statement per document. `kind` says why the
/// sweep found a document (`None` for the follow loop).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn verdicts(
    model: &Arc<HostModel>,
    threat: Option<crate::service::layers::threat_feed::SharedEngine>,
    host: &str,
    prepared: Vec<Prepared>,
    cfg: &ServiceConfig,
    kind: impl Fn(&Prepared) -> Option<SweepKind>,
) -> Verdicts {
    let max_attempts = cfg.scoring_max_attempts;
    let version = model.version().to_string();
    let trained_at = model.trained_at();
    let mut prepared = prepared;
    let texts: Vec<Item> = prepared
        .iter_mut()
        .filter_map(|p| match &mut p.action {
            Action::Score {
                text, at, events, ..
            } => Some(Item {
                text: text.clone(),
                events: std::mem::take(events),
                new: *at > trained_at,
                at: *at,
            }),
            Action::Skip(_) => None,
        })
        .collect();
    let mut scores = score_texts(
        model.clone(),
        threat,
        host.to_string(),
        texts,
        cfg.reason_for_all,
    )
    .await
    .into_iter();
    let mut out = Verdicts {
        stmts: Vec::with_capacity(prepared.len()),
        stats: WorkerStats::default(),
        new_kinds: Vec::new(),
    };
    for p in prepared {
        let kind = kind(&p);
        let (set, inc) = match p.action {
            Action::Score { truncated, at, .. } => {
                let result = scores
                    .next()
                    .unwrap_or_else(|| Err("no score returned".into()));
                match result {
                    Ok(s) => {
                        out.stats.count_scored(&s.score, truncated, kind);
                        if let Some((key, template)) = s.kind {
                            out.new_kinds.push(NewKind {
                                id: p.id.clone(),
                                key,
                                template,
                                at,
                            });
                        }
                        let mut set = scored_set(&s.score, s.reason.as_ref(), &version);
                        if let Some(k) = &p.session_key {
                            set.insert(
                                crate::service::layers::sessions::SESSION_KEY_FIELD,
                                k.as_str(),
                            );
                            if let Some(e) = &p.session_event {
                                set.insert(crate::source::mongo::SESSION_EVENT_FIELD, e.as_str());
                            }
                        }
                        if let Some(t) = &s.triage {
                            threat_fields(&mut set, t);
                        }
                        (set, None)
                    }
                    Err(reason) => {
                        let (set, inc, last) = failure_update(p.failures, max_attempts, &reason);
                        out.stats.scoring_failures += 1;
                        if last {
                            out.stats.skip(SkipReason::ScoringFailed);
                        }
                        (set, Some(inc))
                    }
                }
            }
            Action::Skip(reason) => {
                out.stats.skip(reason);
                let mut set = doc! { "lad_skipped": reason.as_str() };
                if let Some(d) = &p.detail {
                    set.insert(SKIP_DETAIL_FIELD, cut(d, MAX_REASON));
                }
                (set, None)
            }
        };
        out.stmts.push(UpdateStmt { id: p.id, set, inc });
    }
    out
}

/// `lad_threat` and `lad_severity` of an anomaly the threat layer saw.
fn threat_fields(set: &mut Document, t: &Triage) {
    if let (Some(kind), Some(sev)) = (&t.threat_type, t.severity) {
        set.insert("lad_threat", kind.as_str());
        set.insert("lad_severity", sev.as_str());
    }
}

/// Field with the reason of a score (every anomaly; every score with `REASON_FOR_ALL`).
pub const REASON_FIELD: &str = "lad_reason";

fn scored_set(s: &Score, reason: Option<&Reason>, version: &str) -> Document {
    let mut set = doc! {
        "is_anomaly": i32::from(s.is_anomaly),
        "anomaly_score": s.anomaly_score,
        "lad_model_version": version,
    };
    if let Some(r) = reason.and_then(|r| mongodb::bson::to_document(r).ok()) {
        set.insert(REASON_FIELD, r);
    }
    set
}

/// `$set`, `$inc` and whether it was the last attempt, for a document whose scoring failed
/// after `previous` earlier failures.
pub(crate) fn failure_update(
    previous: u32,
    max_attempts: u32,
    reason: &str,
) -> (Document, Document, bool) {
    let mut reason = reason.to_string();
    if let Some((cut, _)) = reason.char_indices().nth(MAX_REASON) {
        reason.truncate(cut);
    }
    let last = previous.saturating_add(1) >= max_attempts;
    let mut set = doc! { ERROR_FIELD: reason };
    if last {
        set.insert("lad_skipped", SkipReason::ScoringFailed.as_str());
    }
    (set, doc! { FAILURES_FIELD: 1_i32 }, last)
}

/// Test hook: `LAD_TEST_SCORING_PANIC="SUBSTRING[:TIMES]|…"` makes the engine call panic for
/// messages containing `SUBSTRING` (at most `TIMES` times in this process, or always), so
/// tests can exercise the retry path; the engine itself never panics on input. Read once.
pub const PANIC_HOOK_ENV: &str = "LAD_TEST_SCORING_PANIC";

type PanicRules = Mutex<Vec<(String, Option<u32>)>>;

fn panic_rules() -> &'static PanicRules {
    static RULES: OnceLock<PanicRules> = OnceLock::new();
    RULES.get_or_init(|| {
        let spec = std::env::var(PANIC_HOOK_ENV).unwrap_or_default();
        let rules = spec
            .split('|')
            .filter(|r| !r.is_empty())
            .map(|r| match r.rsplit_once(':') {
                Some((s, n)) if n.parse::<u32>().is_ok() => (s.to_string(), n.parse().ok()),
                _ => (r.to_string(), None),
            })
            .collect();
        Mutex::new(rules)
    })
}

fn test_hook(message: &str) {
    // The lock is released before the panic: a panic while holding it would poison the
    // mutex and silently turn the hook off for the rest of the process.
    let hit = {
        let mut rules = match panic_rules().lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        rules
            .iter_mut()
            .find(|(needle, left)| message.contains(needle.as_str()) && left.is_none_or(|n| n > 0))
            .map(|(needle, left)| {
                if let Some(n) = left {
                    *n -= 1;
                }
                needle.clone()
            })
    };
    if let Some(needle) = hit {
        panic!("{PANIC_HOOK_ENV}: scoring of a message containing {needle:?} fails");
    }
}

fn panic_reason(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("the engine panicked: {what}")
}

/// Scores `texts` off the async threads, in order. A text marked `true` arrived after the
/// model was trained and is remembered once scored (online novelty memory); the others
/// were part of its training window. A panic in the engine is contained: that message gets
/// the reason and the rest of the batch is scored.
async fn score_texts(
    model: Arc<HostModel>,
    threat: Option<crate::service::layers::threat_feed::SharedEngine>,
    host: String,
    texts: Vec<Item>,
    reason_for_all: bool,
) -> Vec<Result<Scored, String>> {
    let n = texts.len();
    if n == 0 {
        return Vec::new();
    }
    let joined = tokio::task::spawn_blocking(move || {
        texts
            .iter()
            .map(|item| {
                let (m, at) = (&item.text, &item.at);
                catch_unwind(AssertUnwindSafe(|| {
                    test_hook(m);
                    score_item(&model, item)
                }))
                .map_err(|p| panic_reason(p.as_ref()))
                .and_then(|v| v.ok_or_else(|| "no score".to_string()))
                .map(|(mut score, by)| {
                    let line_anomaly = score.is_anomaly;
                    let triaged = threat.as_ref().map(|engine| {
                        let finding = match engine.lock() {
                            Ok(mut g) => g.observe(m, &host, *at),
                            Err(p) => p.into_inner().observe(m, &host, *at),
                        };
                        triage(&score, Some(&finding))
                    });
                    if let Some(t) = &triaged {
                        score.is_anomaly = t.is_anomaly;
                        score.anomaly_score = t.anomaly_score;
                    }
                    let explain = score.is_anomaly || reason_for_all;
                    let new_kind = line_anomaly && score.signals.template_count == Some(0);
                    let mut reason = explain.then(|| {
                        let scorer = by
                            .as_ref()
                            .and_then(|b| b.entity_model(&model))
                            .unwrap_or(model.host());
                        let mut r = scorer.reason(&b_text(item, by.as_ref()), &score);
                        if let Some(b) = &by {
                            r.entity.clone_from(&b.entity);
                            r.fallback = b.fallback;
                            r.control = b.control.as_ref().map(control_text);
                        }
                        r
                    });
                    if let (Some(r), Some(t)) = (reason.as_mut(), &triaged) {
                        r.threat = t.threat_reason.clone();
                    }
                    Scored {
                        reason,
                        kind: new_kind.then(|| model.kind_of(m)),
                        score,
                        triage: triaged,
                    }
                })
            })
            .collect()
    })
    .await;
    joined.unwrap_or_else(|e| {
        (0..n)
            .map(|_| Err(format!("scoring task failed: {e}")))
            .collect()
    })
}

/// Which event of a structured document decided its score, and who scored it.
struct ScoredBy {
    /// Index into the document's events.
    event: usize,
    entity: Option<String>,
    fallback: bool,
    control: Option<crate::model::entity::ControlHit>,
}

impl ScoredBy {
    /// The entity model that scored the event (`None`: the host model).
    fn entity_model<'m>(&self, model: &'m HostModel) -> Option<&'m crate::model::Model> {
        if self.fallback {
            return None;
        }
        let ents = model.entities()?;
        ents.model(self.entity.as_deref()?)
    }
}

/// The text a reason is built from: the deciding event's message.
fn b_text(item: &Item, by: Option<&ScoredBy>) -> String {
    match by.and_then(|b| item.events.get(b.event)) {
        Some(e) => e.message.clone(),
        None => item.text.clone(),
    }
}

fn control_text(c: &crate::model::entity::ControlHit) -> String {
    use crate::model::entity::ControlHit;
    match c {
        ControlHit::IgnoredUser(u) => format!("IGNORE_USERS: {u}"),
        ControlHit::IgnoredFile(f) => format!("IGNORE_FILES: {f}"),
        ControlHit::AbuseFile(f) => format!("ABUSE_FILES: {f}"),
    }
}

/// Scores one item: a message as today, or a structured document's events (each with its
/// entity's model and fields; the document gets its highest-scoring event's score).
fn score_item(model: &HostModel, item: &Item) -> Option<(Score, Option<ScoredBy>)> {
    if item.events.is_empty() {
        let m = [item.text.as_str()];
        let v = if item.new {
            model.score_and_learn(&m)
        } else {
            model.score(&m)
        };
        return v.into_iter().next().map(|s| (s, None));
    }
    let mut best: Option<(Score, ScoredBy)> = None;
    for (i, e) in item.events.iter().enumerate() {
        let (hs, _) = model.score_event(e, item.new);
        let better = best
            .as_ref()
            .is_none_or(|(b, _)| hs.score.anomaly_score > b.anomaly_score);
        if better {
            best = Some((
                hs.score,
                ScoredBy {
                    event: i,
                    entity: hs.entity,
                    fallback: hs.fallback,
                    control: hs.control,
                },
            ));
        }
    }
    best.map(|(s, b)| (s, Some(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_retried_then_given_up_with_the_reason() {
        let (set, inc, last) = failure_update(0, 3, "boom");
        assert!(!last);
        assert_eq!(set, doc! { ERROR_FIELD: "boom" });
        assert_eq!(inc, doc! { FAILURES_FIELD: 1_i32 });
        let (set, _, last) = failure_update(2, 3, "boom again");
        assert!(last);
        assert_eq!(
            set,
            doc! { ERROR_FIELD: "boom again", "lad_skipped": "scoring failed" }
        );
        let (set, _, _) = failure_update(0, 1, &"x".repeat(2000));
        assert_eq!(set.get_str(ERROR_FIELD).expect("reason").len(), MAX_REASON);
    }

    #[test]
    fn panic_payloads_become_reasons() {
        let p: Box<dyn std::any::Any + Send> = Box::new("index out of bounds");
        assert_eq!(
            panic_reason(p.as_ref()),
            "the engine panicked: index out of bounds"
        );
        let p: Box<dyn std::any::Any + Send> = Box::new(String::from("owned"));
        assert!(panic_reason(p.as_ref()).ends_with("owned"));
    }
}
