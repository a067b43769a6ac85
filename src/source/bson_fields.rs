//! Reading fields out of BSON documents the way every MongoDB reader in lad does (service
//! mode, the aggregator, `lad report`): dotted paths, bounded message sizes, and timestamps
//! that may be BSON dates or RFC 3339 strings. Nothing here fails on input.

use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document};

/// Longest message handed to the engine, in bytes. Longer ones (a pasted core dump, a
/// 1 MiB JSON blob) are cut at a character boundary: scoring cost stays bounded and the
/// first 64 KiB say what kind of message it is.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why a timestamp field gives no time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateProblem {
    /// Absent, null or undefined.
    Missing,
    /// Neither a BSON date nor a string.
    NotDate,
    /// A string that is not RFC 3339 (or a date out of range).
    Unparseable,
}

/// Looks up a possibly dotted field path (`log.message`) through embedded documents.
pub fn get_path<'a>(doc: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut parts = path.split('.');
    let mut cur = doc.get(parts.next()?)?;
    for p in parts {
        cur = match cur {
            Bson::Document(d) => d.get(p)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// A document as the JSON value a structured profile reads (service mode maps Wazuh alerts
/// or JSON security logs stored in MongoDB like the lines of their files). Dates become
/// RFC 3339 strings, ObjectIds their hex, 64-bit and decimal numbers numbers or text;
/// binary data, code and other BSON-only types become null, so they count as missing
/// rather than as text. Top-level fields whose names start with `skip_prefix` (lad's own
/// `lad_` fields) and `_id` are left out: a verdict lad wrote must not become a feature.
pub fn to_json(doc: &Document, skip_prefix: &str) -> serde_json::Value {
    let map = doc
        .iter()
        .filter(|(k, _)| *k != "_id" && !k.starts_with(skip_prefix))
        .filter(|(k, _)| *k != "is_anomaly" && *k != "anomaly_score")
        .map(|(k, v)| (k.clone(), bson_json(v)))
        .collect();
    serde_json::Value::Object(map)
}

fn bson_json(v: &Bson) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Bson::Double(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        Bson::String(s) => Value::String(s.clone()),
        Bson::Document(d) => {
            Value::Object(d.iter().map(|(k, v)| (k.clone(), bson_json(v))).collect())
        }
        Bson::Array(a) => Value::Array(a.iter().map(bson_json).collect()),
        Bson::Boolean(b) => Value::Bool(*b),
        Bson::Int32(i) => Value::from(*i),
        Bson::Int64(i) => Value::from(*i),
        Bson::DateTime(d) => DateTime::<Utc>::from_timestamp_millis(d.timestamp_millis())
            .map_or(Value::Null, |t| Value::String(t.to_rfc3339())),
        Bson::ObjectId(o) => Value::String(o.to_hex()),
        Bson::Decimal128(d) => Value::String(d.to_string()),
        Bson::Timestamp(t) => Value::from(t.time),
        Bson::Symbol(s) => Value::String(s.clone()),
        _ => Value::Null,
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary; says whether it cut.
pub fn truncate_message(mut s: String, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    (s, true)
}

/// Parses a timestamp field: BSON dates as they are, strings as RFC 3339.
pub fn parse_datetime(v: Option<&Bson>) -> Result<DateTime<Utc>, DateProblem> {
    match v {
        None | Some(Bson::Null) | Some(Bson::Undefined) => Err(DateProblem::Missing),
        Some(Bson::DateTime(d)) => DateTime::<Utc>::from_timestamp_millis(d.timestamp_millis())
            .ok_or(DateProblem::Unparseable),
        Some(Bson::String(s)) => DateTime::parse_from_rfc3339(s.trim())
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| DateProblem::Unparseable),
        Some(_) => Err(DateProblem::NotDate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    #[test]
    fn truncates_on_char_boundary() {
        let (s, cut) = truncate_message("aé".repeat(10), 4);
        assert!(cut);
        assert_eq!(s, "aéa");
    }

    #[test]
    fn paths_and_dates() {
        let d = doc! {"log": {"msg": "hi"}, "n": 1};
        assert_eq!(get_path(&d, "log.msg"), Some(&Bson::String("hi".into())));
        assert_eq!(get_path(&d, "n.x"), None);
        assert_eq!(parse_datetime(None), Err(DateProblem::Missing));
        assert_eq!(
            parse_datetime(Some(&Bson::Int32(1))),
            Err(DateProblem::NotDate)
        );
        assert_eq!(
            parse_datetime(Some(&Bson::String("yesterday".into()))),
            Err(DateProblem::Unparseable)
        );
    }
}
