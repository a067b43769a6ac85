//! Session scores in service mode: a collection with `SESSION_KEY` (and `SESSION_TIMEOUT`)
//! gets, besides the line scores, one verdict per closed session on all of its documents.
//!
//! All session state lives in the log documents themselves, so a restart, an outage or a
//! lease hand-over loses nothing and no document is scored twice:
//!
//! 1. **Keying** — when the follow loop or the sweep scores a document, the same `$set`
//!    writes `lad_session_key` (the first match of the `SESSION_KEY` regex in the message,
//!    capture group 1 if it has one, or the `{FIELD: path}` value; cut to 256 bytes).
//!    Only documents with a BSON-date timestamp get a key: the session pass finds and orders
//!    documents by that date.
//! 2. **Model** — at start and at every retrain, a [`SessionModel`] is fitted on the host's
//!    training window: messages oldest first, keyed, each mapped to its event (the host
//!    model's masked kind, [`Model::kind_of`]), grouped with a [`Sessionizer`] whose idle
//!    time-out is `SESSION_TIMEOUT`. With fewer than [`MIN_SESSIONS`] sessions there is no
//!    session model until the next retrain; keyed documents then simply wait (they keep
//!    `lad_session_key` and no `lad_session_score`) and are scored once a model exists, as
//!    long as they are still inside the training window.
//! 3. **Pass** — after each sweep the worker reads its keyed documents without
//!    `lad_session_score` (at most [`PASS_LIMIT`] per read, in `(datetime, _id)` order),
//!    groups them by key and idle time-out, scores each *closed* session and writes one
//!    write-once multi-document statement per session: `lad_session_score`,
//!    `lad_session_anomaly`, `lad_session_worst` (the worst event's masked kind) and
//!    `lad_session_events`, filtered on `lad_session_score` not existing.
//!
//! A session is closed when its newest document is more than `SESSION_TIMEOUT` older than
//! the time up to which the follow loop has read every document (now − `LATE_ARRIVAL_GRACE`
//! when it is caught up, else its resume point), because a later document of the key would
//! start a new session; or when a later document of the same key in the read is more than
//! `SESSION_TIMEOUT` after it; or at the end of input (`--once`, backlog done). A read that
//! hit [`PASS_LIMIT`] closes only sessions that ended a time-out before its last document;
//! if that closes none (more open-session documents than the limit), the read's sessions
//! are cut there and scored as they stand, so the pass always progresses.
//!
//! Limits: a document that arrives late, after its session was scored, starts a session of
//! its own; a crash in the middle of one session's statement can leave part of that session
//! scored, and the rest is scored later as a shorter session. Keyed documents older than the
//! training window are not looked at again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mongodb::bson::{doc, Bson, Document};

use crate::config::SessionSpec;
use crate::model::Model;
use crate::service::doc::{Action, Prepared};
use crate::session::group::cut_key;
use crate::session::{
    ClosedSession, KeySpec, SessionModel, SessionParams, Sessionizer, SessionizerParams,
};
use crate::source::mongo::SessionDoc;
pub(crate) use crate::source::mongo::{SESSION_KEY_FIELD, SESSION_SCORE_FIELD};

/// 1 when the session's score is above the session model's threshold, else 0.
pub(crate) const ANOMALY_FIELD: &str = "lad_session_anomaly";
/// The masked kind of the session's most surprising event.
pub(crate) const WORST_FIELD: &str = "lad_session_worst";
/// Number of documents in the session.
pub(crate) const EVENTS_FIELD: &str = "lad_session_events";
/// Below this many training sessions no session model is fitted: its threshold (the
/// contamination boundary) would be meaningless.
pub(crate) const MIN_SESSIONS: usize = 10;
/// Documents read per session-pass query: bounds the pass's memory.
pub(crate) const PASS_LIMIT: u32 = 50_000;
/// A session longer than this is closed and the key's next document opens a new one, in
/// training and in the pass alike (bounds one statement's `$in` list).
pub(crate) const MAX_SESSION_EVENTS: usize = 10_000;
/// Session statements per `update` command.
pub(crate) const WRITE_CHUNK: usize = 500;

/// How a collection's documents are keyed, compiled once per worker.
#[derive(Debug, Clone)]
pub(crate) enum SessionKeyer {
    Regex(regex::Regex),
    Field(String),
}

impl SessionKeyer {
    pub(crate) fn new(spec: &SessionSpec) -> Result<Self, regex::Error> {
        Ok(match &spec.key {
            KeySpec::Regex(p) => {
                Self::Regex(regex::RegexBuilder::new(p).size_limit(1 << 20).build()?)
            }
            KeySpec::Field(path) => Self::Field(path.clone()),
        })
    }

    /// The session key of a document whose message is `message`.
    pub(crate) fn key(&self, doc: &Document, message: &str) -> Option<String> {
        match self {
            Self::Regex(_) => self.key_of(None, message),
            Self::Field(path) => {
                self.key_of(crate::source::bson_fields::get_path(doc, path), message)
            }
        }
    }

    /// The key from a message (regex) or an already fetched field value (field).
    pub(crate) fn key_of(&self, field: Option<&Bson>, message: &str) -> Option<String> {
        let raw = match self {
            Self::Regex(re) => {
                let caps = re.captures(message)?;
                caps.get(1).or_else(|| caps.get(0))?.as_str().to_string()
            }
            Self::Field(_) => match field? {
                Bson::String(s) => s.clone(),
                Bson::Int32(n) => n.to_string(),
                Bson::Int64(n) => n.to_string(),
                Bson::Double(x) if x.is_finite() => x.to_string(),
                _ => return None,
            },
        };
        let k = cut_key(&raw);
        (!k.is_empty()).then(|| k.to_string())
    }

    /// The document field the key comes from, if any.
    pub(crate) fn field(&self) -> Option<&str> {
        match self {
            Self::Field(p) => Some(p),
            Self::Regex(_) => None,
        }
    }
}

/// The key of one document (see [`SessionKeyer`]); `None` without a match or field.
pub(crate) fn session_key(keyer: &SessionKeyer, doc: &Document, message: &str) -> Option<String> {
    keyer.key(doc, message)
}

/// A worker's session layer: the keyer, the time-out and the fitted model.
#[derive(Debug)]
pub(crate) struct Sessions {
    /// `None`: the collection has no `SESSION_KEY` (or it failed to compile, logged).
    pub(crate) keyer: Option<SessionKeyer>,
    timeout: Duration,
    model: Mutex<Option<Arc<SessionModel>>>,
}

impl Sessions {
    pub(crate) fn new(spec: Option<&SessionSpec>, source_key: &str) -> Self {
        let keyer = spec.and_then(|s| match SessionKeyer::new(s) {
            Ok(k) => Some(k),
            Err(e) => {
                // The config validated the regex; only the size limit can fail here.
                tracing::error!(source = %source_key, "SESSION_KEY: {e}; no session scores for this host");
                None
            }
        });
        Self {
            keyer,
            timeout: spec.map_or(Duration::ZERO, |s| s.timeout),
            model: Mutex::new(None),
        }
    }

    /// The `lad_session_key` to write with a document's score: only for documents that
    /// are scored and have a BSON-date timestamp (the pass orders by it).
    pub(crate) fn key_of(&self, doc: &Document, p: &Prepared) -> Option<String> {
        let keyer = self.keyer.as_ref()?;
        match &p.action {
            Action::Score { text, .. } if p.resume_dt.is_some() => session_key(keyer, doc, text),
            _ => None,
        }
    }

    pub(crate) fn model(&self) -> Option<Arc<SessionModel>> {
        match self.model.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(crate) fn set_model(&self, m: Option<Arc<SessionModel>>) {
        match self.model.lock() {
            Ok(mut g) => *g = m,
            Err(p) => *p.into_inner() = m,
        }
    }

    pub(crate) fn timeout_ms(&self) -> i64 {
        i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A structured document's session event: its first event's token (event type, action,
/// program; see [`crate::session::events::event_token`]). `None` for a syslog document,
/// whose event is its message's kind.
pub(crate) fn event_of(p: &Prepared) -> Option<String> {
    match &p.action {
        Action::Score { events, .. } => events.first().map(crate::session::events::event_token),
        Action::Skip(_) => None,
    }
}

/// A sessionizer with the worker's time-out; keys are given with `push_keys`.
pub(crate) fn sessionizer<T: Clone>(timeout_ms: i64) -> Option<Sessionizer<T>> {
    Sessionizer::new(SessionizerParams {
        key: KeySpec::Field(String::new()),
        idle_timeout_ms: Some(timeout_ms),
        max_events_per_session: MAX_SESSION_EVENTS,
        ..Default::default()
    })
    .ok()
}

/// Training rows (newest first) → sessions → model.
pub(crate) fn fit_sessions(
    rows: &[SessionDoc],
    keyer: &SessionKeyer,
    model: &Model,
    timeout_ms: i64,
) -> Result<SessionModel, String> {
    let mut sz: Sessionizer<String> =
        sessionizer(timeout_ms).ok_or_else(|| "invalid SESSION_TIMEOUT".to_string())?;
    let mut sessions: Vec<Vec<String>> = Vec::new();
    for r in rows.iter().rev() {
        let (Some(at), Some(msg)) = (r.at_ms, r.message.as_deref()) else {
            continue;
        };
        let Some(key) = keyer.key_of(r.field.as_ref(), msg) else {
            continue;
        };
        let event = r.event.clone().unwrap_or_else(|| model.kind_of(msg).1);
        let closed = sz.push_keys(&[key], Some(at), event);
        sessions.extend(closed.into_iter().map(|c| c.events));
    }
    sessions.extend(sz.flush().into_iter().map(|c| c.events));
    if sessions.len() < MIN_SESSIONS {
        return Err(format!(
            "only {} sessions in the training window (at least {MIN_SESSIONS} needed)",
            sessions.len()
        ));
    }
    SessionModel::fit(&sessions, &SessionParams::default()).map_err(|e| e.to_string())
}

/// What one pass wrote.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PassOutcome {
    pub sessions: u64,
    pub anomalies: u64,
    /// Documents that got session fields.
    pub documents: u64,
}

/// Sessions whose last event is before this time (ms) are closed.
pub(crate) fn horizon_ms(
    rows: &[SessionDoc],
    full: bool,
    scored_through: DateTime<Utc>,
    end_of_input: bool,
    timeout_ms: i64,
) -> i64 {
    let mut bound = if end_of_input {
        i64::MAX
    } else {
        scored_through.timestamp_millis()
    };
    if full {
        // Documents after the read's last one are unseen: a session near the end may go on.
        let last = rows.iter().rev().find_map(|r| r.at_ms).unwrap_or(i64::MIN);
        bound = bound.min(last);
    }
    if bound == i64::MAX {
        bound
    } else {
        bound.saturating_sub(timeout_ms)
    }
}

/// One session's documents and events, in time order.
pub(crate) type Events = Vec<(Bson, String)>;

/// Groups the read's rows into sessions and keeps the closed ones (see the module docs).
pub(crate) fn closed_sessions(
    rows: &[SessionDoc],
    model: &Model,
    timeout_ms: i64,
    horizon: i64,
    full: bool,
) -> Vec<Events> {
    let Some(mut sz) = sessionizer::<(Bson, String)>(timeout_ms) else {
        return Vec::new();
    };
    let mut done: Vec<ClosedSession<(Bson, String)>> = Vec::new();
    for r in rows {
        let (Some(at), Some(Bson::String(key))) = (r.at_ms, r.field.as_ref()) else {
            continue;
        };
        let event = match (&r.event, r.message.as_deref()) {
            (Some(e), _) => e.clone(),
            (None, Some(m)) => model.kind_of(m).1,
            (None, None) => String::new(),
        };
        done.extend(sz.push_keys(&[key.as_str()], Some(at), (r.id.clone(), event)));
    }
    let (ended, still_open): (Vec<_>, Vec<_>) = sz
        .flush()
        .into_iter()
        .partition(|s| s.last_ms.is_some_and(|t| t < horizon));
    done.extend(ended);
    if full && done.is_empty() {
        // A full read that closes nothing would be read again and again: cut its sessions.
        done.extend(still_open);
    }
    done.into_iter().map(|s| s.events).collect()
}

/// A scored session as one statement: its `_id`s and the `$set`, plus whether it is an
/// anomaly.
pub(crate) struct Stmt {
    pub(crate) ids: Vec<Bson>,
    pub(crate) set: Document,
    pub(crate) anomaly: bool,
}

pub(crate) fn statement(smodel: &SessionModel, events: &Events) -> Stmt {
    let kinds: Vec<&str> = events.iter().map(|(_, e)| e.as_str()).collect();
    let s = smodel.score(&kinds);
    let worst = s
        .worst_event
        .and_then(|i| kinds.get(i))
        .copied()
        .unwrap_or_default();
    Stmt {
        ids: events.iter().map(|(id, _)| id.clone()).collect(),
        set: doc! {
            SESSION_SCORE_FIELD: s.score,
            ANOMALY_FIELD: i32::from(s.is_anomaly),
            WORST_FIELD: worst,
            EVENTS_FIELD: i64::try_from(events.len()).unwrap_or(i64::MAX),
        },
        anomaly: s.is_anomaly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key: KeySpec) -> SessionSpec {
        SessionSpec {
            key,
            timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn keys_come_from_the_first_match_or_a_field() {
        let k = SessionKeyer::new(&spec(KeySpec::Regex(r"blk_-?\d+".into()))).expect("regex");
        let d = Document::new();
        assert_eq!(
            session_key(&k, &d, "blk_-12 and blk_7").as_deref(),
            Some("blk_-12")
        );
        assert_eq!(session_key(&k, &d, "no block"), None);
        let k = SessionKeyer::new(&spec(KeySpec::Regex(r"user=(\w+)".into()))).expect("regex");
        assert_eq!(session_key(&k, &d, "x user=ann y").as_deref(), Some("ann"));
        let k = SessionKeyer::new(&spec(KeySpec::Field("a.b".into()))).expect("field");
        assert_eq!(
            session_key(&k, &doc! {"a": {"b": 42}}, "").as_deref(),
            Some("42")
        );
        assert_eq!(
            session_key(&k, &doc! {"a": {"b": "x".repeat(300)}}, "").map(|s| s.len()),
            Some(256)
        );
        assert_eq!(session_key(&k, &doc! {"a": {"b": [1]}}, ""), None);
        assert_eq!(session_key(&k, &doc! {"a": {"b": ""}}, ""), None);
    }

    fn row(id: i32, at: i64, key: &str) -> SessionDoc {
        SessionDoc {
            id: Bson::Int32(id),
            at_ms: Some(at),
            message: Some("m".into()),
            field: Some(Bson::String(key.into())),
            event: None,
        }
    }

    #[test]
    fn horizon_waits_a_time_out_behind_what_was_read() {
        let t = DateTime::<Utc>::from_timestamp_millis(10_000).expect("time");
        let rows = vec![row(1, 1_000, "a"), row(2, 5_000, "b")];
        assert_eq!(horizon_ms(&rows, false, t, false, 2_000), 8_000);
        assert_eq!(horizon_ms(&rows, true, t, false, 2_000), 3_000);
        assert_eq!(horizon_ms(&rows, false, t, true, 2_000), i64::MAX);
        assert_eq!(horizon_ms(&rows, true, t, true, 2_000), 3_000);
    }
}
