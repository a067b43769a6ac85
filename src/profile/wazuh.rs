//! The `wazuh` profile: Wazuh `alerts.json` lines (one alert a line, nested fields).
//!
//! A Wazuh alert has already been through a decoder and a rule, so most of the work is
//! choosing: the rule description is the message (a stable, template-like text; the raw
//! `full_log` is volatile and can be appended with `wazuh_full_log`), the rule level is a
//! severity prior (`level / 15`, Wazuh's scale), and the decoder-specific parts that the
//! file-integrity and command detectors need (Mimizuku's FsNotify and AuditCommand rules)
//! become typed fields: `syscheck.path` a path, `syscheck.event` the action, the auditd
//! `execve` arguments (or the sudo `command`) a command.
//!
//! Who acted is the whodata effective user of a file change, else the sudo/ssh source user,
//! else the destination user, else the audit login uid. The host is `agent.name`; some
//! deployments give every agent the same name, so it can be replaced (`host_paths`, e.g.
//! `agent.ip`).

use serde_json::Value;

use super::event::{names, Event, FieldValue, ProfileStats};
use super::json::{count_unknown_exact, resolve, Resolved};
use super::kind::{ProfileOptions, SkipReason};
use super::value::{self, scalar_text};

/// `a.b.c` through nested objects. Wazuh never writes keys with dots, so this skips the
/// literal-dotted-key search of [`value::lookup`] (the profile's hot path).
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Wazuh rule levels go from 0 to 15.
pub const MAX_RULE_LEVEL: f64 = 15.0;

/// Top-level keys of an alert the profile knows (used, or deliberately ignored).
const KNOWN_TOP: &[&str] = &[
    "timestamp",
    "@timestamp",
    "rule",
    "agent",
    "manager",
    "id",
    "full_log",
    "decoder",
    "data",
    "location",
    "predecoder",
    "syscheck",
    "input",
    "GeoLocation",
    "previous_output",
    "previous_log",
    "cluster",
    "@version",
];

/// Keys under `data` that are mapped.
const KNOWN_DATA: &[&str] = &[
    "srcip", "src_ip", "srcuser", "dstuser", "audit", "command", "pwd", "win",
];

fn paths(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

/// An audit uid as a user name: unset (`4294967295`, `-1`) is none, 0 is root.
pub(crate) fn uid_user(v: &Value) -> Option<String> {
    let s = scalar_text(v)?;
    match s.as_str() {
        "4294967295" | "-1" | "unset" => None,
        "0" => Some("root".into()),
        _ => Some(s),
    }
}

pub(crate) fn map(
    opts: &ProfileOptions,
    rec: &Value,
    file: usize,
    line: usize,
    stats: &mut ProfileStats,
) -> Result<Event, SkipReason> {
    let mut e = Event::new(file, line);
    let first = |list: &[&str], conv: &dyn Fn(&Value) -> Option<String>| {
        list.iter().filter_map(|p| lookup(rec, p)).find_map(conv)
    };

    e.timestamp = ["timestamp", "@timestamp"]
        .iter()
        .filter_map(|p| lookup(rec, p))
        .find_map(value::timestamp);
    if e.timestamp.is_none() {
        if lookup(rec, "timestamp")
            .or(lookup(rec, "@timestamp"))
            .is_some()
        {
            stats.count_invalid("timestamp");
        } else {
            stats.count_missing("timestamp");
        }
    }
    let default_hosts = paths(&["agent.name", "predecoder.hostname"]);
    let host_paths = opts.host_paths.as_deref().unwrap_or(&default_hosts);
    e.host = match resolve(rec, host_paths, false, scalar_text) {
        Resolved::Found(h) => Some(h),
        _ => None,
    };
    e.user = first(
        &[
            "syscheck.audit.effective_user.name",
            "syscheck.audit.user.name",
            "data.srcuser",
            "data.dstuser",
            "data.win.eventdata.subjectUserName",
            "data.win.eventdata.targetUserName",
        ],
        &scalar_text,
    )
    .or_else(|| {
        first(
            &["data.audit.auid", "data.audit.euid", "data.audit.uid"],
            &uid_user,
        )
    });
    e.source_ip = first(
        &["data.srcip", "data.src_ip", "data.win.eventdata.ipAddress"],
        &scalar_text,
    );
    e.session = first(&["data.audit.session"], &uid_user);

    let null = Value::Null;
    let rule = rec.get("rule").unwrap_or(&null);
    let data = rec.get("data").unwrap_or(&null);
    let audit = data.get("audit").unwrap_or(&null);
    let sys = rec.get("syscheck").unwrap_or(&null);
    let description = lookup(rule, "description").and_then(scalar_text);
    let full_log = lookup(rec, "full_log").and_then(scalar_text);
    e.message = match (description, full_log) {
        (Some(d), Some(f)) if opts.wazuh_full_log => format!("{d} | {f}"),
        (Some(d), _) => d,
        (None, Some(f)) => f,
        (None, None) => String::new(),
    };
    let level = lookup(rule, "level").and_then(value::number);
    e.prior = level.map(|l| (l / MAX_RULE_LEVEL).clamp(0.0, 1.0));

    for (name, v) in [
        ("host", &e.host),
        ("user", &e.user),
        ("source_ip", &e.source_ip),
        ("session", &e.session),
    ] {
        if v.is_none() {
            stats.count_missing(name);
        }
    }
    if e.message.is_empty() {
        stats.count_missing("message");
    }
    if rule.is_null() {
        stats.count_missing("rule");
    }

    let cat = |s: String| FieldValue::Category(s);
    if let Some(id) = lookup(rule, "id").and_then(scalar_text) {
        e.push("rule_id", cat(id));
    }
    if let Some(l) = level {
        e.push("rule_level", FieldValue::Number(l));
    } else if lookup(rule, "level").is_some() {
        stats.count_invalid("rule.level");
    }
    let groups = strings_at(rule, "groups");
    for g in &groups {
        e.push("rule_group", cat(g.clone()));
    }
    for id in strings_at(rule, "mitre.id") {
        e.push("mitre_id", cat(id));
    }
    for t in strings_at(rule, "mitre.tactic") {
        e.push("mitre_tactic", cat(t));
    }
    if let Some(d) = lookup(rec, "decoder.name").and_then(scalar_text) {
        e.push("decoder", cat(d));
    }
    if let Some(l) = lookup(rec, "location").and_then(scalar_text) {
        e.push("location", cat(l));
    }
    if let Some(ip) = lookup(rec, "agent.ip").and_then(scalar_text) {
        e.push("agent_ip", cat(ip));
    }
    // File integrity monitoring.
    if let Some(p) = lookup(sys, "path").and_then(scalar_text) {
        e.push(names::PATH, FieldValue::Path(p));
    }
    if let Some(a) = lookup(sys, "event").and_then(scalar_text) {
        e.push(names::ACTION, cat(a));
    }
    if let Some(o) = lookup(sys, "uname_after").and_then(scalar_text) {
        e.push("owner", cat(o));
    }
    // Commands: auditd execve arguments, else sudo's command line, else the audit comm.
    let command = execve_command(audit)
        .or_else(|| lookup(data, "command").and_then(scalar_text))
        .or_else(|| lookup(audit, "command").and_then(scalar_text));
    if let Some(c) = command {
        e.push(names::COMMAND, FieldValue::Command(c));
    }
    if let Some(x) = first(
        &["data.audit.exe", "syscheck.audit.process.name"],
        &scalar_text,
    ) {
        e.push(names::EXE, FieldValue::Path(x));
    }
    if let Some(c) = first(&["data.pwd", "data.audit.cwd"], &scalar_text) {
        e.push(names::CWD, FieldValue::Path(c));
    }
    for (name, obj, key) in [
        ("srcuser", data, "srcuser"),
        ("dstuser", data, "dstuser"),
        ("audit_type", audit, "type"),
        ("key", audit, "key"),
    ] {
        if let Some(v) = obj.get(key).and_then(scalar_text) {
            e.push(name, cat(v));
        }
    }
    let outcome = if groups.iter().any(|g| g.starts_with("authentication_fail")) {
        Some("failure".to_string())
    } else if groups.iter().any(|g| g == "authentication_success") {
        Some("success".to_string())
    } else {
        lookup(audit, "success")
            .and_then(scalar_text)
            .map(|s| match s.as_str() {
                "yes" | "1" | "success" => "success".into(),
                "no" | "0" | "failed" => "failure".into(),
                _ => s,
            })
    };
    if let Some(o) = outcome {
        e.push(names::OUTCOME, cat(o));
    }

    count_unknown_exact(rec, KNOWN_TOP, stats);
    if let Value::Object(data) = data {
        let mut name = String::from("data.");
        for k in data.keys() {
            if !KNOWN_DATA.contains(&k.as_str()) {
                name.truncate(5);
                name.push_str(k);
                stats.count_unknown(&name);
            }
        }
    }
    Ok(e)
}

/// The strings of an array (or a lone string) at `path`.
fn strings_at(rec: &Value, path: &str) -> Vec<String> {
    match lookup(rec, path) {
        Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
        Some(v) => scalar_text(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// `data.audit.execve.a0 … aN` joined with spaces, in numeric order.
fn execve_command(audit: &Value) -> Option<String> {
    let Some(Value::Object(args)) = audit.get("execve") else {
        return None;
    };
    let mut numbered: Vec<(u32, String)> = args
        .iter()
        .filter_map(|(k, v)| {
            let n = k.strip_prefix('a')?.parse::<u32>().ok()?;
            Some((n, scalar_text(v)?))
        })
        .collect();
    numbered.sort_by_key(|(n, _)| *n);
    let joined = numbered
        .into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(" ");
    (!joined.is_empty()).then_some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::kind::{parse_path, ProfileKind};
    use serde_json::json;
    use std::path::Path;

    fn one(v: Value) -> (Event, ProfileStats) {
        let mut st = ProfileStats::default();
        let e = map(&ProfileOptions::default(), &v, 0, 1, &mut st).unwrap();
        (e, st)
    }

    #[test]
    fn mimizuku_fim_example() {
        let (e, st) = one(json!({
            "syscheck": {"path": "/etc/passwd", "event": "modified",
                         "audit": {"effective_user": {"name": "root"}}, "uname_after": "root"},
            "agent": {"name": "my-hostname"},
            "rule": {"id": "550", "level": 7, "description": "Integrity checksum changed.",
                     "groups": ["ossec", "syscheck", "syscheck_entry_modified"]},
            "timestamp": "2024-05-01T10:00:00.123+0000"
        }));
        assert_eq!(e.host.as_deref(), Some("my-hostname"));
        assert_eq!(e.user.as_deref(), Some("root"));
        assert_eq!(e.message, "Integrity checksum changed.");
        assert_eq!(e.prior, Some(7.0 / 15.0));
        assert_eq!(
            e.timestamp.unwrap().to_rfc3339(),
            "2024-05-01T10:00:00.123+00:00"
        );
        assert_eq!(
            e.field("path"),
            Some(&FieldValue::Path("/etc/passwd".into()))
        );
        assert_eq!(
            e.field("action"),
            Some(&FieldValue::Category("modified".into()))
        );
        assert_eq!(
            e.field("rule_id"),
            Some(&FieldValue::Category("550".into()))
        );
        assert_eq!(e.field("rule_level"), Some(&FieldValue::Number(7.0)));
        assert_eq!(e.fields_named("rule_group").count(), 3);
        assert_eq!(e.field("owner"), Some(&FieldValue::Category("root".into())));
        assert!(st.unknown.is_empty());
    }

    #[test]
    fn audit_command_with_execve_args() {
        let (e, _) = one(json!({
            "agent": {"name": "web1"},
            "rule": {"id": "80792", "level": 3, "description": "Audit: Command: /usr/bin/curl"},
            "data": {"audit": {"command": "curl", "exe": "/usr/bin/curl", "auid": "1000",
                "euid": "0", "session": "12", "cwd": "/tmp", "key": "audit-wazuh-c",
                "execve": {"a0": "curl", "a2": "http://x/y.sh", "a1": "-O", "a10": "z"}}}
        }));
        assert_eq!(e.command(), Some("curl -O http://x/y.sh z"));
        assert_eq!(e.user.as_deref(), Some("1000"));
        assert_eq!(e.session.as_deref(), Some("12"));
        assert_eq!(
            e.field("exe"),
            Some(&FieldValue::Path("/usr/bin/curl".into()))
        );
        assert_eq!(e.field("cwd"), Some(&FieldValue::Path("/tmp".into())));
        assert_eq!(
            e.field("key"),
            Some(&FieldValue::Category("audit-wazuh-c".into()))
        );
        // Without execve: the comm; unset auid falls back to euid 0 = root.
        let (e, _) = one(json!({"data": {"audit": {"command": "apparmor_parser",
            "auid": "4294967295", "euid": "0", "session": "4294967295"}}}));
        assert_eq!(e.command(), Some("apparmor_parser"));
        assert_eq!(e.user.as_deref(), Some("root"));
        assert_eq!(e.session, None);
    }

    #[test]
    fn levels_clamp_and_bad_types_do_not_crash() {
        let (e, st) = one(
            json!({"rule": {"level": 99, "groups": "single", "description": 5},
            "timestamp": "later", "data": "x", "syscheck": [1], "extra_top": 1}),
        );
        assert_eq!(e.prior, Some(1.0));
        assert_eq!(e.message, "5");
        assert_eq!(e.fields_named("rule_group").count(), 1);
        assert_eq!(st.invalid["timestamp"], 1);
        assert_eq!(st.unknown["extra_top"], 1);
        let (e, st) = one(json!({"rule": {"level": "high"}}));
        assert_eq!(e.prior, None);
        assert_eq!(st.invalid["rule.level"], 1);
        assert_eq!(st.missing["message"], 1);
    }

    fn data(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/security/wazuh")
            .join(rel)
    }

    #[test]
    fn ait_wazuh_attack_and_normal_files() {
        for (file, n_sudo_cmd) in [
            ("wazuh_attack_lines.json", 3),
            ("wazuh_no_attack_lines.json", 2),
        ] {
            let (ev, st) =
                parse_path(ProfileKind::Wazuh, &ProfileOptions::default(), &data(file)).unwrap();
            assert_eq!((st.lines, st.events, st.skipped), (100, 100, 0), "{file}");
            assert!(ev
                .iter()
                .all(|e| e.timestamp.is_some() && e.prior.is_some()));
            assert!(ev.iter().all(|e| e.host.as_deref() == Some("wazuh-client")));
            let sudo: Vec<_> = ev
                .iter()
                .filter(|e| e.field("srcuser").is_some() && e.command().is_some())
                .collect();
            assert_eq!(sudo.len(), n_sudo_cmd, "{file}");
            assert!(sudo.iter().all(|e| e.user.as_deref() == Some("phopkins")));
        }
        let (ev, _) = parse_path(
            ProfileKind::Wazuh,
            &ProfileOptions::default(),
            &data("wazuh_attack_lines.json"),
        )
        .unwrap();
        let shadow = ev
            .iter()
            .find(|e| e.command() == Some("/bin/cat /etc/shadow"))
            .unwrap();
        assert_eq!(
            shadow.field("dstuser"),
            Some(&FieldValue::Category("root".into()))
        );
        assert_eq!(shadow.message, "Successful sudo to ROOT executed.");
        // Audit-decoded alerts in the normal file: comm as command, exe as path.
        let (ev, _) = parse_path(
            ProfileKind::Wazuh,
            &ProfileOptions::default(),
            &data("wazuh_no_attack_lines.json"),
        )
        .unwrap();
        let audit: Vec<_> = ev
            .iter()
            .filter(|e| e.field("audit_type").is_some())
            .collect();
        assert_eq!(audit.len(), 4);
        assert!(audit.iter().all(|e| e.command() == Some("apparmor_parser")
            && e.field("exe") == Some(&FieldValue::Path("/sbin/apparmor_parser".into()))));
        // Every agent is called wazuh-client in this data set; agent.ip tells them apart.
        let opts = ProfileOptions {
            host_paths: Some(vec!["agent.ip".into()]),
            ..Default::default()
        };
        let (ev, _) =
            parse_path(ProfileKind::Wazuh, &opts, &data("wazuh_attack_lines.json")).unwrap();
        let hosts: std::collections::BTreeSet<_> =
            ev.iter().filter_map(|e| e.host.clone()).collect();
        assert_eq!(hosts.len(), 10);
    }
}
