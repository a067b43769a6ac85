//! Reading JSON values the way security logs need: dotted paths, placeholders, timestamps.
//!
//! Every JSON-based profile (json, wazuh, osquery) asks the same questions of a record —
//! "what is at `log.user.name`", "is this a usable name or a placeholder like `-`", "what
//! instant is `Tue Sep 30 17:37:30 2014 UTC`" — so they are answered once, here. All
//! functions are total: a wrong type or an unparseable string gives `None`, never a panic.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

/// The value at a dotted `path` (`log.user.name`; array elements by index, `events.0.name`).
/// A key that itself contains dots (`"user.name": …`, as some exporters flatten) is found
/// too: at every level the longest literal key that matches wins.
pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    lookup_with(v, path, false)
}

/// Like [`lookup`] with ASCII case ignored in every key (`Message` for `message`).
pub fn lookup_ci<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    lookup_with(v, path, true)
}

fn lookup_with<'a>(v: &'a Value, path: &str, ci: bool) -> Option<&'a Value> {
    if path.is_empty() {
        return None;
    }
    let mut cur = v;
    let mut rest = path;
    // Bounded by the number of dots in `path`: each round consumes at least one segment.
    loop {
        match cur {
            Value::Object(map) => {
                let (found, remaining) = object_step(map, rest, ci)?;
                cur = found;
                match remaining {
                    None => return Some(cur),
                    Some(r) => rest = r,
                }
            }
            Value::Array(items) => {
                let (seg, remaining) = match rest.split_once('.') {
                    Some((s, r)) => (s, Some(r)),
                    None => (rest, None),
                };
                cur = items.get(seg.parse::<usize>().ok()?)?;
                match remaining {
                    None => return Some(cur),
                    Some(r) => rest = r,
                }
            }
            _ => return None,
        }
    }
}

/// One step into an object: the longest prefix of `path` (ending at a dot or the end) that
/// is a key, and what remains of the path after it.
fn object_step<'a, 'p>(
    map: &'a Map<String, Value>,
    path: &'p str,
    ci: bool,
) -> Option<(&'a Value, Option<&'p str>)> {
    let get = |k: &str| -> Option<&'a Value> {
        if ci {
            map.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
        } else {
            map.get(k)
        }
    };
    if let Some(v) = get(path) {
        return Some((v, None));
    }
    // Try shorter prefixes, longest first.
    let mut end = path.len();
    while let Some(dot) = path[..end].rfind('.') {
        if let Some(v) = get(&path[..dot]) {
            return Some((v, Some(&path[dot + 1..])));
        }
        end = dot;
    }
    None
}

/// Removes the value at a dotted `path` and returns it (used for the label, which must
/// not reach anything else).
pub fn remove(v: &mut Value, path: &str) -> Option<Value> {
    let map = v.as_object_mut()?;
    if let Some(x) = map.remove(path) {
        return Some(x);
    }
    let (head, tail) = path.split_once('.')?;
    remove(map.get_mut(head)?, tail)
}

/// Words that mean "no value" in the sources we read (`-` in Windows, `?` and `(null)` in
/// auditd, empty strings everywhere).
pub fn is_placeholder(s: &str) -> bool {
    matches!(s, "" | "-" | "?" | "(null)" | "null")
}

/// A scalar as text: strings trimmed, numbers and booleans formatted; placeholders,
/// `null`, objects and arrays give `None`.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let t = s.trim();
            (!is_placeholder(t)).then(|| t.to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A number, or a string that is one.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// A timestamp from a JSON value: an RFC 3339 / ISO 8601 string (with or without zone;
/// none means UTC), a date, osquery's `calendarTime`, RFC 2822, epoch seconds /
/// milliseconds / microseconds / nanoseconds (number or numeric string), or MongoDB
/// extended JSON `{"$date": …}`.
pub fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => parse_time(s),
        Value::Number(n) => epoch(n.as_f64()?),
        Value::Object(map) => {
            let d = map.get("$date")?;
            match d {
                Value::Object(inner) => timestamp(inner.get("$numberLong")?),
                other => timestamp(other),
            }
        }
        _ => None,
    }
}

/// Epoch time, the unit guessed from the magnitude (seconds up to year 5138).
pub fn epoch(x: f64) -> Option<DateTime<Utc>> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let secs = if x >= 1e17 {
        x / 1e9
    } else if x >= 1e14 {
        x / 1e6
    } else if x >= 1e11 {
        x / 1e3
    } else {
        x
    };
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round().clamp(0.0, 999_999_999.0) as u32;
    DateTime::from_timestamp(whole as i64, nanos)
}

/// Epoch time written as digits (`1642723741.072`), exact to the nanosecond for seconds
/// with a fraction; other units as in [`epoch`].
fn epoch_text(s: &str) -> Option<DateTime<Utc>> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.len() <= 11 && frac.len() <= 9 && !frac.contains('.') {
        let secs: i64 = whole.parse().ok()?;
        let nanos = if frac.is_empty() {
            0
        } else {
            frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32)
        };
        if secs < 100_000_000_000 {
            return DateTime::from_timestamp(secs, nanos);
        }
    }
    epoch(s.parse().ok()?)
}

/// Parses a timestamp string (see [`timestamp`]).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.len() < 4 || s.len() > 64 {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let b = s.as_bytes();
    if b[0].is_ascii_digit() && s.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return epoch_text(s);
    }
    if b.len() >= 10 && b[4] == b'-' {
        // ISO 8601 variants: `+0000` zones, a space for `T`, no zone (UTC), a bare date.
        for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
            if let Ok(t) = DateTime::parse_from_str(s, f) {
                return Some(t.with_timezone(&Utc));
            }
        }
        let naive = s.strip_suffix(" UTC").unwrap_or(s);
        for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(naive, f) {
                return Some(t.and_utc());
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(naive, "%Y-%m-%d") {
            return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        }
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    // osquery calendarTime: `Tue Sep 30 17:37:30 2014 UTC` (day may be space-padded).
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let body = collapsed.strip_suffix(" UTC").unwrap_or(&collapsed);
    NaiveDateTime::parse_from_str(body, "%a %b %d %H:%M:%S %Y")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_nested_literal_and_arrays() {
        let v = json!({
            "log": {"user": {"name": "alice"}},
            "user.name": "flat",
            "a": {"b.c": {"d": 1}},
            "events": [{"name": "login"}],
            "Message": "hi"
        });
        assert_eq!(lookup(&v, "log.user.name"), Some(&json!("alice")));
        assert_eq!(lookup(&v, "user.name"), Some(&json!("flat")));
        assert_eq!(lookup(&v, "a.b.c.d"), Some(&json!(1)));
        assert_eq!(lookup(&v, "events.0.name"), Some(&json!("login")));
        assert_eq!(lookup(&v, "events.1.name"), None);
        assert_eq!(lookup(&v, "events.x"), None);
        assert_eq!(lookup(&v, "message"), None);
        assert_eq!(lookup_ci(&v, "message"), Some(&json!("hi")));
        assert_eq!(lookup(&v, ""), None);
        assert_eq!(lookup(&v, "log.user.name.deeper"), None);
        assert_eq!(lookup(&json!(3), "a"), None);
    }

    #[test]
    fn remove_takes_the_value_out() {
        let mut v = json!({"label": "x", "meta": {"label": "y"}});
        assert_eq!(remove(&mut v, "label"), Some(json!("x")));
        assert_eq!(remove(&mut v, "meta.label"), Some(json!("y")));
        assert_eq!(v, json!({"meta": {}}));
        assert_eq!(remove(&mut v, "nope.x"), None);
    }

    #[test]
    fn scalars_and_placeholders() {
        assert_eq!(scalar_text(&json!(" bob ")), Some("bob".into()));
        assert_eq!(scalar_text(&json!("-")), None);
        assert_eq!(scalar_text(&json!(1000)), Some("1000".into()));
        assert_eq!(scalar_text(&json!(true)), Some("true".into()));
        assert_eq!(scalar_text(&json!({"a": 1})), None);
        assert_eq!(scalar_text(&Value::Null), None);
        assert_eq!(number(&json!("7")), Some(7.0));
        assert_eq!(number(&json!("x")), None);
    }

    #[test]
    fn timestamps_in_every_format_seen() {
        let t = |s: &str| parse_time(s).map(|t| t.to_rfc3339());
        let want = Some("2022-01-21T00:00:01+00:00".to_string());
        assert_eq!(t("2022-01-21T00:00:01Z"), want);
        assert_eq!(t("2022-01-21T01:00:01+01:00"), want);
        assert_eq!(t("2022-01-21T00:00:01.000+0000"), want);
        assert_eq!(t("2022-01-21 00:00:01"), want);
        assert_eq!(t("2022-01-21T00:00:01"), want);
        assert_eq!(t("1642723201"), want);
        assert_eq!(t("Fri, 21 Jan 2022 00:00:01 +0000"), want);
        assert_eq!(t("Fri Jan 21 00:00:01 2022 UTC"), want);
        assert_eq!(
            t("Tue Sep  2 17:37:30 2014 UTC"),
            Some("2014-09-02T17:37:30+00:00".into())
        );
        assert_eq!(
            t("2022-01-21").as_deref(),
            Some("2022-01-21T00:00:00+00:00")
        );
        assert_eq!(
            t("1642723741.072").as_deref(),
            Some("2022-01-21T00:09:01.072+00:00")
        );
        for bad in [
            "",
            "Jan 17 09:44:35",
            "yesterday",
            "2022-13-45",
            "9".repeat(60).as_str(),
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
        let ms = timestamp(&json!(1642723201000u64)).unwrap();
        assert_eq!(ms.to_rfc3339(), "2022-01-21T00:00:01+00:00");
        assert_eq!(timestamp(&json!(1642723201000000000u64)), Some(ms));
        assert_eq!(
            timestamp(&json!({"$date": "2022-01-21T00:00:01Z"})),
            Some(ms)
        );
        assert_eq!(
            timestamp(&json!({"$date": {"$numberLong": "1642723201000"}})),
            Some(ms)
        );
        assert_eq!(timestamp(&json!(-5)), None);
        assert_eq!(timestamp(&json!(1e300)), None);
        assert_eq!(timestamp(&json!([1])), None);
    }
}
