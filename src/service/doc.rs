//! Turning one fetched document into "score this text" or "skip it, because …".
//!
//! Nothing here may fail on input: whatever a document holds, it ends up as a message to
//! score or a [`SkipReason`] that is written back as `lad_skipped`, so a bad document is
//! marked once and never blocks the worker.

use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document};

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
    /// `lad_session_key` to write with the score (collections with `SESSION_KEY`; filled
    /// by the worker, see `service::session`).
    pub session_key: Option<String>,
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
/// server never returns.
pub fn prepare(doc: &Document, message_field: &str, datetime_field: &str) -> Option<Prepared> {
    let id = doc.get("_id")?.clone();
    let dt = get_path(doc, datetime_field);
    let resume_dt = match dt {
        Some(Bson::DateTime(d)) => Some(*d),
        _ => None,
    };
    let action = match get_path(doc, message_field) {
        None | Some(Bson::Null) | Some(Bson::Undefined) => Action::Skip(SkipReason::MessageMissing),
        Some(Bson::String(s)) => match parse_datetime(dt) {
            Err(reason) => Action::Skip(reason),
            Ok(at) => {
                let (text, truncated) = truncate_message(s.clone(), MAX_MESSAGE_BYTES);
                Action::Score {
                    text,
                    truncated,
                    at,
                }
            }
        },
        Some(_) => Action::Skip(SkipReason::MessageNotString),
    };
    let failures = match doc.get(crate::source::mongo::FAILURES_FIELD) {
        Some(Bson::Int32(n)) => u32::try_from(*n).unwrap_or(0),
        Some(Bson::Int64(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        _ => 0,
    };
    Some(Prepared {
        id,
        resume_dt,
        action,
        failures,
        session_key: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    fn now() -> mongodb::bson::DateTime {
        mongodb::bson::DateTime::from_millis(1_700_000_000_000)
    }

    fn action(d: Document) -> Action {
        prepare(&d, "message", "received_at")
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
        assert!(prepare(&doc! {"message": "x"}, "message", "received_at").is_none());
    }

    #[test]
    fn scores_good_documents() {
        let p = prepare(
            &doc! {"_id": 1, "message": "", "received_at": now()},
            "message",
            "received_at",
        )
        .expect("has _id");
        assert_eq!(p.resume_dt, Some(now()));
        assert_eq!(
            p.action,
            Action::Score {
                text: String::new(),
                truncated: false,
                at: DateTime::<Utc>::from_timestamp_millis(1_700_000_000_000).expect("time"),
            }
        );
        let p = prepare(
            &doc! {"_id": 2, "log": {"msg": "hi"}, "ts": "2024-01-02T03:04:05+02:00"},
            "log.msg",
            "ts",
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
}
