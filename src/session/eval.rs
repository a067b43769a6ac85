//! Session-level evaluation, following the protocol of `../shared/data/README.md` and the
//! "Session sequences" section of `../shared/data/security/README.md`.
//!
//! * Sessions JSONL (one session a line: `session`, `label`, `events`): labels are taken out
//!   before the model sees a session. [`EvalMode::Split`] fits on the first half in file
//!   order and scores the second; [`EvalMode::SelfFit`] fits on everything and scores
//!   everything (unsupervised, contaminated).
//! * Raw HDFS lines: every line's event is its masked template (the masked tokenizer's
//!   tokens joined by a space); sessions are keyed by `blk_-?\d+` (a line naming two blocks
//!   belongs to both); labels per block from the `BlockId,Label` CSV. Split mode is a stream
//!   cut in time, as a running service sees it: the model is fitted at the cut on what the
//!   sessionizer holds after the first half of the lines (the sessions closed before the
//!   cut, and the open ones as they stand then), and every session that closes after the
//!   cut is scored, whole, when it closes (the sessionizer keeps running across the cut).
//!   A block is flagged when any of its scored sessions is; its score is their maximum.
//!
//! Metrics have scikit-learn's definitions: ROC-AUC with ties counted half, PR-AUC as
//! average precision.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::group::{ClosedSession, Sessionizer, SessionizerParams};
use super::model::{SessionModel, SessionParams, SessionScore};
use super::SessionError;
use crate::profile::Tokenizer;

/// A session as read from a sessions JSONL file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabeledSession {
    pub session: String,
    /// Ground truth (true = anomalous), when the file has it. Never shown to the model.
    pub label: Option<bool>,
    pub events: Vec<String>,
}

/// A line of input that gave no session, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedLine {
    /// 1-based.
    pub line: usize,
    pub reason: String,
}

/// Which sessions train and which are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EvalMode {
    /// Fit on the first half in file order, score the second half.
    #[serde(rename = "split")]
    Split,
    /// Fit on everything, score everything.
    #[serde(rename = "self")]
    SelfFit,
}

impl std::str::FromStr for EvalMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "split" => Ok(Self::Split),
            "self" => Ok(Self::SelfFit),
            o => Err(format!(
                "unknown eval mode '{o}': expected 'split' or 'self'"
            )),
        }
    }
}

/// The result object. Field names are the protocol's keys, plus a few diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionEvalReport {
    pub mode: EvalMode,
    /// Training sessions.
    pub n_train: usize,
    /// Scored, labeled sessions (HDFS lines: test blocks).
    pub n_test: usize,
    pub n_test_anomalous: usize,
    /// Events in the scored sessions.
    pub n_test_events: usize,
    pub train_seconds: f64,
    pub score_seconds: f64,
    pub events_per_second: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    /// Share of scored sessions flagged.
    pub flagged_rate: f64,
    /// Share of training sessions above the threshold.
    pub train_flagged_rate: f64,
    pub contamination: f64,
    /// Diagnostic, not a result: the best F1 over all thresholds of the score (it uses the
    /// labels to choose the threshold). The gap to `f1` is the cost of calibration.
    pub best_f1_any_threshold: f64,
    /// Scored sessions without a label (excluded from the metrics).
    pub n_unlabeled: usize,
}

/// Splits on `\n`, `\r\n` and bare `\r`; blank lines dropped, 1-based line numbers kept.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(['\n', '\r'])
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
}

/// Parses a sessions JSONL text. Lines that are not objects with an `events` array are
/// skipped with a reason; `label` may be 0/1, a bool or `Normal`/`Anomaly`; a missing
/// `session` becomes `line N`; non-string events are kept as their JSON text.
pub fn parse_sessions_jsonl(text: &str) -> (Vec<LabeledSession>, Vec<SkippedLine>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    // Line numbers count `\r\n` as one break.
    let normalized;
    let text = if text.contains("\r\n") {
        normalized = text.replace("\r\n", "\n");
        normalized.as_str()
    } else {
        text
    };
    for (line, raw) in lines(text) {
        let v: serde_json::Value = match serde_json::from_str(raw) {
            Ok(v) => v,
            Err(e) => {
                skipped.push(SkippedLine {
                    line,
                    reason: format!("not JSON: {e}"),
                });
                continue;
            }
        };
        let Some(events) = v.get("events").and_then(|e| e.as_array()) else {
            skipped.push(SkippedLine {
                line,
                reason: "no 'events' array".into(),
            });
            continue;
        };
        let events = events
            .iter()
            .map(|e| match e {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let session = match v.get("session") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => format!("line {line}"),
        };
        let label = v.get("label").and_then(parse_label);
        out.push(LabeledSession {
            session,
            label,
            events,
        });
    }
    (out, skipped)
}

fn parse_label(v: &serde_json::Value) -> Option<bool> {
    match v {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::Number(n) => n.as_f64().map(|x| x != 0.0),
        serde_json::Value::String(s) => label_word(s),
        _ => None,
    }
}

fn label_word(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "anomaly" | "anomalous" | "abnormal" | "1" | "true" => Some(true),
        "normal" | "0" | "false" => Some(false),
        _ => None,
    }
}

/// Reads a sessions JSONL file (see [`parse_sessions_jsonl`]).
pub fn read_sessions_jsonl(
    path: &Path,
) -> Result<(Vec<LabeledSession>, Vec<SkippedLine>), SessionError> {
    let bytes = read(path)?;
    Ok(parse_sessions_jsonl(&String::from_utf8_lossy(&bytes)))
}

fn read(path: &Path) -> Result<Vec<u8>, SessionError> {
    std::fs::read(path).map_err(|source| SessionError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs the protocol on sessions. Every scored session needs a label.
pub fn evaluate_sessions(
    sessions: &[LabeledSession],
    mode: EvalMode,
    params: &SessionParams,
) -> Result<SessionEvalReport, SessionError> {
    let (train, test): (&[LabeledSession], &[LabeledSession]) = match mode {
        EvalMode::Split => {
            let n_train = sessions.len() / 2;
            if n_train == 0 || n_train >= sessions.len() {
                return Err(SessionError::TooFew(sessions.len()));
            }
            sessions.split_at(n_train)
        }
        EvalMode::SelfFit => {
            if sessions.is_empty() {
                return Err(SessionError::TooFew(0));
            }
            (sessions, sessions)
        }
    };
    if let Some(s) = test.iter().find(|s| s.label.is_none()) {
        return Err(SessionError::NoLabel(s.session.clone()));
    }
    let t0 = Instant::now();
    // The model gets event lists only: the labels stay here.
    let train_events: Vec<&[String]> = train.iter().map(|s| s.events.as_slice()).collect();
    let model = SessionModel::fit(&train_events, params)?;
    let train_seconds = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let scores: Vec<SessionScore> = test.iter().map(|s| model.score(&s.events)).collect();
    let score_seconds = t1.elapsed().as_secs_f64();

    let truth: Vec<bool> = test.iter().map(|s| s.label.unwrap_or(false)).collect();
    let n_test_events = test.iter().map(|s| s.events.len()).sum();
    Ok(report(
        mode,
        &model,
        &truth,
        &scores,
        Timing {
            train_seconds,
            score_seconds,
            n_test_events,
        },
        0,
    ))
}

struct Timing {
    train_seconds: f64,
    score_seconds: f64,
    n_test_events: usize,
}

fn report(
    mode: EvalMode,
    model: &SessionModel,
    truth: &[bool],
    scores: &[SessionScore],
    t: Timing,
    n_unlabeled: usize,
) -> SessionEvalReport {
    let s: Vec<f64> = scores.iter().map(|x| x.score).collect();
    let flags: Vec<bool> = scores.iter().map(|x| x.is_anomaly).collect();
    let c = Confusion::of(truth, &flags);
    let n = truth.len();
    SessionEvalReport {
        mode,
        n_train: model.n_train(),
        n_test: n,
        n_test_anomalous: truth.iter().filter(|&&x| x).count(),
        n_test_events: t.n_test_events,
        train_seconds: t.train_seconds,
        score_seconds: t.score_seconds,
        events_per_second: t.n_test_events as f64 / t.score_seconds.max(1e-9),
        precision: c.precision(),
        recall: c.recall(),
        f1: c.f1(),
        roc_auc: roc_auc(truth, &s),
        pr_auc: average_precision(truth, &s),
        flagged_rate: if n == 0 {
            0.0
        } else {
            flags.iter().filter(|&&f| f).count() as f64 / n as f64
        },
        train_flagged_rate: model.train_flagged_rate(),
        contamination: model.params().contamination,
        best_f1_any_threshold: best_f1(truth, &s),
        n_unlabeled,
    }
}

/// Block labels from a `BlockId,Label` CSV (`Normal`/`Anomaly`, or 0/1). A header line and
/// malformed lines are ignored.
pub fn parse_block_labels(text: &str) -> HashMap<String, bool> {
    let mut out = HashMap::new();
    for (_, line) in lines(text) {
        let mut parts = line.split(',');
        let (Some(id), Some(label)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let Some(l) = label_word(label) {
            out.insert(id.trim().to_string(), l);
        }
    }
    out
}

pub fn read_block_labels(path: &Path) -> Result<HashMap<String, bool>, SessionError> {
    Ok(parse_block_labels(&String::from_utf8_lossy(&read(path)?)))
}

/// The event id of a raw HDFS line: its masked tokens joined by a space. The sign of a block
/// id is not part of the template (`blk_-12` and `blk_34` both mask to `blk_#`), else every
/// event type would come in two versions, one for each half of the blocks.
pub fn hdfs_line_template(line: &str) -> String {
    Tokenizer::Masked
        .tokens(&line.replace("blk_-", "blk_"))
        .join(" ")
}

/// The time of an HDFS line (`yyMMdd HHmmss …`, taken as UTC, 20yy), in Unix milliseconds.
pub fn hdfs_line_time_ms(line: &str) -> Option<i64> {
    let mut f = line.split_whitespace();
    let (d, t) = (f.next()?, f.next()?);
    if d.len() != 6 || t.len() != 6 || !d.bytes().chain(t.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |s: &str| s.parse::<i64>().ok();
    let (yy, mo, dd) = (n(&d[0..2])?, n(&d[2..4])?, n(&d[4..6])?);
    let (hh, mi, ss) = (n(&t[0..2])?, n(&t[2..4])?, n(&t[4..6])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&dd) || hh > 23 || mi > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(2000 + yy, mo, dd);
    Some(((days * 24 + hh) * 60 + mi) * 60_000 + ss * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Raw lines and, for those tokenized so far, their interned template ids and times.
struct Lines<'a> {
    text: Vec<&'a str>,
    ids: Vec<u32>,
    names: Vec<String>,
    times: Vec<Option<i64>>,
    index: HashMap<String, u32>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            text: lines(text).map(|(_, l)| l).collect(),
            ids: Vec::new(),
            names: Vec::new(),
            times: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Tokenizes lines up to `end` (exclusive), so the cost lands in the phase that needs it.
    fn tokenize_to(&mut self, end: usize) {
        for i in self.ids.len()..end.min(self.text.len()) {
            let l = self.text[i];
            let t = hdfs_line_template(l);
            let next = self.names.len() as u32;
            let names = &mut self.names;
            let id = *self.index.entry(t).or_insert_with_key(|k| {
                names.push(k.clone());
                next
            });
            self.ids.push(id);
            self.times.push(hdfs_line_time_ms(l));
        }
    }

    fn event(&self, i: usize) -> super::group::EventIn<'a> {
        super::group::EventIn {
            time_ms: self.times[i],
            message: self.text[i],
            fields: &[],
        }
    }
}

/// Sessions of raw HDFS lines (keyed as `sessionizer` says, `blk_-?\d+` by default), each
/// labeled from the block labels (`None` for a block not in them), in order of closing.
pub fn hdfs_sessions(
    log_text: &str,
    labels: &HashMap<String, bool>,
    sessionizer: &SessionizerParams,
) -> Result<Vec<LabeledSession>, SessionError> {
    let mut l = Lines::new(log_text);
    l.tokenize_to(l.text.len());
    let mut sz: Sessionizer<u32> = Sessionizer::new(sessionizer.clone())?;
    let mut closed = Vec::new();
    for i in 0..l.ids.len() {
        closed.extend(sz.push(&l.event(i), l.ids[i]));
    }
    closed.extend(sz.flush());
    Ok(closed
        .into_iter()
        .map(|c| LabeledSession {
            label: labels.get(&c.key).copied(),
            events: c
                .events
                .iter()
                .map(|&e| l.names[e as usize].clone())
                .collect(),
            session: c.key,
        })
        .collect())
}

/// Block-level evaluation on raw HDFS lines (see the module documentation for the split).
pub fn evaluate_hdfs_lines(
    log_text: &str,
    labels: &HashMap<String, bool>,
    mode: EvalMode,
    params: &SessionParams,
    sessionizer: &SessionizerParams,
) -> Result<SessionEvalReport, SessionError> {
    let t0 = Instant::now();
    let mut l = Lines::new(log_text);
    let n = l.text.len();
    let cut = match mode {
        EvalMode::Split => n / 2,
        EvalMode::SelfFit => n,
    };
    if cut == 0 || (mode == EvalMode::Split && cut >= n) {
        return Err(SessionError::TooFew(n));
    }
    let mut sz: Sessionizer<u32> = Sessionizer::new(sessionizer.clone())?;
    // Each payload is a line index; the session's events are looked up when it closes.
    let mut train: Vec<ClosedSession<u32>> = Vec::new();
    l.tokenize_to(cut);
    for i in 0..cut {
        train.extend(sz.push(&l.event(i), i as u32));
    }
    let mut test: Vec<ClosedSession<u32>> = Vec::new();
    match mode {
        EvalMode::Split => train.extend(sz.snapshot_open()),
        EvalMode::SelfFit => {
            let closed = sz.flush();
            test = train.clone();
            train.extend(closed.iter().cloned());
            test.extend(closed);
        }
    }
    fn events_of<'s>(l: &'s Lines<'_>, c: &ClosedSession<u32>) -> Vec<&'s str> {
        c.events
            .iter()
            .map(|&i| l.names[l.ids[i as usize] as usize].as_str())
            .collect()
    }
    let train_events: Vec<Vec<&str>> = train.iter().map(|c| events_of(&l, c)).collect();
    let model = SessionModel::fit(&train_events, params)?;
    drop(train_events);
    let train_seconds = t0.elapsed().as_secs_f64();

    // Scoring time includes tokenizing and sessionizing the test lines.
    let t1 = Instant::now();
    let mut n_test_events = 0;
    if mode == EvalMode::Split {
        l.tokenize_to(n);
        for i in cut..n {
            test.extend(sz.push(&l.event(i), i as u32));
        }
        test.extend(sz.flush());
    }
    // Block → (max score, flagged) over its test sessions; in order of first appearance.
    let mut blocks: Vec<(String, SessionScore)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for c in &test {
        n_test_events += c.events.len();
        let s = model.score(&events_of(&l, c));
        match at.get(&c.key) {
            Some(&j) => {
                let b = &mut blocks[j].1;
                let flagged = b.is_anomaly || s.is_anomaly;
                if s.score > b.score {
                    *b = s;
                }
                b.is_anomaly = flagged;
            }
            None => {
                at.insert(c.key.clone(), blocks.len());
                blocks.push((c.key.clone(), s));
            }
        }
    }
    let score_seconds = t1.elapsed().as_secs_f64();
    let n_unlabeled = blocks
        .iter()
        .filter(|(k, _)| !labels.contains_key(k))
        .count();
    let (truth, scores): (Vec<bool>, Vec<SessionScore>) = blocks
        .into_iter()
        .filter_map(|(k, s)| labels.get(&k).map(|&y| (y, s)))
        .unzip();
    Ok(report(
        mode,
        &model,
        &truth,
        &scores,
        Timing {
            train_seconds,
            score_seconds,
            n_test_events,
        },
        n_unlabeled,
    ))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Confusion {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Confusion {
    fn of(truth: &[bool], flags: &[bool]) -> Self {
        let mut c = Self::default();
        for (&t, &f) in truth.iter().zip(flags) {
            match (t, f) {
                (true, true) => c.tp += 1,
                (false, true) => c.fp += 1,
                (true, false) => c.fn_ += 1,
                (false, false) => {}
            }
        }
        c
    }
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Indices by score, descending; groups of equal scores as (start, end) ranges.
fn tie_groups(scores: &[f64]) -> (Vec<usize>, Vec<(usize, usize)>) {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut groups = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && scores[idx[j]] == scores[idx[i]] {
            j += 1;
        }
        groups.push((i, j));
        i = j;
    }
    (idx, groups)
}

/// ROC-AUC (Mann–Whitney, ties half). 0.5 when a class is missing.
fn roc_auc(truth: &[bool], scores: &[f64]) -> f64 {
    let (idx, groups) = tie_groups(scores);
    let pos = truth.iter().filter(|&&t| t).count() as f64;
    let neg = truth.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return 0.5;
    }
    // Walk from the highest score: each positive beats the negatives below it.
    let (mut neg_above, mut wins) = (0.0, 0.0);
    for (a, b) in groups {
        let p = idx[a..b].iter().filter(|&&k| truth[k]).count() as f64;
        let q = (b - a) as f64 - p;
        wins += p * (neg - neg_above - q) + 0.5 * p * q;
        neg_above += q;
    }
    wins / (pos * neg)
}

/// Average precision: Σ (R_n − R_{n−1}) P_n over distinct thresholds, highest first.
fn average_precision(truth: &[bool], scores: &[f64]) -> f64 {
    let (idx, groups) = tie_groups(scores);
    let total = truth.iter().filter(|&&t| t).count() as f64;
    if total == 0.0 {
        return 0.0;
    }
    let (mut tp, mut fp, mut ap, mut prev) = (0.0, 0.0, 0.0, 0.0);
    for (a, b) in groups {
        for &k in &idx[a..b] {
            if truth[k] {
                tp += 1.0
            } else {
                fp += 1.0
            }
        }
        let r = tp / total;
        ap += (r - prev) * tp / (tp + fp);
        prev = r;
    }
    ap
}

/// Best F1 over the thresholds "score ≥ t" (diagnostic).
fn best_f1(truth: &[bool], scores: &[f64]) -> f64 {
    let (idx, groups) = tie_groups(scores);
    let total = truth.iter().filter(|&&t| t).count();
    let (mut tp, mut fp, mut best) = (0usize, 0usize, 0.0f64);
    for (a, b) in groups {
        for &k in &idx[a..b] {
            if truth[k] {
                tp += 1
            } else {
                fp += 1
            }
        }
        best = best.max(ratio(2 * tp, tp + fp + total));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_scikit_learn_on_a_small_case() {
        // roc_auc_score([0,0,1,1,0,1], [.1,.4,.35,.8,.4,.4]) = 0.6667, AP = 0.7
        let y = [false, false, true, true, false, true];
        let s = [0.1, 0.4, 0.35, 0.8, 0.4, 0.4];
        assert!((roc_auc(&y, &s) - 2.0 / 3.0).abs() < 1e-12);
        assert!((average_precision(&y, &s) - 0.7).abs() < 1e-12);
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), 0.5);
        assert_eq!(average_precision(&[false], &[0.1]), 0.0);
        assert!((best_f1(&y, &s) - 0.75).abs() < 1e-12);
        let c = Confusion::of(&[true, false, true], &[true, true, false]);
        assert_eq!((c.tp, c.fp, c.fn_), (1, 1, 1));
        assert!((c.f1() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn parses_sessions_jsonl_leniently() {
        let text = "{\"session\":\"b1\",\"label\":0,\"events\":[\"a\",\"b\"]}\r\n\
                    not json\n\
                    {\"label\":\"Anomaly\",\"events\":[\"a\",3]}\n\
                    {\"session\":\"x\"}\n\n\
                    {\"session\":7,\"label\":true,\"events\":[]}";
        let (s, skipped) = parse_sessions_jsonl(text);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].label, Some(false));
        assert_eq!(s[1].session, "line 3");
        assert_eq!(s[1].events, ["a", "3"]);
        assert_eq!(s[1].label, Some(true));
        assert_eq!(s[2].session, "7");
        assert_eq!(skipped.iter().map(|k| k.line).collect::<Vec<_>>(), [2, 4]);
    }

    fn toy_sessions(n: usize) -> Vec<LabeledSession> {
        (0..n)
            .map(|i| {
                let anomalous = i % 25 == 7;
                let events: Vec<&str> = if anomalous {
                    vec!["alloc", "recv", "exception"]
                } else {
                    vec!["alloc", "recv", "recv", "stored", "stored", "done"]
                };
                LabeledSession {
                    session: format!("s{i}"),
                    label: Some(anomalous),
                    events: events.into_iter().map(String::from).collect(),
                }
            })
            .collect()
    }

    #[test]
    fn split_and_self_modes_on_a_toy_corpus() {
        let s = toy_sessions(400);
        let p = SessionParams {
            contamination: 0.05,
            ..Default::default()
        };
        let r = evaluate_sessions(&s, EvalMode::Split, &p).unwrap();
        assert_eq!((r.n_train, r.n_test), (200, 200));
        assert_eq!(r.f1, 1.0, "{r:?}");
        assert_eq!(r.roc_auc, 1.0);
        let r = evaluate_sessions(&s, EvalMode::SelfFit, &p).unwrap();
        assert_eq!((r.n_train, r.n_test), (400, 400));
        assert_eq!(r.f1, 1.0, "{r:?}");
        let json = serde_json::to_value(&r).unwrap();
        for k in [
            "precision",
            "recall",
            "f1",
            "roc_auc",
            "pr_auc",
            "flagged_rate",
            "n_train",
            "n_test",
            "train_seconds",
            "score_seconds",
        ] {
            assert!(json.get(k).is_some(), "{k}");
        }
        assert_eq!(json["mode"], "self");
    }

    #[test]
    fn eval_errors_instead_of_panicking() {
        let p = SessionParams::default();
        assert!(evaluate_sessions(&[], EvalMode::Split, &p).is_err());
        assert!(evaluate_sessions(&[], EvalMode::SelfFit, &p).is_err());
        let mut s = toy_sessions(4);
        s[3].label = None;
        assert!(matches!(
            evaluate_sessions(&s, EvalMode::Split, &p),
            Err(SessionError::NoLabel(_))
        ));
        let sz = SessionizerParams::default();
        let labels = HashMap::new();
        assert!(evaluate_hdfs_lines("", &labels, EvalMode::Split, &p, &sz).is_err());
        assert!(evaluate_hdfs_lines("x blk_1", &labels, EvalMode::Split, &p, &sz).is_err());
        let r = evaluate_hdfs_lines("x blk_1\ny", &labels, EvalMode::Split, &p, &sz).unwrap();
        assert_eq!((r.n_test, r.n_unlabeled), (0, 1));
    }

    #[test]
    fn hdfs_lines_become_labeled_block_sessions() {
        let log = "081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_-16 src: /10.250.19.102:54106 dest: /10.250.19.102:50010\n\
                   081109 203518 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /mnt/job.jar. blk_-16\n\
                   081109 203519 145 INFO dfs.DataNode$DataXceiver: copy blk_-16 to blk_7\n\
                   081110 203519 145 INFO dfs.DataNode$DataXceiver: Receiving block blk_7 src: /10.0.0.1:1 dest: /10.0.0.2:2";
        let labels = parse_block_labels("BlockId,Label\nblk_-16,Normal\nblk_7,Anomaly\nbad\n");
        assert_eq!(labels.len(), 2);
        let s = hdfs_sessions(log, &labels, &SessionizerParams::default()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].session.as_str(), s[0].label),
            ("blk_-16", Some(false))
        );
        assert_eq!(s[0].events.len(), 3);
        assert_eq!(s[1].events.len(), 2);
        assert_eq!(s[0].events[0], s[1].events[1]);
        assert!(s[0].events[0].contains("Receiving block blk_# src <path>"));
        assert_eq!(
            hdfs_line_time_ms("081109 203518 143 INFO x"),
            Some(1_226_262_918_000)
        );
        assert_eq!(hdfs_line_time_ms("nonsense"), None);
        assert_eq!(hdfs_line_time_ms("991399 250000"), None);
    }
}
