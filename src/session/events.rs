//! Sessions of structured events: a user's (or host's, or source IP's) events in time order,
//! cut by an idle time-out, scored by the same session detectors as HDFS blocks.
//!
//! This is the osquery behaviour detector's idea — a model of each user's sequence of
//! actions — on any profile: an event becomes one token of its session, built from what it
//! *is* rather than its volatile values: the event type (the osquery query name, the auditd
//! record types), the action (`added`, `removed`, `modified`) and the program (`exe`, else
//! the command's first word, else the path's file name). `pack_processes added bash` is the
//! same token whichever pid or arguments it had, so a session model can learn that a user
//! opens a shell, lists and edits files, and notice the one who downloads, `chmod`s and runs
//! a binary from `/tmp`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::group::{EventIn, KeySpec, Sessionizer, SessionizerParams};
use super::model::{SessionModel, SessionParams, SessionScore};
use super::SessionError;
use crate::model::entity::EntityKey;
use crate::profile::event::names;
use crate::profile::{Event, FieldValue};

/// The session token of an event (see the module docs).
pub fn event_token(e: &Event) -> String {
    let text = |name: &str| e.field(name).map(|v| v.as_text().into_owned());
    let program = text(names::EXE)
        .or_else(|| {
            e.command()
                .and_then(|c| c.split_whitespace().next())
                .map(str::to_string)
        })
        .or_else(|| {
            e.fields.iter().find_map(|f| match &f.value {
                FieldValue::Path(p) => Some(p.clone()),
                _ => None,
            })
        })
        .map(|p| {
            p.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|p| !p.is_empty());
    let mut parts: Vec<String> = Vec::with_capacity(3);
    parts.extend(text(names::EVENT_TYPE));
    parts.extend(text(names::ACTION));
    parts.extend(program);
    if parts.is_empty() {
        // No typed fields: the message's words (first six), numbers masked.
        return e
            .message
            .split_whitespace()
            .take(6)
            .map(|w| {
                if w.chars().any(|c| c.is_ascii_digit()) {
                    "<*>"
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    parts.join(" ")
}

/// One session of events: its key and the indices of its events (in time order).
#[derive(Debug, Clone, PartialEq)]
pub struct EventSession {
    pub key: String,
    pub events: Vec<usize>,
}

/// Groups `events[range]` into sessions by `key`, closing a session after `timeout_ms` of
/// stream time without one of its events (`None`: one session per key). Events without a
/// time keep the stream clock; events without the key field belong to the `-` entity.
pub fn sessions_of(
    events: &[Event],
    range: std::ops::Range<usize>,
    key: EntityKey,
    timeout_ms: Option<i64>,
) -> Result<Vec<EventSession>, SessionError> {
    let mut sz: Sessionizer<usize> = Sessionizer::new(SessionizerParams {
        key: KeySpec::Field("key".into()),
        idle_timeout_ms: timeout_ms,
        ..SessionizerParams::default()
    })?;
    let mut order: Vec<usize> = range.collect();
    // Time order (stable: equal or missing times keep input order).
    order.sort_by_key(|&i| events[i].timestamp.map(|t| t.timestamp_millis()));
    let mut out = Vec::new();
    for i in order {
        let e = &events[i];
        let k = key.of(e);
        let fields = [("key", k.as_str())];
        let ev = EventIn {
            time_ms: e.timestamp.map(|t| t.timestamp_millis()),
            message: "",
            fields: &fields,
        };
        out.extend(sz.push(&ev, i).into_iter().map(|c| EventSession {
            key: c.key,
            events: c.events,
        }));
    }
    out.extend(sz.flush().into_iter().map(|c| EventSession {
        key: c.key,
        events: c.events,
    }));
    Ok(out)
}

/// A scored session of events.
#[derive(Debug, Clone, Serialize)]
pub struct EventSessionScore {
    /// The entity (user, host, …).
    pub key: String,
    /// Indices of its events, in time order.
    pub events: Vec<usize>,
    pub score: SessionScore,
    /// The worst event's index into the events, when the next-event model names one.
    pub worst: Option<usize>,
    /// Its token.
    pub worst_token: Option<String>,
}

/// Fits a session model on the sessions of `events[..first_new]` and scores the sessions
/// of `events[first_new..]` (with `first_new == 0`, fits and scores every session: a
/// first look at a file without a baseline).
pub fn score_event_sessions(
    events: &[Event],
    first_new: usize,
    key: EntityKey,
    timeout_ms: Option<i64>,
    params: &SessionParams,
) -> Result<(SessionModel, Vec<EventSessionScore>), SessionError> {
    let tokens: Vec<String> = events.iter().map(event_token).collect();
    let seq =
        |s: &EventSession| -> Vec<&str> { s.events.iter().map(|&i| tokens[i].as_str()).collect() };
    let train_range = if first_new == 0 {
        0..events.len()
    } else {
        0..first_new
    };
    let train = sessions_of(events, train_range, key, timeout_ms)?;
    let train_seqs: Vec<Vec<&str>> = train.iter().map(seq).collect();
    let model = SessionModel::fit(&train_seqs, params)?;
    let test = if first_new == 0 {
        train
    } else {
        sessions_of(events, first_new..events.len(), key, timeout_ms)?
    };
    let scored = test
        .into_iter()
        .map(|s| {
            let score = model.score(&seq(&s));
            let worst = score.worst_event.and_then(|w| s.events.get(w).copied());
            EventSessionScore {
                worst_token: worst.map(|i| tokens[i].clone()),
                worst,
                key: s.key,
                events: s.events,
                score,
            }
        })
        .collect();
    Ok((model, scored))
}

/// Sessions per key, for a summary line.
pub fn sessions_per_key(scores: &[EventSessionScore]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for s in scores {
        *m.entry(s.key.as_str()).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn ev(user: &str, minute: i64, query: &str, exe: &str) -> Event {
        let mut e = Event::new(0, 1);
        e.user = Some(user.into());
        e.host = Some("h".into());
        e.timestamp = Some(Utc.timestamp_opt(1_700_000_000 + minute * 60, 0).unwrap());
        e.message = format!("{query} added {exe}");
        e.push(names::EVENT_TYPE, FieldValue::Category(query.into()));
        e.push(names::ACTION, FieldValue::Category("added".into()));
        e.push(names::EXE, FieldValue::Path(format!("/usr/bin/{exe}")));
        e
    }

    #[test]
    fn tokens_keep_what_an_event_is() {
        let e = ev("ann", 0, "pack_processes", "bash");
        assert_eq!(event_token(&e), "pack_processes added bash");
        let mut plain = Event::new(0, 1);
        plain.message = "session 42 opened for ann".into();
        assert_eq!(event_token(&plain), "session <*> opened for ann");
    }

    /// Every working day each user logs in, works with their usual programs and logs out;
    /// one day, one user downloads, `chmod`s and runs a binary instead.
    #[test]
    fn an_unusual_command_sequence_of_a_user_is_flagged() {
        let mut events = Vec::new();
        let day = 24 * 60;
        for d in 0..40 {
            for (u, work) in [
                ("ann", ["vim", "make", "git"]),
                ("bob", ["psql", "vim", "ls"]),
            ] {
                let t0 = d * day + if u == "ann" { 540 } else { 600 };
                events.push(ev(u, t0, "logged_in_users", "login"));
                events.push(ev(u, t0 + 1, "pack_processes", "bash"));
                for (k, w) in work.iter().enumerate() {
                    events.push(ev(u, t0 + 2 + k as i64, "pack_processes", w));
                }
                events.push(ev(u, t0 + 8, "logged_in_users", "logout"));
            }
        }
        let first_new = events.len();
        let d = 40;
        for (u, t0) in [("ann", d * day + 540), ("bob", d * day + 600)] {
            events.push(ev(u, t0, "logged_in_users", "login"));
            events.push(ev(u, t0 + 1, "pack_processes", "bash"));
            let work: &[&str] = if u == "bob" {
                &["curl", "chmod", "xmrig"]
            } else {
                &["vim", "make", "git"]
            };
            for (k, w) in work.iter().enumerate() {
                events.push(ev(u, t0 + 2 + k as i64, "pack_processes", w));
            }
            events.push(ev(u, t0 + 8, "logged_in_users", "logout"));
        }
        let params = SessionParams::default();
        let run = || {
            score_event_sessions(
                &events,
                first_new,
                EntityKey::User,
                Some(60 * 60_000),
                &params,
            )
            .expect("fit")
            .1
        };
        let scored = run();
        assert_eq!(scored.len(), 2, "{scored:?}");
        let by = |u: &str| scored.iter().find(|s| s.key == u).expect("session");
        assert!(by("bob").score.is_anomaly, "{:?}", by("bob"));
        assert!(!by("ann").score.is_anomaly, "{:?}", by("ann"));
        let worst = by("bob").worst_token.clone().unwrap_or_default();
        assert!(
            ["curl", "chmod", "xmrig"]
                .iter()
                .any(|w| worst.ends_with(w)),
            "worst event {worst}"
        );
        // Deterministic.
        let again = run();
        assert_eq!(
            again.iter().map(|s| s.score.score).collect::<Vec<_>>(),
            scored.iter().map(|s| s.score.score).collect::<Vec<_>>()
        );
    }
}
