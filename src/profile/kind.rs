//! Structured profiles: which input shape a run reads, its options, and the entry points.
//!
//! A file (or a directory of files, or raw bytes, or one MongoDB document in service mode)
//! goes in; [`Event`]s and [`ProfileStats`] come out. The split into lines, the decoding
//! of bytes, the JSON parsing and the label handling are done here once for every profile,
//! so each profile module only maps one parsed record to events and cannot get those parts
//! wrong on its own:
//!
//! - lines split on any line break (`\n`, `\r\n`, bare `\r`), invalid UTF-8 replaced, a
//!   UTF-8 byte-order mark dropped; a file that is one JSON array is read element by element;
//! - the label field (`label_field`) is taken out of the record *before* the profile sees
//!   it, so no message or field can carry it; with `unwrap_field` (test-case files that wrap
//!   each event as `{"log": {…}, "expected_alert": …, …}`) only the wrapped event is read,
//!   the label comes from the wrapper, and the rest of the wrapper (rule ids, severities,
//!   tags of the test case, which would leak the answer) is dropped;
//! - nothing panics on any input: serde_json bounds nesting depth, the array splitter and
//!   the auditd parser are loops over bytes, and every line that gives no event is counted
//!   with its line number and reason.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::{Event, ProfileStats};
use super::{audit, json, osquery, value, wazuh};

/// Which input shape a run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    /// One JSON object a line, fields found by alias lists ([`FieldAliases`]).
    #[default]
    Json,
    /// Wazuh `alerts.json` lines.
    Wazuh,
    /// Raw auditd lines (`type=… msg=audit(TS:SERIAL): …`), grouped into events by serial.
    Audit,
    /// osquery `osqueryd.results.log` lines (differential, batch and snapshot results).
    Osquery,
}

impl ProfileKind {
    pub const ALL: [ProfileKind; 4] = [Self::Json, Self::Wazuh, Self::Audit, Self::Osquery];

    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Wazuh => "wazuh",
            Self::Audit => "audit",
            Self::Osquery => "osquery",
        }
    }
}

impl std::fmt::Display for ProfileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ProfileKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" | "ndjson" | "jsonl" => Ok(Self::Json),
            "wazuh" | "wazuh-alerts" => Ok(Self::Wazuh),
            "audit" | "auditd" => Ok(Self::Audit),
            "osquery" | "osqueryd" => Ok(Self::Osquery),
            other => Err(format!(
                "unknown profile '{other}': expected one of json (one JSON object a line, \
                 fields by alias), wazuh (alerts.json), audit (raw auditd log), \
                 osquery (osqueryd.results.log)"
            )),
        }
    }
}

/// Where the JSON profile looks for each part of a record: for every slot, dotted paths
/// tried in order (`log.user.name`, `events.0.name`); the first usable value wins. If no
/// path matches exactly, the same paths are tried again with ASCII case ignored (so
/// `Message` and `Hostname` are found). Each list can be replaced (see [`FieldAliases::set`]).
///
/// The first entries of each list are the JSON pipeline's own aliases; the later ones are
/// the field names of widely used schemas (Elastic Common Schema, CloudTrail, Okta, Windows
/// event logs, GCP audit logs), never ones fitted to a sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldAliases {
    pub timestamp: Vec<String>,
    pub host: Vec<String>,
    pub user: Vec<String>,
    pub source_ip: Vec<String>,
    pub session: Vec<String>,
    pub event_type: Vec<String>,
    pub action: Vec<String>,
    pub message: Vec<String>,
    pub command: Vec<String>,
    pub path: Vec<String>,
    /// More paths kept as typed fields named by their path (numbers as numbers, everything
    /// else as a category). Empty by default.
    pub extra: Vec<String>,
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

impl Default for FieldAliases {
    fn default() -> Self {
        Self {
            timestamp: strings(&[
                "timestamp",
                "time",
                "@timestamp",
                "datetime",
                "date",
                "eventTime",
                "published",
                "TimeCreated",
                "ts",
            ]),
            host: strings(&[
                "host",
                "hostname",
                "Hostname",
                "host.name",
                "host.hostname",
                "agent.name",
                "computer_name",
                "Computer",
                "hostIdentifier",
            ]),
            user: strings(&[
                "user",
                "username",
                "uid",
                "account",
                "identity",
                "user.name",
                "userName",
                "user_name",
                "userIdentity.userName",
                "userIdentity.arn",
                "actor.alternateId",
                "actor.email",
                "protoPayload.authenticationInfo.principalEmail",
                "SubjectUserName",
            ]),
            source_ip: strings(&[
                "source_ip",
                "src_ip",
                "ip",
                "client_ip",
                "remote_addr",
                "source.ip",
                "client.ip",
                "sourceIPAddress",
                "ipAddress",
                "client.ipAddress",
                "protoPayload.requestMetadata.callerIp",
                "IpAddress",
            ]),
            session: strings(&[
                "session",
                "session_id",
                "sessionId",
                "session.id",
                "authenticationContext.externalSessionId",
                "LogonId",
            ]),
            event_type: strings(&[
                "event_type",
                "type",
                "event",
                "category",
                "event.action",
                "eventName",
                "eventType",
                "protoPayload.methodName",
                "EventID",
            ]),
            action: strings(&[
                "action",
                "result",
                "status",
                "outcome",
                "event.outcome",
                "outcome.result",
                "errorCode",
            ]),
            message: strings(&[
                "message",
                "msg",
                "description",
                "text",
                "log",
                "displayMessage",
            ]),
            command: strings(&[
                "command",
                "cmdline",
                "command_line",
                "CommandLine",
                "process.command_line",
            ]),
            path: strings(&[
                "path",
                "file_path",
                "file.path",
                "filename",
                "TargetFilename",
            ]),
            extra: Vec::new(),
        }
    }
}

impl FieldAliases {
    /// The slot names accepted by [`FieldAliases::set`].
    pub const SLOTS: [&'static str; 11] = [
        "timestamp",
        "host",
        "user",
        "source_ip",
        "session",
        "event_type",
        "action",
        "message",
        "command",
        "path",
        "extra",
    ];

    /// Replaces the alias list of `slot` (one of [`FieldAliases::SLOTS`]).
    pub fn set(&mut self, slot: &str, paths: Vec<String>) -> Result<(), String> {
        let list = match slot {
            "timestamp" => &mut self.timestamp,
            "host" => &mut self.host,
            "user" => &mut self.user,
            "source_ip" => &mut self.source_ip,
            "session" => &mut self.session,
            "event_type" => &mut self.event_type,
            "action" => &mut self.action,
            "message" => &mut self.message,
            "command" => &mut self.command,
            "path" => &mut self.path,
            "extra" => &mut self.extra,
            other => {
                return Err(format!(
                    "unknown field slot '{other}': expected one of {}",
                    Self::SLOTS.join(", ")
                ))
            }
        };
        *list = paths;
        Ok(())
    }

    /// Applies a command-line override `slot=path1,path2` (e.g. `user=log.user.name,actor`).
    pub fn set_from_spec(&mut self, spec: &str) -> Result<(), String> {
        let (slot, paths) = spec
            .split_once('=')
            .ok_or_else(|| format!("bad field alias '{spec}': expected slot=path[,path…]"))?;
        let paths: Vec<String> = paths
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        if paths.is_empty() && slot.trim() != "extra" {
            return Err(format!("bad field alias '{spec}': no paths after '='"));
        }
        self.set(slot.trim(), paths)
    }
}

/// Options of a structured profile.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProfileOptions {
    /// Where the `json` profile finds each part (ignored by the other profiles).
    pub aliases: FieldAliases,
    /// Dotted path of the ground-truth field (`label`, `expected_alert`), moved into
    /// [`Event::label`] and removed from the record before anything else reads it.
    pub label_field: Option<String>,
    /// Read the event from this field of each record (`log` in the Panther test files);
    /// the label is then looked up in the wrapper first. Everything else in the wrapper
    /// is ignored.
    pub unwrap_field: Option<String>,
    /// Where the host comes from, replacing the profile's default (json: `aliases.host`;
    /// wazuh: `agent.name`, `predecoder.hostname`; osquery: `hostIdentifier`, …).
    /// Dotted paths, first usable wins. The audit profile takes the host from `node=` and
    /// ignores this.
    pub host_paths: Option<Vec<String>>,
    /// Wazuh: append `full_log` (the raw log line) to the message, which is otherwise the
    /// rule description.
    pub wazuh_full_log: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no input files in directory {path} (looked for *.json, *.ndjson, *.jsonl, *.log \
         and rotated *.log.N)"
    )]
    NoInputFiles { path: PathBuf },
}

/// A profile ready to parse: the kind, its options, and what is precomputed from them
/// (the JSON alias table). Build one per run or per service-mode source and reuse it; the
/// free functions [`parse_bytes`], [`parse_path`] and [`events_from_value`] build a
/// throw-away one.
#[derive(Debug)]
pub struct Profile {
    kind: ProfileKind,
    opts: ProfileOptions,
    plan: json::Plan,
}

impl Profile {
    pub fn new(kind: ProfileKind, opts: ProfileOptions) -> Self {
        let plan = if kind == ProfileKind::Json {
            json::Plan::new(&opts)
        } else {
            json::Plan::default()
        };
        Self { kind, opts, plan }
    }

    pub fn kind(&self) -> ProfileKind {
        self.kind
    }

    pub fn options(&self) -> &ProfileOptions {
        &self.opts
    }

    /// Parses the raw bytes of one file.
    pub fn parse_bytes(&self, bytes: &[u8]) -> (Vec<Event>, ProfileStats) {
        let mut stats = ProfileStats::default();
        let events = self.parse_file_bytes(bytes, 0, &mut stats);
        (events, stats)
    }

    /// Reads a file, or every matching file of a directory (not recursive; hidden files
    /// skipped; sorted by file name; `*.json`, `*.ndjson`, `*.jsonl`, `*.log`, `*.log.N`).
    /// Events keep file order; [`Event::file`] indexes [`ProfileStats::files`].
    pub fn parse_path(&self, path: &Path) -> Result<(Vec<Event>, ProfileStats), ProfileError> {
        let io = |source| ProfileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let files = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file() && is_input_file(p))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(ProfileError::NoInputFiles {
                    path: path.to_path_buf(),
                });
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut events = Vec::new();
        let mut stats = ProfileStats::default();
        for (i, file) in files.iter().enumerate() {
            let bytes = std::fs::read(file).map_err(|source| ProfileError::Io {
                path: file.clone(),
                source,
            })?;
            let mut s = ProfileStats::default();
            events.extend(self.parse_file_bytes(&bytes, i, &mut s));
            stats.merge(s, i);
        }
        stats.files = files;
        Ok((events, stats))
    }

    /// Maps one JSON document (service mode: a MongoDB document as a JSON value) to its
    /// events: usually one; an osquery snapshot gives one per row, an empty one none.
    /// Events get line 0. Missing, invalid and unknown fields and the events are counted
    /// into `stats`; the error is the skip reason (not counted: the caller knows where the
    /// document came from). The audit profile reads raw lines and has no document form.
    pub fn events_from_value(
        &self,
        v: Value,
        stats: &mut ProfileStats,
    ) -> Result<Vec<Event>, String> {
        let events = self
            .record_events(v, 0, 0, stats)
            .map_err(|(reason, detail)| {
                if detail.is_empty() {
                    reason.to_string()
                } else {
                    format!("{reason}: {detail}")
                }
            })?;
        stats.events += events.len() as u64;
        Ok(events)
    }

    fn parse_file_bytes(&self, bytes: &[u8], file: usize, stats: &mut ProfileStats) -> Vec<Event> {
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        if self.kind == ProfileKind::Audit {
            return audit::parse(bytes, file, stats);
        }
        let mut events = Vec::new();
        if let Some(elements) = json_array_elements(bytes) {
            for (line, raw) in elements {
                self.record_line(raw, file, line, stats, &mut events);
            }
        } else {
            for (i, raw) in split_lines(bytes).enumerate() {
                self.record_line(raw, file, i + 1, stats, &mut events);
            }
        }
        events
    }

    fn record_line(
        &self,
        raw: &[u8],
        file: usize,
        line: usize,
        stats: &mut ProfileStats,
        out: &mut Vec<Event>,
    ) {
        stats.lines += 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            stats.skip(file, line, "blank line", "");
            return;
        }
        // serde_json checks UTF-8 itself; only a line it rejects is decoded lossily (invalid
        // bytes replaced) and parsed again, so valid input is not validated twice.
        let parsed =
            serde_json::from_slice::<Value>(raw).or_else(|e| match String::from_utf8_lossy(raw) {
                std::borrow::Cow::Owned(text) => serde_json::from_str(&text),
                std::borrow::Cow::Borrowed(_) => Err(e),
            });
        let v = match parsed {
            Ok(v) => v,
            Err(e) => {
                stats.skip(file, line, "not JSON", e.to_string());
                return;
            }
        };
        match self.record_events(v, file, line, stats) {
            Ok(evs) if evs.is_empty() => stats.skip(file, line, "no rows", ""),
            Ok(evs) => {
                stats.events += evs.len() as u64;
                out.extend(evs);
            }
            Err((reason, detail)) => stats.skip(file, line, reason, detail),
        }
    }

    /// Label and unwrap handling, then the profile's mapping.
    fn record_events(
        &self,
        mut v: Value,
        file: usize,
        line: usize,
        stats: &mut ProfileStats,
    ) -> Result<Vec<Event>, SkipReason> {
        let opts = &self.opts;
        if !v.is_object() {
            return Err(("not a JSON object", json_type(&v).to_string()));
        }
        let mut label = None;
        if let Some(lf) = &opts.label_field {
            label = value::remove(&mut v, lf);
        }
        if let Some(field) = &opts.unwrap_field {
            v = match value::remove(&mut v, field) {
                Some(inner @ Value::Object(_)) => inner,
                Some(other) => {
                    return Err((
                        "wrapped event is not an object",
                        format!("'{field}' is {}", json_type(&other)),
                    ))
                }
                None => return Err(("no wrapped event", format!("no field '{field}'"))),
            };
            if let Some(lf) = &opts.label_field {
                // Also out of the wrapped event, even when the wrapper had it.
                let inner = value::remove(&mut v, lf);
                label = label.or(inner);
            }
        }
        let label = label.as_ref().and_then(value::scalar_text);
        if opts.label_field.is_some() && label.is_none() {
            stats.count_missing("label");
        }
        let mut events = match self.kind {
            ProfileKind::Json => vec![json::map(&self.plan, &v, file, line, stats)?],
            ProfileKind::Wazuh => vec![wazuh::map(opts, &v, file, line, stats)?],
            ProfileKind::Osquery => osquery::map(opts, &v, file, line, stats)?,
            ProfileKind::Audit => {
                return Err((
                    "not an audit line",
                    "the audit profile reads raw auditd lines, not JSON documents".into(),
                ))
            }
        };
        for e in &mut events {
            e.label.clone_from(&label);
        }
        Ok(events)
    }
}

/// Parses raw bytes of one file (see [`Profile::parse_bytes`]).
pub fn parse_bytes(
    kind: ProfileKind,
    opts: &ProfileOptions,
    bytes: &[u8],
) -> (Vec<Event>, ProfileStats) {
    Profile::new(kind, opts.clone()).parse_bytes(bytes)
}

/// Reads a file or a directory (see [`Profile::parse_path`]).
pub fn parse_path(
    kind: ProfileKind,
    opts: &ProfileOptions,
    path: &Path,
) -> Result<(Vec<Event>, ProfileStats), ProfileError> {
    Profile::new(kind, opts.clone()).parse_path(path)
}

/// Maps one JSON document (see [`Profile::events_from_value`]; build a [`Profile`] once
/// when mapping many).
pub fn events_from_value(
    kind: ProfileKind,
    opts: &ProfileOptions,
    v: Value,
    stats: &mut ProfileStats,
) -> Result<Vec<Event>, String> {
    Profile::new(kind, opts.clone()).events_from_value(v, stats)
}

pub(crate) type SkipReason = (&'static str, String);

/// Whether a directory entry is read by [`parse_path`].
pub fn is_input_file(p: &Path) -> bool {
    let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if name.starts_with('.') {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    if [".json", ".ndjson", ".jsonl", ".log"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        return true;
    }
    // Rotated logs: audit.log.1, osqueryd.results.log.12
    match lower.rsplit_once(".log.") {
        Some((_, n)) => !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Splits on `\n`, `\r\n` and bare `\r`.
pub(crate) fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(rest.len());
        let line = &rest[..end];
        let mut next = end;
        if next < rest.len() {
            next += if rest[next] == b'\r' && rest.get(next + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
        }
        rest = &rest[next..];
        Some(line)
    })
}

/// If the whole input is one JSON array (`[ {…}, {…} ]`, pretty-printed or not), its
/// top-level elements with the 1-based line each starts on, so that one bad element is
/// skipped alone. `None` when the input does not start with `[` or has anything but
/// whitespace after the array closes (then it is read line by line). A truncated array
/// gives its complete elements and the fragment (which then fails to parse).
fn json_array_elements(bytes: &[u8]) -> Option<Vec<(usize, &[u8])>> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    if bytes[start] != b'[' {
        return None;
    }
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let mut line = 1 + bytes[..start].iter().filter(|&&b| b == b'\n').count();
    let mut elem_start: Option<(usize, usize)> = None; // (offset, line)
    let mut closed_at = None;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if b == b'\n' {
            line += 1;
        }
        if in_str {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_str = true;
                if depth == 1 && elem_start.is_none() {
                    elem_start = Some((i, line));
                }
            }
            b'[' | b'{' => {
                if depth == 1 && elem_start.is_none() {
                    elem_start = Some((i, line));
                }
                depth += 1;
            }
            b']' | b'}' => {
                if depth == 1 {
                    if let Some((s, l)) = elem_start.take() {
                        out.push((l, &bytes[s..i]));
                    }
                    closed_at = Some(i);
                    break;
                }
                depth = depth.saturating_sub(1);
            }
            b',' if depth == 1 => {
                if let Some((s, l)) = elem_start.take() {
                    out.push((l, &bytes[s..i]));
                }
            }
            _ if depth == 1 && elem_start.is_none() && !b.is_ascii_whitespace() => {
                elem_start = Some((i, line));
            }
            _ => {}
        }
    }
    match closed_at {
        Some(end) => {
            if !bytes[end + 1..].iter().all(|b| b.is_ascii_whitespace()) {
                return None;
            }
        }
        None => {
            if let Some((s, l)) = elem_start {
                out.push((l, &bytes[s..]));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_from_str_is_helpful() {
        assert_eq!("JSON".parse::<ProfileKind>(), Ok(ProfileKind::Json));
        assert_eq!("auditd".parse::<ProfileKind>(), Ok(ProfileKind::Audit));
        let e = "syslog".parse::<ProfileKind>().unwrap_err();
        assert!(e.contains("'syslog'") && e.contains("wazuh") && e.contains("osquery"));
        for k in ProfileKind::ALL {
            assert_eq!(k.name().parse::<ProfileKind>(), Ok(k));
        }
    }

    #[test]
    fn alias_spec_overrides_a_slot() {
        let mut a = FieldAliases::default();
        a.set_from_spec("user = log.user.name, actor").unwrap();
        assert_eq!(a.user, ["log.user.name", "actor"]);
        assert!(a.set_from_spec("nope=x").unwrap_err().contains("source_ip"));
        assert!(a.set_from_spec("user").is_err());
        assert!(a.set_from_spec("user=").is_err());
    }

    #[test]
    fn input_file_names() {
        for ok in [
            "a.json",
            "b.NDJSON",
            "c.jsonl",
            "audit.log",
            "audit.log.1",
            "x.log.12",
        ] {
            assert!(is_input_file(Path::new(ok)), "{ok}");
        }
        for no in [
            ".hidden.json",
            "labels.csv",
            "README.md",
            "audit.log.bak",
            "x.log.",
        ] {
            assert!(!is_input_file(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn lines_split_on_any_break_and_bad_lines_are_counted() {
        let input =
            b"{\"message\":\"a\"}\r\n{\"message\":\"b\"}\r{\"message\":\"\xffc\"}\n\n{oops\n[1]\n";
        let (ev, st) = parse_bytes(ProfileKind::Json, &ProfileOptions::default(), input);
        assert_eq!(
            ev.iter()
                .map(|e| (e.line, e.message.as_str()))
                .collect::<Vec<_>>(),
            [(1, "a"), (2, "b"), (3, "\u{fffd}c")]
        );
        assert_eq!(st.lines, 6);
        assert_eq!(st.events, 3);
        assert_eq!(st.skipped, 3);
        assert_eq!(st.skip_reasons["blank line"], 1);
        assert_eq!(st.skip_reasons["not JSON"], 1);
        assert_eq!(st.skip_reasons["not a JSON object"], 1);
        assert_eq!(
            st.skip_examples.iter().map(|s| s.line).collect::<Vec<_>>(),
            [4, 5, 6]
        );
    }

    #[test]
    fn a_json_array_file_is_read_element_by_element() {
        let input = b"\xef\xbb\xbf[\n  {\"message\": \"a, [b]\"},\n  {\"msg\": \"c \\\" }\"},\n  7,\n  {\"message\": \"d\"}\n]\n";
        let (ev, st) = parse_bytes(ProfileKind::Json, &ProfileOptions::default(), input);
        assert_eq!(
            ev.iter()
                .map(|e| (e.line, e.message.as_str()))
                .collect::<Vec<_>>(),
            [(2, "a, [b]"), (3, "c \" }"), (5, "d")]
        );
        assert_eq!(st.skip_examples[0].line, 4);
        // Truncated: complete elements survive, the fragment is skipped.
        let (ev, st) = parse_bytes(
            ProfileKind::Json,
            &ProfileOptions::default(),
            b"[{\"message\":\"a\"},{\"message\":\"b",
        );
        assert_eq!(ev.len(), 1);
        assert_eq!(st.skip_reasons["not JSON"], 1);
        // One array per line is NDJSON, not an array file.
        assert!(json_array_elements(b"[1]\n[2]\n").is_none());
        assert_eq!(json_array_elements(b"[]").map(|v| v.len()), Some(0));
    }

    #[test]
    fn label_is_moved_out_and_wrapper_metadata_dropped() {
        let opts = ProfileOptions {
            label_field: Some("expected_alert".into()),
            unwrap_field: Some("log".into()),
            ..Default::default()
        };
        let line = br#"{"rule_id":"X.Brute","severity":"High","expected_alert":true,"log":{"message":"login failed","user":"bob","expected_alert":"inner"}}"#;
        let (ev, st) = parse_bytes(ProfileKind::Json, &opts, line);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].label.as_deref(), Some("true"));
        assert_eq!(ev[0].user.as_deref(), Some("bob"));
        assert_eq!(ev[0].message, "login failed");
        let all = format!("{:?}", ev[0].fields);
        assert!(!all.contains("High") && !all.contains("Brute") && !all.contains("inner"));
        assert!(st.unknown.is_empty(), "{:?}", st.unknown);
        // Wrapper without the wrapped event.
        let (ev, st) = parse_bytes(ProfileKind::Json, &opts, br#"{"expected_alert":false}"#);
        assert!(ev.is_empty());
        assert_eq!(st.skip_reasons["no wrapped event"], 1);
        let (_, st) = parse_bytes(ProfileKind::Json, &opts, br#"{"log":"text"}"#);
        assert_eq!(st.skip_reasons["wrapped event is not an object"], 1);
    }

    #[test]
    fn plain_label_field_never_reaches_the_event() {
        let opts = ProfileOptions {
            label_field: Some("label".into()),
            ..Default::default()
        };
        let (ev, st) = parse_bytes(
            ProfileKind::Json,
            &opts,
            b"{\"message\":\"m\",\"label\":\"wpscan\",\"event_type\":\"E\"}\n{\"message\":\"n\"}",
        );
        assert_eq!(ev[0].label.as_deref(), Some("wpscan"));
        assert_eq!(ev[1].label, None);
        assert_eq!(st.missing["label"], 1);
        assert!(!format!("{:?}", ev[0].fields).contains("wpscan"));
        assert!(!st.unknown.contains_key("label"));
    }

    #[test]
    fn service_mode_documents() {
        let mut st = ProfileStats::default();
        let doc = serde_json::json!({"_id": {"$oid": "61c47d2757ff236a202eafe6"},
            "message": "hi", "hostname": "h1", "received_at": {"$date": "2021-12-23T16:44:07.111Z"}});
        let mut opts = ProfileOptions::default();
        opts.aliases.timestamp = vec!["received_at".into()];
        let ev = events_from_value(ProfileKind::Json, &opts, doc, &mut st).unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].line, 0);
        assert_eq!(ev[0].host.as_deref(), Some("h1"));
        assert!(ev[0].timestamp.is_some());
        assert_eq!(st.events, 1);
        let err = events_from_value(ProfileKind::Json, &opts, serde_json::json!([1]), &mut st)
            .unwrap_err();
        assert!(err.contains("not a JSON object"));
        let err = events_from_value(
            ProfileKind::Audit,
            &opts,
            serde_json::json!({"message": "type=X"}),
            &mut st,
        )
        .unwrap_err();
        assert!(err.contains("raw auditd lines"));
    }

    #[test]
    fn directory_reads_matching_files_in_name_order() {
        let dir = std::env::temp_dir().join(format!("lad-profile-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.ndjson"), "{\"message\":\"b\"}\n").unwrap();
        std::fs::write(dir.join("a.json"), "{\"message\":\"a\"}\n\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "{\"message\":\"no\"}\n").unwrap();
        let (ev, st) = parse_path(ProfileKind::Json, &ProfileOptions::default(), &dir).unwrap();
        assert_eq!(
            ev.iter()
                .map(|e| (e.file, e.message.as_str()))
                .collect::<Vec<_>>(),
            [(0, "a"), (1, "b")]
        );
        assert_eq!(st.files.len(), 2);
        assert_eq!(st.skip_examples[0].file, 0);
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(
            parse_path(ProfileKind::Json, &ProfileOptions::default(), &empty),
            Err(ProfileError::NoInputFiles { .. })
        ));
        assert!(matches!(
            parse_path(
                ProfileKind::Json,
                &ProfileOptions::default(),
                &dir.join("missing.json")
            ),
            Err(ProfileError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Throughput on the shared data (one thread). Run with
    /// `cargo test --release -- --ignored --nocapture profile_throughput`.
    #[test]
    #[ignore]
    fn profile_throughput() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/security");
        let label = ProfileOptions {
            label_field: Some("label".into()),
            ..Default::default()
        };
        let runs = [
            (
                "alerts/ait_ads_russellmitchell.ndjson",
                ProfileKind::Json,
                &label,
                20,
            ),
            (
                "wazuh/wazuh_attack_lines.json",
                ProfileKind::Wazuh,
                &ProfileOptions::default(),
                2000,
            ),
            (
                "wazuh/wazuh_no_attack_lines.json",
                ProfileKind::Wazuh,
                &ProfileOptions::default(),
                2000,
            ),
            (
                "audit/russellmitchell_intranet_audit.log",
                ProfileKind::Audit,
                &ProfileOptions::default(),
                100,
            ),
        ];
        for (rel, kind, opts, reps) in runs {
            let bytes = std::fs::read(base.join(rel)).unwrap();
            let mut events = 0u64;
            let t = std::time::Instant::now();
            for _ in 0..reps {
                let (ev, st) = parse_bytes(kind, opts, &bytes);
                events += st.events;
                std::hint::black_box(ev);
            }
            let secs = t.elapsed().as_secs_f64();
            let mb = (bytes.len() * reps) as f64 / 1e6 / secs;
            println!(
                "{rel} [{kind}]: {:.0} events/s, {mb:.0} MB/s ({events} events in {secs:.2} s)",
                events as f64 / secs
            );
            if kind == ProfileKind::Json && !cfg!(debug_assertions) {
                assert!(events as f64 / secs >= 100_000.0);
            }
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        let opts = ProfileOptions {
            label_field: Some("a.b.c".into()),
            unwrap_field: Some("log".into()),
            ..Default::default()
        };
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let deep_obj = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
        let huge = format!("{{\"message\":\"{}\"}}", "x".repeat(10_000_000));
        let garbage: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let inputs: Vec<&[u8]> = vec![
            b"",
            b"\n\r\n\r",
            deep.as_bytes(),
            deep_obj.as_bytes(),
            huge.as_bytes(),
            &garbage,
            b"[",
            b"[\"unterminated",
            b"[{]}]",
            b"]]]]",
            b"\xef\xbb\xbf",
        ];
        for kind in ProfileKind::ALL {
            for o in [&opts, &ProfileOptions::default()] {
                for input in &inputs {
                    let (ev, st) = parse_bytes(kind, o, input);
                    assert!(st.events as usize == ev.len());
                }
            }
        }
        let (ev, _) = parse_bytes(
            ProfileKind::Json,
            &ProfileOptions::default(),
            huge.as_bytes(),
        );
        assert_eq!(ev[0].message.len(), 10_000_000);
        // Nesting beyond serde_json's recursion limit is one skipped line, not a crash.
        for input in [&deep, &deep_obj] {
            let (ev, st) = parse_bytes(
                ProfileKind::Wazuh,
                &ProfileOptions::default(),
                input.as_bytes(),
            );
            assert!(ev.is_empty());
            assert_eq!((st.skipped, st.skip_reasons["not JSON"]), (1, 1));
        }
    }
}
