//! The record model every structured profile produces: one [`Event`] per security event.
//!
//! Security inputs differ in shape (flat JSON, nested Wazuh alerts, multi-line auditd events,
//! osquery snapshots) but the detectors need the same few things from all of them: *when*,
//! *who and where* (host, user, source IP, session), a *text* for the template model, and a
//! handful of *typed* fields that a detector can reason about without re-parsing text
//! (a command line is not a category, a path is not a number). Profiles translate; the
//! detectors only ever see this model, so adding an input format never touches a detector.
//!
//! Ground truth is kept apart in [`Event::label`] and never appears in the message or the
//! fields, so no model can learn from it by accident.
//!
//! [`ProfileStats`] is how a profile tells the truth about its input: every skipped line is
//! counted with its line number and reason, and every expected-but-missing, unusable or
//! unmapped field is counted by name. Its maps are bounded, so hostile input (millions of
//! distinct keys, millions of bad lines) cannot make the report itself explode.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Field names the profiles use, so detectors can ask for them without string typos.
/// A field name may repeat within one event (one `rule_group` per Wazuh group, one `path`
/// per auditd `PATH` record).
pub mod names {
    /// What kind of event this is (JSON `event_type` aliases, auditd record types joined
    /// with `+`, the osquery query name).
    pub const EVENT_TYPE: &str = "event_type";
    /// What happened to the object (JSON `action` aliases, Wazuh `syscheck.event`, osquery
    /// `added`/`removed`/`snapshot`).
    pub const ACTION: &str = "action";
    /// `success` or `failure` where the source says so (auditd `res=`/`success=`, Wazuh
    /// authentication groups), otherwise the source's own word.
    pub const OUTCOME: &str = "outcome";
    /// A command line.
    pub const COMMAND: &str = "command";
    /// A file path the event is about.
    pub const PATH: &str = "path";
    /// The executable that acted.
    pub const EXE: &str = "exe";
    /// The working directory of the actor.
    pub const CWD: &str = "cwd";
}

/// One security event, whatever its source format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Index into [`ProfileStats::files`] of the file this event came from (0 for a single
    /// input or raw bytes).
    pub file: usize,
    /// 1-based line of the (first) input line of the event in its file; 0 for events built
    /// from a document (service mode) that has no line.
    pub line: usize,
    pub timestamp: Option<DateTime<Utc>>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub source_ip: Option<String>,
    pub session: Option<String>,
    /// The text part the template model sees (never the label). May be empty when the
    /// source has no text at all; that is counted as a missing `message`.
    pub message: String,
    /// Typed fields in a stable, profile-defined order.
    pub fields: Vec<Field>,
    /// Severity prior in `[0, 1]` given by the source (Wazuh `rule.level / 15`), `None` if
    /// the source gives none.
    pub prior: Option<f64>,
    /// Ground truth when the input carries one; removed from everything else.
    pub label: Option<String>,
}

impl Event {
    /// An event with nothing but its position.
    pub fn new(file: usize, line: usize) -> Self {
        Self {
            file,
            line,
            timestamp: None,
            host: None,
            user: None,
            source_ip: None,
            session: None,
            message: String::new(),
            fields: Vec::new(),
            prior: None,
            label: None,
        }
    }

    /// The first field called `name`.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    /// Every field called `name`, in order.
    pub fn fields_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a FieldValue> {
        self.fields
            .iter()
            .filter(move |f| f.name == name)
            .map(|f| &f.value)
    }

    /// The command of the event, if any.
    pub fn command(&self) -> Option<&str> {
        self.fields.iter().find_map(|f| match &f.value {
            FieldValue::Command(c) => Some(c.as_str()),
            _ => None,
        })
    }

    pub(crate) fn push(&mut self, name: &str, value: FieldValue) {
        self.fields.push(Field {
            name: name.to_string(),
            value,
        });
    }
}

/// One typed field of an [`Event`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: FieldValue,
}

/// The type of a field decides how a detector may use it: categories are compared for
/// equality, numbers have a scale, paths have a hierarchy, commands have words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum FieldValue {
    Category(String),
    Number(f64),
    Path(String),
    Command(String),
}

impl FieldValue {
    /// The value as text (numbers formatted), for display and hashing.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Category(s) | Self::Path(s) | Self::Command(s) => s.as_str().into(),
            Self::Number(n) => n.to_string().into(),
        }
    }
}

/// At most this many skipped lines are kept as examples; the rest are only counted.
pub const MAX_SKIP_EXAMPLES: usize = 20;
/// At most this many distinct names are kept in each of the `missing`, `invalid` and
/// `unknown` maps; further names are counted under [`OTHER_NAMES`].
pub const MAX_NAMES: usize = 200;
/// The bucket for names beyond [`MAX_NAMES`].
pub const OTHER_NAMES: &str = "<other names>";
/// A skip reason's detail is cut to this many characters in the examples.
const MAX_DETAIL_CHARS: usize = 200;

/// A line (or document) that gave no event, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    /// Index into [`ProfileStats::files`].
    pub file: usize,
    /// 1-based line; 0 for a document without a line.
    pub line: usize,
    /// The reason class (also the key of [`ProfileStats::skip_reasons`]).
    pub reason: String,
    /// Specifics (a parser's message), cut to a few hundred characters.
    pub detail: String,
}

/// What a profile saw besides the events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileStats {
    /// The files read, in order (empty for raw bytes / documents).
    pub files: Vec<PathBuf>,
    /// Input lines (or documents) seen.
    pub lines: u64,
    /// Events produced.
    pub events: u64,
    /// Lines (or documents) that gave no event.
    pub skipped: u64,
    /// Skips counted by reason class.
    pub skip_reasons: BTreeMap<String, u64>,
    /// The first [`MAX_SKIP_EXAMPLES`] skips, with line numbers.
    pub skip_examples: Vec<Skip>,
    /// Expected fields (timestamp, host, user, …) that an event did not have.
    pub missing: BTreeMap<String, u64>,
    /// Fields that were there but unusable (wrong type, unparseable timestamp).
    pub invalid: BTreeMap<String, u64>,
    /// Source fields the profile does not map (dropped, or only part of the message).
    pub unknown: BTreeMap<String, u64>,
}

impl ProfileStats {
    /// Counts a skipped line.
    pub fn skip(&mut self, file: usize, line: usize, reason: &str, detail: impl Into<String>) {
        self.skipped += 1;
        *self.skip_reasons.entry(reason.to_string()).or_insert(0) += 1;
        if self.skip_examples.len() < MAX_SKIP_EXAMPLES {
            let detail: String = detail.into();
            let detail = if detail.chars().count() > MAX_DETAIL_CHARS {
                let mut d: String = detail.chars().take(MAX_DETAIL_CHARS).collect();
                d.push('…');
                d
            } else {
                detail
            };
            self.skip_examples.push(Skip {
                file,
                line,
                reason: reason.to_string(),
                detail,
            });
        }
    }

    pub fn count_missing(&mut self, name: &str) {
        bump(&mut self.missing, name);
    }

    pub fn count_invalid(&mut self, name: &str) {
        bump(&mut self.invalid, name);
    }

    pub fn count_unknown(&mut self, name: &str) {
        bump(&mut self.unknown, name);
    }

    /// Adds `other` (the stats of one more file) into `self`; `other`'s file index 0
    /// becomes `file`.
    pub fn merge(&mut self, other: ProfileStats, file: usize) {
        self.lines += other.lines;
        self.events += other.events;
        self.skipped += other.skipped;
        for (k, v) in other.skip_reasons {
            *self.skip_reasons.entry(k).or_insert(0) += v;
        }
        for mut s in other.skip_examples {
            if self.skip_examples.len() >= MAX_SKIP_EXAMPLES {
                break;
            }
            s.file = file;
            self.skip_examples.push(s);
        }
        for (map, theirs) in [
            (&mut self.missing, other.missing),
            (&mut self.invalid, other.invalid),
            (&mut self.unknown, other.unknown),
        ] {
            for (k, v) in theirs {
                bump_by(map, &k, v);
            }
        }
    }
}

fn bump(map: &mut BTreeMap<String, u64>, name: &str) {
    bump_by(map, name, 1);
}

fn bump_by(map: &mut BTreeMap<String, u64>, name: &str, n: u64) {
    if let Some(v) = map.get_mut(name) {
        *v += n;
    } else if map.len() < MAX_NAMES {
        map.insert(name.to_string(), n);
    } else {
        *map.entry(OTHER_NAMES.to_string()).or_insert(0) += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_bounded() {
        let mut s = ProfileStats::default();
        for i in 0..10_000 {
            s.count_unknown(&format!("k{i}"));
            s.skip(0, i + 1, "not JSON", "x".repeat(10_000));
        }
        assert_eq!(s.unknown.len(), MAX_NAMES + 1);
        assert_eq!(s.unknown[OTHER_NAMES], 10_000 - MAX_NAMES as u64);
        assert_eq!(s.skipped, 10_000);
        assert_eq!(s.skip_reasons["not JSON"], 10_000);
        assert_eq!(s.skip_examples.len(), MAX_SKIP_EXAMPLES);
        assert!(s.skip_examples[0].detail.chars().count() <= MAX_DETAIL_CHARS + 1);
    }

    #[test]
    fn merge_reindexes_files() {
        let mut a = ProfileStats::default();
        let mut b = ProfileStats::default();
        b.skip(0, 7, "blank line", "");
        b.count_missing("user");
        b.events = 3;
        a.merge(b, 2);
        assert_eq!(a.skip_examples[0].file, 2);
        assert_eq!(a.missing["user"], 1);
        assert_eq!(a.events, 3);
    }

    #[test]
    fn field_lookup() {
        let mut e = Event::new(0, 1);
        e.push("path", FieldValue::Path("/a".into()));
        e.push("path", FieldValue::Path("/b".into()));
        e.push("command", FieldValue::Command("ls -la".into()));
        assert_eq!(e.field("path"), Some(&FieldValue::Path("/a".into())));
        assert_eq!(e.fields_named("path").count(), 2);
        assert_eq!(e.command(), Some("ls -la"));
        assert_eq!(FieldValue::Number(7.0).as_text(), "7");
    }
}
