//! The `audit` profile: raw auditd lines, grouped into one event per audit serial.
//!
//! The kernel writes one security event as several records (`SYSCALL`, `EXECVE`, `CWD`,
//! `PATH`…, `PROCTITLE`, `EOE`) that share the stamp `msg=audit(SECONDS.MILLIS:SERIAL)`;
//! user-space events (PAM, sudo, logins) are single records with their details inside
//! `msg='…'`. Only the whole group says "user X ran command Y in directory Z on file W", so
//! records are grouped by stamp (and `node=` host, when several hosts share a log) into one
//! [`Event`], in the order of each group's first line. Interleaved groups are fine.
//!
//! auditd writes strings it does not trust (arguments, titles, names with spaces) as hex;
//! they are decoded here (`cmd=636174…` is `cat /etc/shadow`, `proctitle` arguments are
//! NUL-separated), because a command nobody can read is useless to a detector. The command
//! of an event is its `EXECVE` arguments joined (long arguments split as `a1[0]`, `a1[1]`…
//! are put back together), else a `USER_CMD`'s `cmd`, else the `PROCTITLE`.
//!
//! Who acted is the login user (`auid`, which survives `su` and `sudo`) when set, else the
//! PAM account (`acct`), else the process uid; uid 0 is called `root`, an unset id
//! (`4294967295`) is none. Enriched logs (`log_format = ENRICHED`) give names (`AUID="jhall"`)
//! which are preferred. Keys the profile does not map reach only the message and are counted
//! as `unknown`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::event::{names, Event, FieldValue, ProfileStats};
use super::kind::split_lines;
use super::value::is_placeholder;

/// One record of an event: its type and its key/value pairs (values decoded, `msg='…'`
/// flattened into the pairs).
#[derive(Debug)]
struct Record {
    kind: String,
    pairs: Vec<(String, String)>,
}

struct Group {
    line: usize,
    timestamp: Option<DateTime<Utc>>,
    node: Option<String>,
    records: Vec<Record>,
}

/// Fields whose unquoted values auditd hex-encodes.
fn is_untrusted_string(key: &str) -> bool {
    matches!(
        key,
        "proctitle" | "cmd" | "acct" | "exe" | "cwd" | "name" | "comm" | "key" | "data" | "path"
    )
}

/// EXECVE argument keys: `a0`, `a12`, `a1[3]`.
fn execve_arg(key: &str) -> Option<(u32, Option<u32>)> {
    let rest = key.strip_prefix('a')?;
    match rest.split_once('[') {
        Some((n, chunk)) => Some((
            n.parse().ok()?,
            Some(chunk.strip_suffix(']')?.parse().ok()?),
        )),
        None => Some((rest.parse().ok()?, None)),
    }
}

/// Decodes an even-length hex string; `None` if it is not one.
fn hex_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 2 || !b.len().is_multiple_of(2) || !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    };
    let bytes: Vec<u8> = b
        .chunks_exact(2)
        .map(|p| match (nib(p[0]) << 4) | nib(p[1]) {
            // NUL separates proctitle arguments, 0x01 separates audit keys.
            0 => b' ',
            1 => b',',
            c if c < 0x20 && c != b'\t' => b' ',
            c => c,
        })
        .collect();
    Some(String::from_utf8_lossy(&bytes).trim_end().to_string())
}

/// Parses `key=value` pairs (`"quoted"`, `'quoted'`, bare); `msg='…'` is parsed into the
/// same list (one level). Bare words without `=` are ignored.
fn parse_pairs(body: &str, record_kind: &str, out: &mut Vec<(String, String)>, nested: bool) {
    let mut rest = body;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{1d}');
        if rest.is_empty() {
            return;
        }
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace() || c == '\u{1d}')
            .unwrap_or(rest.len());
        if !rest[key_end..].starts_with('=') {
            rest = &rest[key_end..];
            continue;
        }
        let key = &rest[..key_end];
        let after = &rest[key_end + 1..];
        let (raw, quoted, remaining) = match after.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &after[1..];
                match inner.find(q) {
                    Some(end) => (&inner[..end], Some(q), &inner[end + 1..]),
                    None => (inner, Some(q), ""),
                }
            }
            _ => {
                let end = after
                    .find(|c: char| c.is_whitespace() || c == '\u{1d}')
                    .unwrap_or(after.len());
                (&after[..end], None, &after[end..])
            }
        };
        rest = remaining;
        if key == "msg" && quoted == Some('\'') && !nested {
            parse_pairs(raw, record_kind, out, true);
            continue;
        }
        let decodable = quoted.is_none()
            && (is_untrusted_string(key) || (record_kind == "EXECVE" && execve_arg(key).is_some()));
        let value = if decodable {
            hex_decode(raw).unwrap_or_else(|| raw.to_string())
        } else {
            raw.to_string()
        };
        out.push((key.to_string(), value));
    }
}

/// The header of a record line: `[prefix] [node=N] type=T msg=audit(S.MS:SERIAL): body`.
struct Header<'a> {
    node: Option<&'a str>,
    kind: &'a str,
    stamp: &'a str,
    body: &'a str,
}

fn parse_header(text: &str) -> Result<Header<'_>, (&'static str, String)> {
    let mut search = 0;
    let type_pos = loop {
        let Some(p) = text[search..].find("type=") else {
            return Err(("no audit header", "no 'type='".into()));
        };
        let p = search + p;
        if p == 0 || text[..p].ends_with(|c: char| c.is_whitespace()) {
            break p;
        }
        search = p + 5;
    };
    let node = text[..type_pos]
        .split_whitespace()
        .find_map(|w| w.strip_prefix("node="))
        .filter(|n| !n.is_empty());
    let after_type = &text[type_pos + 5..];
    let kind_end = after_type
        .find(char::is_whitespace)
        .unwrap_or(after_type.len());
    let kind = &after_type[..kind_end];
    let rest = after_type[kind_end..].trim_start();
    let Some(stamp_start) = rest.strip_prefix("msg=audit(") else {
        return Err(("no audit header", "no 'msg=audit(' after the type".into()));
    };
    let Some(close) = stamp_start.find(')') else {
        return Err(("bad audit header", "unterminated 'msg=audit('".into()));
    };
    let stamp = &stamp_start[..close];
    let body = stamp_start[close + 1..]
        .strip_prefix(':')
        .unwrap_or(&stamp_start[close + 1..]);
    if kind.is_empty() {
        return Err(("bad audit header", "empty record type".into()));
    }
    Ok(Header {
        node,
        kind,
        stamp,
        body,
    })
}

/// `1642723741.072:375` → the time (the serial only identifies the group).
fn stamp_time(stamp: &str) -> Option<DateTime<Utc>> {
    let (ts, serial) = stamp.split_once(':')?;
    serial.parse::<u64>().ok()?;
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    let secs: i64 = secs.parse().ok()?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32)
    };
    DateTime::from_timestamp(secs, nanos)
}

pub(crate) fn parse(bytes: &[u8], file: usize, stats: &mut ProfileStats) -> Vec<Event> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(Option<String>, String), usize> = HashMap::new();
    for (i, raw) in split_lines(bytes).enumerate() {
        let line = i + 1;
        stats.lines += 1;
        let text = String::from_utf8_lossy(raw);
        let text = text.trim();
        if text.is_empty() {
            stats.skip(file, line, "blank line", "");
            continue;
        }
        let h = match parse_header(text) {
            Ok(h) => h,
            Err((reason, detail)) => {
                stats.skip(file, line, reason, detail);
                continue;
            }
        };
        let Some(timestamp) = stamp_time(h.stamp) else {
            stats.skip(
                file,
                line,
                "bad audit header",
                format!("bad stamp '{}'", h.stamp),
            );
            continue;
        };
        let mut pairs = Vec::new();
        parse_pairs(h.body, h.kind, &mut pairs, false);
        let record = Record {
            kind: h.kind.to_string(),
            pairs,
        };
        let key = (h.node.map(String::from), h.stamp.to_string());
        match index.get(&key) {
            Some(&g) => groups[g].records.push(record),
            None => {
                index.insert(key, groups.len());
                groups.push(Group {
                    line,
                    timestamp: Some(timestamp),
                    node: h.node.map(String::from),
                    records: vec![record],
                });
            }
        }
    }
    let events: Vec<Event> = groups.into_iter().map(|g| build(g, file, stats)).collect();
    stats.events += events.len() as u64;
    events
}

/// Keys that are mapped to entities or fields (everything else is only in the message).
fn is_mapped_key(key: &str, kind: &str) -> bool {
    matches!(
        key,
        "ses"
            | "acct"
            | "uid"
            | "auid"
            | "euid"
            | "exe"
            | "comm"
            | "cwd"
            | "name"
            | "key"
            | "res"
            | "success"
            | "syscall"
            | "op"
            | "cmd"
            | "proctitle"
            | "addr"
            | "terminal"
            | "argc"
            | "UID"
            | "AUID"
            | "EUID"
            | "hostname"
            | "unit"
    ) || (kind == "EXECVE" && (execve_arg(key).is_some() || key.ends_with("_len")))
}

fn build(g: Group, file: usize, stats: &mut ProfileStats) -> Event {
    let mut e = Event::new(file, g.line);
    e.timestamp = g.timestamp;
    e.host = g.node;
    let get = |key: &str| -> Option<&str> {
        g.records
            .iter()
            .flat_map(|r| r.pairs.iter())
            .find(|(k, v)| k == key && !is_placeholder(v))
            .map(|(_, v)| v.as_str())
    };
    let id_user = |v: &str| -> Option<String> {
        match v {
            "4294967295" | "-1" | "unset" => None,
            "0" => Some("root".into()),
            _ => Some(v.to_string()),
        }
    };
    let auid = get("auid").and_then(id_user);
    e.user = match auid {
        Some(_) => get("AUID").map(String::from).or(auid),
        None => None,
    }
    .or_else(|| get("acct").map(String::from))
    .or_else(|| get("UID").map(String::from))
    .or_else(|| get("uid").and_then(id_user));
    e.session = get("ses")
        .filter(|s| !matches!(*s, "4294967295" | "-1" | "unset"))
        .map(String::from);
    // PAM records: `addr` is the remote address, `hostname` its name (or the address).
    e.source_ip = get("addr").or_else(|| get("hostname")).map(String::from);
    for (slot, v) in [
        ("host", e.host.is_some()),
        ("user", e.user.is_some()),
        ("source_ip", e.source_ip.is_some()),
        ("session", e.session.is_some()),
    ] {
        if !v {
            stats.count_missing(slot);
        }
    }

    // Message: every record as `TYPE key=value …`, values decoded.
    let mut msg = String::new();
    for r in &g.records {
        if r.kind == "EOE" {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(" ; ");
        }
        msg.push_str(&r.kind);
        for (k, v) in &r.pairs {
            msg.push(' ');
            msg.push_str(k);
            msg.push('=');
            msg.push_str(v);
            if !is_mapped_key(k, &r.kind) {
                stats.count_unknown(k);
            }
        }
    }
    e.message = msg;

    let mut kinds: Vec<&str> = Vec::new();
    for r in &g.records {
        if r.kind != "EOE" && !kinds.contains(&r.kind.as_str()) {
            kinds.push(&r.kind);
        }
    }
    let cat = |s: &str| FieldValue::Category(s.to_string());
    e.push(names::EVENT_TYPE, cat(&kinds.join("+")));
    for (name, key) in [("op", "op"), ("syscall", "syscall"), ("key", "key")] {
        if let Some(v) = get(key) {
            e.push(name, cat(v));
        }
    }
    if let Some(r) = get("res").or_else(|| get("success")) {
        let o = match r {
            "success" | "yes" | "1" => "success",
            "failed" | "no" | "0" => "failure",
            other => other,
        };
        e.push(names::OUTCOME, cat(o));
    }
    let command = execve_command(&g.records)
        .or_else(|| get("cmd").map(String::from))
        .or_else(|| get("proctitle").map(String::from));
    if let Some(c) = command {
        e.push(names::COMMAND, FieldValue::Command(c));
    }
    if let Some(x) = get("exe") {
        e.push(names::EXE, FieldValue::Path(x.to_string()));
    }
    if let Some(c) = get("comm") {
        e.push("comm", cat(c));
    }
    if let Some(c) = get("cwd") {
        e.push(names::CWD, FieldValue::Path(c.to_string()));
    }
    for r in &g.records {
        if r.kind == "PATH" || r.kind == "AVC" {
            for (k, v) in &r.pairs {
                if k == "name" && !is_placeholder(v) {
                    e.push(names::PATH, FieldValue::Path(v.clone()));
                }
            }
        }
    }
    for key in ["acct", "uid", "auid", "euid", "terminal", "unit"] {
        if let Some(v) = get(key) {
            e.push(key, cat(v));
        }
    }
    e
}

/// The `EXECVE` arguments in order, chunked arguments reassembled, joined with spaces.
fn execve_command(records: &[Record]) -> Option<String> {
    let r = records.iter().find(|r| r.kind == "EXECVE")?;
    let mut args: Vec<(u32, u32, &str)> = r
        .pairs
        .iter()
        .filter_map(|(k, v)| {
            let (n, chunk) = execve_arg(k)?;
            Some((n, chunk.unwrap_or(0), v.as_str()))
        })
        .collect();
    if args.is_empty() {
        return None;
    }
    args.sort_by_key(|&(n, c, _)| (n, c));
    let mut out = String::new();
    let mut prev: Option<u32> = None;
    for (n, _, v) in args {
        if prev.is_some_and(|p| p != n) {
            out.push(' ');
        }
        out.push_str(v);
        prev = Some(n);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::kind::{parse_bytes, parse_path, ProfileKind, ProfileOptions};
    use std::path::Path;

    fn audit(input: &str) -> (Vec<Event>, ProfileStats) {
        parse_bytes(
            ProfileKind::Audit,
            &ProfileOptions::default(),
            input.as_bytes(),
        )
    }

    #[test]
    fn execve_event_grouped_with_hex_arguments_decoded() {
        let input = "\
type=SYSCALL msg=audit(1700000000.123:4242): arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=10 pid=11 auid=1000 uid=1000 euid=0 ses=7 comm=\"sudo\" exe=\"/usr/bin/sudo\" key=\"priv_esc\"
type=EXECVE msg=audit(1700000000.123:4242): argc=3 a0=\"sudo\" a1=\"cat\" a2=2F6574632F736861646F77
type=CWD msg=audit(1700000000.123:4242): cwd=\"/home/alice\"
type=PATH msg=audit(1700000000.123:4242): item=0 name=\"/usr/bin/sudo\" inode=1 nametype=NORMAL
type=PATH msg=audit(1700000000.123:4242): item=1 name=(null) inode=2 nametype=NORMAL
type=PROCTITLE msg=audit(1700000000.123:4242): proctitle=7375646F00636174002F6574632F736861646F77
type=EOE msg=audit(1700000000.123:4242):
";
        let (ev, st) = audit(input);
        assert_eq!(ev.len(), 1);
        assert_eq!((st.lines, st.events, st.skipped), (7, 1, 0));
        let e = &ev[0];
        assert_eq!(e.line, 1);
        assert_eq!(e.command(), Some("sudo cat /etc/shadow"));
        assert_eq!(e.user.as_deref(), Some("1000"));
        assert_eq!(e.session.as_deref(), Some("7"));
        assert_eq!(
            e.timestamp.unwrap().to_rfc3339(),
            "2023-11-14T22:13:20.123+00:00"
        );
        assert_eq!(
            e.field("event_type"),
            Some(&FieldValue::Category(
                "SYSCALL+EXECVE+CWD+PATH+PROCTITLE".into()
            ))
        );
        assert_eq!(e.field("syscall"), Some(&FieldValue::Category("59".into())));
        assert_eq!(
            e.field("key"),
            Some(&FieldValue::Category("priv_esc".into()))
        );
        assert_eq!(
            e.field("outcome"),
            Some(&FieldValue::Category("success".into()))
        );
        assert_eq!(
            e.field("cwd"),
            Some(&FieldValue::Path("/home/alice".into()))
        );
        assert_eq!(e.field("euid"), Some(&FieldValue::Category("0".into())));
        assert_eq!(
            e.fields_named("path").collect::<Vec<_>>(),
            [&FieldValue::Path("/usr/bin/sudo".into())]
        );
        assert!(e
            .message
            .contains("EXECVE argc=3 a0=sudo a1=cat a2=/etc/shadow"));
        assert!(!e.message.contains("EOE"));
        assert!(st.unknown.contains_key("ppid") && !st.unknown.contains_key("a2"));
    }

    #[test]
    fn interleaved_groups_long_args_nodes_and_enriched_names() {
        let input = "\
node=web1 type=SYSCALL msg=audit(1.000:1): auid=1001 uid=0 ses=3 exe=\"/bin/bash\"\x1dAUID=\"mallory\" UID=\"root\"
node=web2 type=SYSCALL msg=audit(1.000:1): auid=4294967295 uid=33 exe=2F7573722F62696E2F706870
node=web1 type=EXECVE msg=audit(1.000:1): argc=2 a0=\"bash\" a1_len=8 a1[0]=2D63206964 a1[1]=\"; w\"
Dec  1 10:00:00 web2 audispd: node=web2 type=EXECVE msg=audit(1.000:1): argc=1 a0=\"php\"
";
        let (ev, st) = audit(input);
        assert_eq!(ev.len(), 2, "{:?}", st);
        assert_eq!(ev[0].host.as_deref(), Some("web1"));
        assert_eq!(ev[0].user.as_deref(), Some("mallory"));
        assert_eq!(ev[0].command(), Some("bash -c id; w"));
        assert_eq!(ev[1].host.as_deref(), Some("web2"));
        assert_eq!(ev[1].user.as_deref(), Some("33"));
        assert_eq!(ev[1].command(), Some("php"));
        assert_eq!(
            ev[1].field("exe"),
            Some(&FieldValue::Path("/usr/bin/php".into()))
        );
        assert_eq!(ev[1].session, None);
    }

    #[test]
    fn user_space_messages_are_flattened_and_decoded() {
        let (ev, _) = audit(
            "type=USER_CMD msg=audit(1642999086.239:2230): pid=27966 uid=1002 auid=4294967295 ses=4294967295 msg='cwd=\"/var/www/x\" cmd=636174202F6574632F736861646F77 terminal=pts/1 res=success'",
        );
        let e = &ev[0];
        assert_eq!(e.command(), Some("cat /etc/shadow"));
        assert_eq!(e.user.as_deref(), Some("1002"));
        assert_eq!(e.field("cwd"), Some(&FieldValue::Path("/var/www/x".into())));
        assert_eq!(
            e.field("terminal"),
            Some(&FieldValue::Category("pts/1".into()))
        );
        assert_eq!(
            e.field("outcome"),
            Some(&FieldValue::Category("success".into()))
        );
        assert_eq!(
            e.message,
            "USER_CMD pid=27966 uid=1002 auid=4294967295 ses=4294967295 cwd=/var/www/x cmd=cat /etc/shadow terminal=pts/1 res=success"
        );
    }

    #[test]
    fn hostile_lines_are_skipped_not_fatal() {
        let long = format!(
            "type=EXECVE msg=audit(5.5:9): a0={}",
            "41".repeat(2_000_000)
        );
        let input = format!(
            "garbage\n\ntype=\ntype=X msg=audit(\ntype=X msg=audit(abc:1): a=b\ntype=X msg=audit(1.5:x):\nxtype=Y msg=audit(1.1:1):\ntype=X msg=audit(1.1:1): msg='unterminated a=\"b\nnode= type=X msg=audit(99999999999999999999.1:1):\n{long}\n\u{1d}=\u{1d}\n日本 type=Ü msg=audit(2.2:2): ü='x"
        );
        let (ev, st) = audit(&input);
        assert_eq!(st.lines, 12);
        assert_eq!(ev.len(), 3, "{st:?}");
        assert_eq!(st.skipped, 9);
        assert_eq!(ev[1].command().map(str::len), Some(2_000_000));
        assert!(st.skip_reasons.contains_key("no audit header"));
        assert!(st.skip_reasons.contains_key("bad audit header"));
        assert_eq!(hex_decode("4"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode("61006200"), Some("a b".into()));
    }

    #[test]
    fn russellmitchell_intranet_server_audit_log() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/security/audit");
        let (ev, st) = parse_path(
            ProfileKind::Audit,
            &ProfileOptions::default(),
            &dir.join("russellmitchell_intranet_audit.log"),
        )
        .unwrap();
        // 2,316 lines; the 4 AppArmor events are AVC+SYSCALL+PROCTITLE triples.
        assert_eq!((st.lines, st.events, st.skipped), (2316, 2308, 0));
        assert!(ev.iter().all(|e| e.timestamp.is_some() && e.user.is_some()));
        let triples = ev
            .iter()
            .filter(|e| {
                e.field("event_type") == Some(&FieldValue::Category("AVC+SYSCALL+PROCTITLE".into()))
            })
            .collect::<Vec<_>>();
        assert_eq!(triples.len(), 4);
        assert!(
            triples
                .iter()
                .all(|e| e.command()
                    == Some("apparmor_parser -r -T -W /etc/apparmor.d/sbin.dhclient"))
        );

        // The labels mark 9 lines privilege escalation: lines 1860–1868, one event each.
        let labels =
            std::fs::read_to_string(dir.join("russellmitchell_intranet_audit.labels.csv")).unwrap();
        let pe_lines: Vec<usize> = labels
            .lines()
            .skip(1)
            .filter(|l| l.contains(",privilege_escalation,"))
            .filter_map(|l| l.split(',').next()?.parse().ok())
            .collect();
        assert_eq!(pe_lines, (1860..=1868).collect::<Vec<_>>());
        let pe: Vec<&Event> = ev.iter().filter(|e| pe_lines.contains(&e.line)).collect();
        assert_eq!(pe.len(), 9);
        let exe = |e: &Event| e.field("exe").map(|f| f.as_text().into_owned());
        // `su` from the web server account (uid 33) to jhall ...
        let su: Vec<_> = pe
            .iter()
            .filter(|e| exe(e).as_deref() == Some("/bin/su"))
            .collect();
        assert_eq!(su.len(), 4);
        assert!(su.iter().all(|e| e.user.as_deref() == Some("jhall")
            && e.field("uid") == Some(&FieldValue::Category("33".into()))));
        // ... then jhall's `sudo cat /etc/shadow` (the command hex-encoded in USER_CMD).
        let cmd: Vec<_> = pe.iter().filter_map(|e| e.command()).collect();
        assert_eq!(cmd, ["cat /etc/shadow"]);
        assert_eq!(
            pe.iter()
                .filter(|e| exe(e).as_deref() == Some("/usr/bin/sudo"))
                .count(),
            4
        );
        // Nothing outside those lines runs su or reads the shadow file.
        assert!(ev
            .iter()
            .filter(|e| !pe_lines.contains(&e.line))
            .all(|e| exe(e).as_deref() != Some("/bin/su")
                && !e.command().unwrap_or("").contains("shadow")));
        // The three ssh logins (7 PAM records each) carry the source address.
        let ssh: Vec<_> = ev
            .iter()
            .filter(|e| e.source_ip.as_deref() == Some("172.19.131.174"))
            .collect();
        assert_eq!(ssh.len(), 21);
        assert!(ssh
            .iter()
            .all(|e| exe(e).as_deref() == Some("/usr/sbin/sshd")));
    }
}
