//! The `json` profile: one JSON object a line, each part found through alias lists.
//!
//! JSON security logs agree on nothing but being JSON: the time is `timestamp` here,
//! `@timestamp` or `eventTime` there, the user `user`, `username` or `userIdentity.arn`.
//! Instead of one schema per vendor the profile tries, for each slot, a list of dotted paths
//! ([`FieldAliases`]) and takes the first usable value. The lists are configurable, so a
//! new source is a command-line option, not a code change.
//!
//! What is used and what is not is reported: a slot no path matched counts as `missing`, a
//! matched value of the wrong type (an object where a name belongs, a timestamp that does
//! not parse) as `invalid`, and every top-level key that no alias list mentions as
//! `unknown` (dropped).
//! When a record has no message text, the message is made of its event type and action,
//! so the template model still sees what kind of record it was.

use std::collections::HashMap;

use serde_json::Value;

use super::event::{names, Event, FieldValue, ProfileStats};
use super::kind::{FieldAliases, ProfileOptions, SkipReason};
use super::value;

/// The outcome of looking a slot up.
pub(crate) enum Resolved<T> {
    Found(T),
    /// Present at some path, but no present value converted.
    Unusable,
    Absent,
}

/// `null` and placeholder strings (`-`, `?`, …) count as absent, not as invalid.
fn is_absent(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => value::is_placeholder(s.trim()),
        _ => false,
    }
}

/// Tries `paths` in order (then, if `ci`, again ignoring case); the first present value
/// that `conv` accepts wins.
pub(crate) fn resolve<T>(
    rec: &Value,
    paths: &[String],
    ci: bool,
    conv: impl Fn(&Value) -> Option<T>,
) -> Resolved<T> {
    let mut seen = false;
    for pass in [false, true] {
        if pass && !ci {
            break;
        }
        for p in paths {
            let found = if pass {
                value::lookup_ci(rec, p)
            } else {
                value::lookup(rec, p)
            };
            if let Some(v) = found {
                if is_absent(v) {
                    continue;
                }
                match conv(v) {
                    Some(t) => return Resolved::Found(t),
                    None => seen = true,
                }
            }
        }
    }
    if seen {
        Resolved::Unusable
    } else {
        Resolved::Absent
    }
}

/// Slot names, in plan order; the `extra` paths follow as slots 10, 11, ….
const SLOTS: [&str; 10] = [
    "timestamp",
    "host",
    "user",
    "source_ip",
    "session",
    names::EVENT_TYPE,
    names::ACTION,
    "message",
    names::COMMAND,
    names::PATH,
];
const TIMESTAMP: usize = 0;
const HOST: usize = 1;
const USER: usize = 2;
const SOURCE_IP: usize = 3;
const SESSION: usize = 4;
const EVENT_TYPE: usize = 5;
const ACTION: usize = 6;
const MESSAGE: usize = 7;
const COMMAND: usize = 8;
const PATH: usize = 9;
const EXTRA: usize = 10;

/// One way a top-level key can start an alias path.
#[derive(Debug)]
struct Candidate {
    slot: usize,
    /// Position of the path in its slot's list (lower wins).
    prio: usize,
    /// The top-level key as written in the alias (a path may start with a literal dotted key).
    key: String,
    /// The rest of the path below that key.
    rest: Option<String>,
}

/// The alias lists compiled into one table from lower-cased top-level key to the alias
/// paths it can start. A record is then mapped in one pass over its own keys (one hash
/// lookup each) instead of trying every alias of every slot; keys not in the table are
/// exactly the unknown ones. Built once per [`Profile`](super::kind::Profile).
#[derive(Debug, Default)]
pub(crate) struct Plan {
    table: HashMap<String, Vec<Candidate>>,
    extra: Vec<String>,
}

impl Plan {
    pub(crate) fn new(opts: &ProfileOptions) -> Self {
        let a: &FieldAliases = &opts.aliases;
        let host = opts.host_paths.as_deref().unwrap_or(&a.host);
        let mut lists: Vec<&[String]> = vec![
            &a.timestamp,
            host,
            &a.user,
            &a.source_ip,
            &a.session,
            &a.event_type,
            &a.action,
            &a.message,
            &a.command,
            &a.path,
        ];
        lists.extend(a.extra.iter().map(std::slice::from_ref));
        let mut table: HashMap<String, Vec<Candidate>> = HashMap::new();
        for (slot, list) in lists.into_iter().enumerate() {
            for (prio, path) in list.iter().enumerate() {
                let splits = path
                    .match_indices('.')
                    .map(|(i, _)| i)
                    .chain(std::iter::once(path.len()));
                for i in splits {
                    let key = &path[..i];
                    let rest = path.get(i + 1..).map(String::from);
                    if key.is_empty() || rest.as_deref() == Some("") {
                        continue;
                    }
                    table
                        .entry(key.to_ascii_lowercase())
                        .or_default()
                        .push(Candidate {
                            slot,
                            prio,
                            key: key.to_string(),
                            rest,
                        });
                }
            }
        }
        Self {
            table,
            extra: a.extra.clone(),
        }
    }
}

/// A present value for a slot, with its rank: exact-case before case-insensitive, then
/// alias order, then the longer literal key.
struct Hit<'v> {
    slot: usize,
    rank: (bool, usize, usize),
    v: &'v Value,
}

/// The best hit of `slot` that `conv` accepts.
fn pick<T>(hits: &[Hit], slot: usize, conv: impl Fn(&Value) -> Option<T>) -> Resolved<T> {
    let mut seen = false;
    for h in hits.iter().filter(|h| h.slot == slot) {
        match conv(h.v) {
            Some(t) => return Resolved::Found(t),
            None => seen = true,
        }
    }
    if seen {
        Resolved::Unusable
    } else {
        Resolved::Absent
    }
}

fn counted<T>(r: Resolved<T>, slot: &str, stats: &mut ProfileStats) -> Option<T> {
    match r {
        Resolved::Found(t) => Some(t),
        Resolved::Unusable => {
            stats.count_invalid(slot);
            None
        }
        Resolved::Absent => {
            stats.count_missing(slot);
            None
        }
    }
}

fn string_only(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        _ => None,
    }
}

/// Maps one record (label already removed).
pub(crate) fn map(
    plan: &Plan,
    rec: &Value,
    file: usize,
    line: usize,
    stats: &mut ProfileStats,
) -> Result<Event, SkipReason> {
    let Value::Object(obj) = rec else {
        return Err(("not a JSON object", String::new()));
    };
    let mut hits: Vec<Hit> = Vec::with_capacity(16);
    let mut buf = [0u8; 64];
    for (k, v) in obj {
        let lower: std::borrow::Cow<str> = if k.len() <= buf.len() {
            let b = &mut buf[..k.len()];
            b.copy_from_slice(k.as_bytes());
            b.make_ascii_lowercase();
            // ASCII lower-casing keeps UTF-8 valid; the fallback is never taken.
            match std::str::from_utf8(b) {
                Ok(s) => s.into(),
                Err(_) => k.to_ascii_lowercase().into(),
            }
        } else {
            k.to_ascii_lowercase().into()
        };
        let Some(cands) = plan.table.get(lower.as_ref()) else {
            stats.count_unknown(k);
            continue;
        };
        for c in cands {
            let key_exact = c.key == *k;
            let (target, exact) = match &c.rest {
                None => (Some(v), key_exact),
                Some(r) => match value::lookup(v, r) {
                    Some(t) => (Some(t), key_exact),
                    None => (value::lookup_ci(v, r), false),
                },
            };
            if let Some(t) = target.filter(|t| !is_absent(t)) {
                hits.push(Hit {
                    slot: c.slot,
                    rank: (!exact, c.prio, usize::MAX - c.key.len()),
                    v: t,
                });
            }
        }
    }
    hits.sort_by_key(|h| (h.slot, h.rank));

    let text = value::scalar_text;
    let mut e = Event::new(file, line);
    e.timestamp = counted(
        pick(&hits, TIMESTAMP, value::timestamp),
        SLOTS[TIMESTAMP],
        stats,
    );
    e.host = counted(pick(&hits, HOST, text), SLOTS[HOST], stats);
    e.user = counted(pick(&hits, USER, text), SLOTS[USER], stats);
    e.source_ip = counted(pick(&hits, SOURCE_IP, text), SLOTS[SOURCE_IP], stats);
    e.session = counted(pick(&hits, SESSION, text), SLOTS[SESSION], stats);
    let event_type = counted(pick(&hits, EVENT_TYPE, text), SLOTS[EVENT_TYPE], stats);
    let action = counted(pick(&hits, ACTION, text), SLOTS[ACTION], stats);
    let message = counted(pick(&hits, MESSAGE, string_only), SLOTS[MESSAGE], stats);
    let command = counted(pick(&hits, COMMAND, string_only), SLOTS[COMMAND], stats);
    let path = counted(pick(&hits, PATH, string_only), SLOTS[PATH], stats);

    e.message = match (message, &event_type, &action) {
        (Some(m), _, _) => m,
        (None, Some(t), Some(a)) => format!("{t} {a}"),
        (None, Some(t), None) => t.clone(),
        (None, None, Some(a)) => a.clone(),
        (None, None, None) => String::new(),
    };
    if let Some(t) = event_type {
        e.push(names::EVENT_TYPE, FieldValue::Category(t));
    }
    if let Some(t) = action {
        e.push(names::ACTION, FieldValue::Category(t));
    }
    if let Some(c) = command {
        e.push(names::COMMAND, FieldValue::Command(c));
    }
    if let Some(p) = path {
        e.push(names::PATH, FieldValue::Path(p));
    }
    for (i, p) in plan.extra.iter().enumerate() {
        let conv = |v: &Value| match v {
            Value::Number(_) => value::number(v).map(FieldValue::Number),
            other => value::scalar_text(other).map(FieldValue::Category),
        };
        if let Some(f) = counted(pick(&hits, EXTRA + i, conv), p, stats) {
            e.push(p, f);
        }
    }
    Ok(e)
}

/// Counts every top-level key that is not in `known` (exact spelling: for sources with a
/// fixed schema).
pub(crate) fn count_unknown_exact(rec: &Value, known: &[&str], stats: &mut ProfileStats) {
    let Value::Object(map) = rec else { return };
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            stats.count_unknown(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::kind::{parse_path, ProfileKind};
    use serde_json::json;
    use std::path::Path;

    fn one(opts: &ProfileOptions, v: Value) -> (Event, ProfileStats) {
        let mut st = ProfileStats::default();
        let e = map(&Plan::new(opts), &v, 0, 1, &mut st).unwrap();
        (e, st)
    }

    #[test]
    fn every_default_alias_of_the_pipeline_is_found() {
        let a = FieldAliases::default();
        let slots: [(&str, &[&str]); 6] = [
            (
                "timestamp",
                &["timestamp", "time", "@timestamp", "datetime", "date"],
            ),
            ("user", &["user", "username", "uid", "account", "identity"]),
            (
                "source_ip",
                &["source_ip", "src_ip", "ip", "client_ip", "remote_addr"],
            ),
            ("event_type", &["event_type", "type", "event", "category"]),
            ("action", &["action", "result", "status", "outcome"]),
            ("message", &["message", "msg", "description", "text", "log"]),
        ];
        for (slot, aliases) in slots {
            for alias in aliases {
                let v = if slot == "timestamp" {
                    json!({ *alias: "2026-01-15T10:30:00Z" })
                } else {
                    json!({ *alias: "X" })
                };
                let (e, st) = one(&ProfileOptions::default(), v);
                let got = match slot {
                    "timestamp" => e.timestamp.map(|t| t.to_rfc3339()),
                    "user" => e.user.clone(),
                    "source_ip" => e.source_ip.clone(),
                    "event_type" => e.field(names::EVENT_TYPE).map(|f| f.as_text().into_owned()),
                    "action" => e.field(names::ACTION).map(|f| f.as_text().into_owned()),
                    _ => Some(e.message.clone()),
                };
                let want = if slot == "timestamp" {
                    "2026-01-15T10:30:00+00:00"
                } else {
                    "X"
                };
                assert_eq!(got.as_deref(), Some(want), "{slot} via {alias}");
                assert!(st.unknown.is_empty(), "{alias}: {:?}", st.unknown);
            }
            assert!(aliases.iter().all(|x| match slot {
                "timestamp" => a.timestamp.iter().any(|y| y == x),
                "user" => a.user.iter().any(|y| y == x),
                "source_ip" => a.source_ip.iter().any(|y| y == x),
                "event_type" => a.event_type.iter().any(|y| y == x),
                "action" => a.action.iter().any(|y| y == x),
                _ => a.message.iter().any(|y| y == x),
            }));
        }
        for alias in [
            "host",
            "hostname",
            "Hostname",
            "agent.name",
            "computer_name",
        ] {
            let v = if let Some((a, b)) = alias.split_once('.') {
                json!({ a: { b: "h" } })
            } else {
                json!({ alias: "h" })
            };
            assert_eq!(
                one(&ProfileOptions::default(), v).0.host.as_deref(),
                Some("h"),
                "{alias}"
            );
        }
    }

    #[test]
    fn the_seed_pipeline_example_maps_completely() {
        let (e, st) = one(
            &ProfileOptions::default(),
            json!({"timestamp": "2026-01-15T10:30:00Z", "user": "alice",
                   "source_ip": "192.168.1.10", "event_type": "login", "action": "success",
                   "message": "User logged in successfully"}),
        );
        assert_eq!(e.user.as_deref(), Some("alice"));
        assert_eq!(e.source_ip.as_deref(), Some("192.168.1.10"));
        assert_eq!(e.message, "User logged in successfully");
        assert_eq!(
            e.fields,
            [
                crate::profile::event::Field {
                    name: "event_type".into(),
                    value: FieldValue::Category("login".into())
                },
                crate::profile::event::Field {
                    name: "action".into(),
                    value: FieldValue::Category("success".into())
                },
            ]
        );
        assert!(st.unknown.is_empty() && st.invalid.is_empty());
        assert_eq!(
            st.missing.keys().collect::<Vec<_>>(),
            ["command", "host", "path", "session"]
        );
    }

    #[test]
    fn configured_dotted_paths_order_and_case() {
        let mut opts = ProfileOptions::default();
        opts.aliases
            .set_from_spec("user=log.user.name,actor")
            .unwrap();
        opts.aliases
            .set_from_spec("extra=log.level,bytes,missing.one")
            .unwrap();
        let (e, st) = one(
            &opts,
            json!({"log": {"user": {"name": "carol"}, "level": "warn"}, "actor": "x",
                   "user": "not-used", "bytes": 512, "Message": "cased"}),
        );
        assert_eq!(e.user.as_deref(), Some("carol"));
        assert_eq!(e.message, "cased");
        assert_eq!(
            e.field("log.level"),
            Some(&FieldValue::Category("warn".into()))
        );
        assert_eq!(e.field("bytes"), Some(&FieldValue::Number(512.0)));
        assert_eq!(st.missing["missing.one"], 1);
        // `user` is no longer an alias, so it is unknown; `actor` is on the list.
        assert_eq!(st.unknown.keys().collect::<Vec<_>>(), ["user"]);
        // Falls through to the second path, exact before case-insensitive.
        let (e, _) = one(
            &opts,
            json!({"actor": "dave", "LOG": {"user": {"name": "ci"}}}),
        );
        assert_eq!(e.user.as_deref(), Some("dave"));
        let (e, _) = one(&opts, json!({"LOG": {"USER": {"NAME": "ci"}}}));
        assert_eq!(e.user.as_deref(), Some("ci"));
    }

    #[test]
    fn wrong_types_are_invalid_placeholders_missing_and_message_synthesized() {
        let (e, st) = one(
            &ProfileOptions::default(),
            json!({"user": {"id": 1}, "timestamp": "soon", "host": "-", "uid": null,
                   "message": {"content": "x"}, "eventName": "ConsoleLogin", "errorCode": "Denied"}),
        );
        assert_eq!(e.user, None);
        assert_eq!(e.timestamp, None);
        assert_eq!(e.host, None);
        assert_eq!(e.message, "ConsoleLogin Denied");
        assert_eq!(
            st.invalid.keys().collect::<Vec<_>>(),
            ["message", "timestamp", "user"]
        );
        assert_eq!(st.missing["host"], 1);
        assert!(st.unknown.is_empty(), "{:?}", st.unknown);
        let (e, st) = one(&ProfileOptions::default(), json!({"x": 1}));
        assert_eq!(e.message, "");
        assert_eq!(st.missing["message"], 1);
        assert_eq!(st.unknown["x"], 1);
        // A numeric uid is a user name; later aliases fill in when earlier are absent.
        let (e, _) = one(
            &ProfileOptions::default(),
            json!({"uid": 1000, "EventID": 4688}),
        );
        assert_eq!(e.user.as_deref(), Some("1000"));
        assert_eq!(
            e.field("event_type"),
            Some(&FieldValue::Category("4688".into()))
        );
    }

    #[test]
    fn host_paths_override() {
        let opts = ProfileOptions {
            host_paths: Some(vec!["agent.ip".into()]),
            ..Default::default()
        };
        let (e, _) = one(&opts, json!({"host": "a", "agent": {"ip": "10.0.0.1"}}));
        assert_eq!(e.host.as_deref(), Some("10.0.0.1"));
    }

    fn data(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/security")
            .join(rel)
    }

    #[test]
    fn ait_alerts_parse_completely_with_labels() {
        let opts = ProfileOptions {
            label_field: Some("label".into()),
            ..Default::default()
        };
        let (ev, st) = parse_path(
            ProfileKind::Json,
            &opts,
            &data("alerts/ait_ads_russellmitchell.ndjson"),
        )
        .unwrap();
        assert_eq!(ev.len(), 45_544);
        assert_eq!((st.lines, st.events, st.skipped), (45_544, 45_544, 0));
        assert!(st.unknown.is_empty() && st.invalid.is_empty(), "{st:?}");
        assert_eq!(st.missing.get("timestamp"), None);
        assert_eq!(st.missing["user"], 45_544);
        assert!(ev.iter().all(|e| e.timestamp.is_some() && e.host.is_some()));
        let attacks = ev
            .iter()
            .filter(|e| e.label.as_deref() != Some("normal"))
            .count();
        assert_eq!(attacks, 10_962);
        let hosts: std::collections::BTreeSet<_> =
            ev.iter().filter_map(|e| e.host.as_deref()).collect();
        assert_eq!(hosts.len(), 11);
        assert_eq!(ev[0].message, "AMiner: New event type.");
        assert_eq!(
            ev[0].field("event_type"),
            Some(&FieldValue::Category("A-All-Evt".into()))
        );
    }

    #[test]
    fn windows_security_and_sysmon_recording() {
        let (ev, st) = parse_path(
            ProfileKind::Json,
            &ProfileOptions::default(),
            &data("json/cmd_service_mod_fax_2020-10-2120454410.json"),
        )
        .unwrap();
        assert_eq!((st.events, st.skipped), (437, 0));
        assert!(ev.iter().all(|e| e.host.as_deref() == Some("WORKSTATION5")));
        assert!(ev
            .iter()
            .all(|e| e.timestamp.is_some() && !e.message.is_empty()));
        let sc = ev
            .iter()
            .filter(|e| e.command().is_some_and(|c| c.contains("sc  config Fax")))
            .count();
        assert!(sc >= 1);
        assert_eq!(st.invalid.len(), 0, "{:?}", st.invalid);
    }

    #[test]
    fn panther_auth_cloud_tests_unwrap() {
        let opts = ProfileOptions {
            label_field: Some("expected_alert".into()),
            unwrap_field: Some("log".into()),
            ..Default::default()
        };
        let (ev, st) = parse_path(
            ProfileKind::Json,
            &opts,
            &data("json/panther_rule_tests_auth_cloud.ndjson"),
        )
        .unwrap();
        assert_eq!((st.events, st.skipped), (1512, 0));
        let pos = ev
            .iter()
            .filter(|e| e.label.as_deref() == Some("true"))
            .count();
        assert_eq!(pos, 751);
        assert!(!st.missing.contains_key("label"));
        // No wrapper metadata leaks: test names are not in any message.
        assert!(ev.iter().all(|e| !e.message.contains("rules/")));
    }
}
