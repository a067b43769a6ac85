//! Turning one fetched document into "score this text" or "skip it, because …".
//!
//! Nothing here may fail on input: whatever a document holds, it ends up as a message to
//! score or a [`SkipReason`] that is written back as `lad_skipped`, so a bad document is
//! marked once and never blocks the worker.

use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document};

use crate::profile::{Event, Profile, ProfileStats};

use crate::source::bson_fields::{self, DateProblem};
pub use crate::source::bson_fields::{get_path, truncate_message, MAX_MESSAGE_BYTES};

/// Why a document was not scored (the `lad_skipped` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// `MESSAGE_INDEX` absent or null.
    MessageMissing,
    /// `MESSAGE_INDEX` holds a number, object, array, …
    MessageNotString,
    /// `DATETIME_INDEX` absent or null.
    DatetimeMissing,
    /// `DATETIME_INDEX` holds neither a BSON date nor a string.
    DatetimeNotDate,
    /// `DATETIME_INDEX` is a string but not RFC 3339.
    DatetimeUnparseable,
    /// The engine failed on this message `SCORING_MAX_ATTEMPTS` times (a bug in lad; the
    /// reason is kept in `lad_scoring_error`).
    ScoringFailed,
    /// The collection's `PROFILE` found no event in the document (the profile's reason is
    /// kept in `lad_skip_detail`).
    NotAnEvent,
}

impl SkipReason {
    /// The text stored in `lad_skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageMissing => "message missing",
            Self::MessageNotString => "message not a string",
            Self::DatetimeMissing => "datetime missing",
            Self::DatetimeNotDate => "datetime not a date",
            Self::DatetimeUnparseable => "datetime unparseable",
            Self::ScoringFailed => "scoring failed",
            Self::NotAnEvent => "not an event of the profile",
        }
    }

    /// Counter name in the state document and the report (no spaces or dots).
    pub fn key(self) -> &'static str {
        match self {
            Self::MessageMissing => "message_missing",
            Self::MessageNotString => "message_not_string",
            Self::DatetimeMissing => "datetime_missing",
            Self::DatetimeNotDate => "datetime_not_date",
            Self::DatetimeUnparseable => "datetime_unparseable",
            Self::ScoringFailed => "scoring_failed",
            Self::NotAnEvent => "not_an_event",
        }
    }
}

/// What to do with one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Score this text (possibly cut to [`MAX_MESSAGE_BYTES`]).
    Score {
        /// The message.
        text: String,
        /// Whether it was cut.
        truncated: bool,
        /// The document's time (`DATETIME_INDEX`).
        at: DateTime<Utc>,
        /// With a structured `PROFILE`: the document's events (usually one; an osquery
        /// snapshot gives one per row), scored with their fields; `text` is the first
        /// one's message. Empty for a syslog collection.
        events: Vec<Event>,
    },
    /// Mark it with `lad_skipped`.
    Skip(SkipReason),
}

/// A fetched document reduced to what the worker needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `_id`, any BSON type.
    pub id: Bson,
    /// Set when the datetime field is a BSON date: such documents move the resume point.
    pub resume_dt: Option<mongodb::bson::DateTime>,
    /// Score or skip.
    pub action: Action,
    /// Failed scoring attempts so far (`lad_scoring_failures`; 0 for a new document).
    pub failures: u32,
    /// Why a skipped document was skipped, in the profile's words (`lad_skip_detail`).
    pub detail: Option<String>,
    /// `lad_session_key` to write with the score (collections with `SESSION_KEY`; filled
    /// by the worker, see `service::session`).
    pub session_key: Option<String>,
    /// `lad_session_event` to write with it: a structured document's event token.
    pub session_event: Option<String>,
}

/// How a worker reads its documents: the configured fields, and the structured profile of
/// the collection, if any.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    /// `MESSAGE_INDEX` (syslog collections).
    pub message: &'a str,
    /// `DATETIME_INDEX`.
    pub datetime: &'a str,
    /// The collection's `PROFILE`: the whole document is mapped to events.
    pub profile: Option<&'a Profile>,
    /// The worker's host, for events whose profile finds none.
    pub host: &'a str,
}

impl<'a> Shape<'a> {
    /// A syslog collection's shape (one message string per document).
    pub fn text(message: &'a str, datetime: &'a str) -> Self {
        Self {
            message,
            datetime,
            profile: None,
            host: "",
        }
    }
}

/// The events of a document under `profile`: lad's own fields left out, the time and host
/// filled in from `at` and `host` where the profile finds none. The error is the
/// profile's reason; no event at all (an empty snapshot) is an error too.
pub fn events_of(
    doc: &Document,
    profile: &Profile,
    host: &str,
    at: Option<DateTime<Utc>>,
    stats: &mut ProfileStats,
) -> Result<Vec<Event>, String> {
    let value = bson_fields::to_json(doc, "lad_");
    let mut events = profile.events_from_value(value, stats)?;
    if events.is_empty() {
        return Err("no rows in the document".into());
    }
    for e in &mut events {
        if e.timestamp.is_none() {
            e.timestamp = at;
        }
        if e.host.is_none() && !host.is_empty() {
            e.host = Some(host.to_string());
        }
        let (m, _) = truncate_message(std::mem::take(&mut e.message), MAX_MESSAGE_BYTES);
        e.message = m;
    }
    Ok(events)
}

impl From<DateProblem> for SkipReason {
    fn from(p: DateProblem) -> Self {
        match p {
            DateProblem::Missing => Self::DatetimeMissing,
            DateProblem::NotDate => Self::DatetimeNotDate,
            DateProblem::Unparseable => Self::DatetimeUnparseable,
        }
    }
}

/// Parses the datetime field: BSON dates as they are, strings as RFC 3339.
pub fn parse_datetime(v: Option<&Bson>) -> Result<DateTime<Utc>, SkipReason> {
    bson_fields::parse_datetime(v).map_err(SkipReason::from)
}

/// Decides what to do with `doc`. Returns `None` only for a document without `_id`, which a
/// server never returns. A structured profile's missing and unknown fields are counted
/// into `stats`.
pub fn prepare(doc: &Document, shape: &Shape<'_>, stats: &mut ProfileStats) -> Option<Prepared> {
    let id = doc.get("_id")?.clone();
    let dt = get_path(doc, shape.datetime);
    let resume_dt = match dt {
        Some(Bson::DateTime(d)) => Some(*d),
        _ => None,
    };
    let failures = match doc.get(crate::source::mongo::FAILURES_FIELD) {
        Some(Bson::Int32(n)) => u32::try_from(*n).unwrap_or(0),
        Some(Bson::Int64(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        _ => 0,
    };
    let mut out = Prepared {
        id,
        resume_dt,
        action: Action::Skip(SkipReason::NotAnEvent),
        failures,
        detail: None,
        session_key: None,
        session_event: None,
    };
    if let Some(profile) = shape.profile {
        out.action = match parse_datetime(dt) {
            Err(reason) => Action::Skip(reason),
            Ok(at) => match events_of(doc, profile, shape.host, Some(at), stats) {
                Ok(events) => Action::Score {
                    text: events[0].message.clone(),
                    truncated: false,
                    at,
                    events,
                },
                Err(why) => {
                    out.detail = Some(why);
                    Action::Skip(SkipReason::NotAnEvent)
                }
            },
        };
        return Some(out);
    }
    out.action = match get_path(doc, shape.message) {
        None | Some(Bson::Null) | Some(Bson::Undefined) => Action::Skip(SkipReason::MessageMissing),
        Some(Bson::String(s)) => match parse_datetime(dt) {
            Err(reason) => Action::Skip(reason),
            Ok(at) => {
                let (text, truncated) = truncate_message(s.clone(), MAX_MESSAGE_BYTES);
                Action::Score {
                    text,
                    truncated,
                    at,
                    events: Vec::new(),
                }
            }
        },
        Some(_) => Action::Skip(SkipReason::MessageNotString),
    };
    Some(out)
}

/// Why the sweep found a document: counted separately in the state and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SweepKind {
    /// Timestamp behind the resume point: arrived late.
    Late,
    /// Same timestamp as the resume point, smaller `_id` (minted by another writer).
    IdTie,
    /// Scoring failed before; this is a retry.
    Retry,
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    fn now() -> mongodb::bson::DateTime {
        mongodb::bson::DateTime::from_millis(1_700_000_000_000)
    }

    fn text_shape() -> Shape<'static> {
        Shape::text("message", "received_at")
    }

    fn action(d: Document) -> Action {
        prepare(&d, &text_shape(), &mut ProfileStats::default())
            .expect("has _id")
            .action
    }

    #[test]
    fn classifies_bad_documents() {
        let t = now();
        assert_eq!(
            action(doc! {"_id": 1, "received_at": t}),
            Action::Skip(SkipReason::MessageMissing)
        );
        assert_eq!(
            action(doc! {"_id": 1, "message": 5, "received_at": t}),
            Action::Skip(SkipReason::MessageNotString)
        );
        assert_eq!(
            action(doc! {"_id": 1, "message": {"a": 1}, "received_at": t}),
            Action::Skip(SkipReason::MessageNotString)
        );
        assert_eq!(
            action(doc! {"_id": 1, "message": ["a"], "received_at": t}),
            Action::Skip(SkipReason::MessageNotString)
        );
        assert_eq!(
            action(doc! {"_id": 1, "message": "x"}),
            Action::Skip(SkipReason::DatetimeMissing)
        );
        assert_eq!(
            action(doc! {"_id": 1, "message": "x", "received_at": "yesterday"}),
            Action::Skip(SkipReason::DatetimeUnparseable)
        );
        assert_eq!(
            action(doc! {"_id": 1, "message": "x", "received_at": 17}),
            Action::Skip(SkipReason::DatetimeNotDate)
        );
        assert!(prepare(
            &doc! {"message": "x"},
            &text_shape(),
            &mut ProfileStats::default()
        )
        .is_none());
    }

    #[test]
    fn scores_good_documents() {
        let p = prepare(
            &doc! {"_id": 1, "message": "", "received_at": now()},
            &text_shape(),
            &mut ProfileStats::default(),
        )
        .expect("has _id");
        assert_eq!(p.resume_dt, Some(now()));
        assert_eq!(
            p.action,
            Action::Score {
                text: String::new(),
                truncated: false,
                at: DateTime::<Utc>::from_timestamp_millis(1_700_000_000_000).expect("time"),
                events: Vec::new(),
            }
        );
        let p = prepare(
            &doc! {"_id": 2, "log": {"msg": "hi"}, "ts": "2024-01-02T03:04:05+02:00"},
            &Shape::text("log.msg", "ts"),
            &mut ProfileStats::default(),
        )
        .expect("has _id");
        assert_eq!(p.resume_dt, None);
        assert_eq!(
            p.action,
            Action::Score {
                text: "hi".into(),
                truncated: false,
                at: DateTime::parse_from_rfc3339("2024-01-02T01:04:05Z")
                    .expect("time")
                    .with_timezone(&Utc),
                events: Vec::new(),
            }
        );
    }

    #[test]
    fn truncates_on_char_boundary() {
        let (s, cut) = truncate_message("aé".repeat(10), 4);
        assert!(cut);
        assert_eq!(s, "aéa");
        let big = "x".repeat(1 << 20);
        let p = action(doc! {"_id": 1, "message": big, "received_at": now()});
        match p {
            Action::Score {
                text, truncated, ..
            } => {
                assert!(truncated);
                assert_eq!(text.len(), MAX_MESSAGE_BYTES);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn structured_documents_become_events() {
        use crate::profile::{ProfileKind, ProfileOptions};
        let wazuh = Profile::new(ProfileKind::Wazuh, ProfileOptions::default());
        let shape = Shape {
            message: "message",
            datetime: "received_at",
            profile: Some(&wazuh),
            host: "web-1",
        };
        let d = doc! {
            "_id": mongodb::bson::oid::ObjectId::new(),
            "received_at": now(),
            "rule": {"id": "550", "level": 7, "description": "Integrity checksum changed."},
            "syscheck": {"path": "/etc/passwd", "event": "modified",
                         "audit": {"effective_user": {"name": "alice"}}},
            "lad_reason": {"why": "not a feature"},
            "is_anomaly": 1,
        };
        let mut stats = ProfileStats::default();
        let p = prepare(&d, &shape, &mut stats).expect("has _id");
        let Action::Score {
            text, events, at, ..
        } = p.action
        else {
            panic!("{:?}", p.action);
        };
        assert_eq!(text, "Integrity checksum changed.");
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.user.as_deref(), Some("alice"));
        assert_eq!(
            e.host.as_deref(),
            Some("web-1"),
            "the worker's host fills in"
        );
        assert_eq!(e.timestamp, Some(at), "the document time fills in");
        assert!(
            !stats
                .unknown
                .keys()
                .any(|k| k.starts_with("lad_") || k == "is_anomaly"),
            "lad's own fields are not input: {:?}",
            stats.unknown
        );

        let osq = Profile::new(ProfileKind::Osquery, ProfileOptions::default());
        let shape = Shape {
            profile: Some(&osq),
            ..shape
        };
        for bad in [
            doc! {"_id": 1, "received_at": now(), "name": "q", "snapshot": "x"},
            doc! {"_id": 2, "received_at": now(), "name": "q", "snapshot": []},
        ] {
            let p = prepare(&bad, &shape, &mut stats).expect("has _id");
            assert_eq!(p.action, Action::Skip(SkipReason::NotAnEvent), "{bad:?}");
            assert!(p.detail.is_some(), "{bad:?}");
        }
        let p = prepare(&doc! {"_id": 3, "name": "q"}, &shape, &mut stats).expect("id");
        assert_eq!(p.action, Action::Skip(SkipReason::DatetimeMissing));
    }
}
