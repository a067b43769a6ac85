//! The rule file compiled: extractors and rules ready to run, and their streaming state.
//!
//! Regexes are compiled once ([`regex::RegexSet`] per list, so a list of twenty patterns
//! costs one scan of the message). Per-rule state is bounded: count and distinct windows
//! are swept when idle and capped at [`MAX_KEYS`] keys per rule (the least recently seen are
//! dropped first); what the baseline taught (`new_for` keys, active hours, maxima) holds at
//! most [`MAX_KEYS`] keys per rule, the rest being treated as unseen.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Timelike;
use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};

use super::classify::ThreatType;
use super::entity::{self, kind_name, EntityRef, Slot, View};
use super::rules::{RuleFile, RuleSpec};
use super::span::Span;
use super::window::{DistinctWindow, Window, BUCKETS};
use super::ThreatError;
use crate::profile::Event;

/// Keys per rule and per kind of state.
pub const MAX_KEYS: usize = 100_000;
/// Longest message an extractor or text pattern reads (bytes); longer ones are cut (at a
/// character boundary), so one multi-megabyte line costs no more than this.
pub const MAX_TEXT: usize = 64 * 1024;

/// One fired rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleHit {
    pub rule: String,
    pub threat: ThreatType,
    /// The rule's own score.
    pub score: f64,
    pub entity: Option<EntityRef>,
    /// What the conditions saw, in words ("12 matching events for source_ip 1.2.3.4 in 10m").
    pub evidence: Vec<String>,
    /// The count of the `count` condition, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub window: Option<Span>,
}

struct Extractor {
    regex: Regex,
    names: Vec<String>,
    set: Vec<(String, String)>,
}

struct FieldMatch {
    /// `a|b`: any of these slots.
    slots: Vec<Slot>,
    set: RegexSet,
}

struct Compiled {
    spec: RuleSpec,
    salt: u64,
    text: Option<RegexSet>,
    not_text: Option<RegexSet>,
    fields: Vec<FieldMatch>,
    after: Option<usize>,
}

/// The compiled rule file.
pub struct Rules {
    file: RuleFile,
    extract_set: Option<RegexSet>,
    extractors: Vec<Extractor>,
    rules: Vec<Compiled>,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field("extractors", &self.extractors.len())
            .field("rules", &self.rules.len())
            .finish()
    }
}

fn regex_set(rule: &str, what: &str, pats: &[String]) -> Result<Option<RegexSet>, ThreatError> {
    if pats.is_empty() {
        return Ok(None);
    }
    RegexSet::new(pats)
        .map(Some)
        .map_err(|e| ThreatError::Rule {
            rule: rule.to_string(),
            message: format!("bad regex in {what}: {e}"),
        })
}

fn cut(s: &str) -> &str {
    if s.len() <= MAX_TEXT {
        return s;
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Rules {
    pub fn compile(file: &RuleFile) -> Result<Self, ThreatError> {
        file.validate("rule file")?;
        let mut extractors = Vec::new();
        for x in &file.extract {
            let regex = Regex::new(&x.pattern).map_err(|e| ThreatError::Rule {
                rule: x.id.clone(),
                message: format!("bad extractor pattern: {e}"),
            })?;
            let names = regex.capture_names().flatten().map(String::from).collect();
            extractors.push(Extractor {
                regex,
                names,
                set: x.set.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            });
        }
        let pats: Vec<String> = file.extract.iter().map(|x| x.pattern.clone()).collect();
        let extract_set = regex_set("extract", "extract", &pats)?;
        let mut rules = Vec::new();
        for (i, r) in file.rules.iter().enumerate() {
            let mut fields = Vec::new();
            for (name, pats) in &r.when.fields {
                let slots = name
                    .split('|')
                    .map(Slot::parse)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|message| ThreatError::Rule {
                        rule: r.id.clone(),
                        message,
                    })?;
                let set =
                    regex_set(&r.id, &format!("when.fields.{name}"), pats)?.ok_or_else(|| {
                        ThreatError::Rule {
                            rule: r.id.clone(),
                            message: format!("when.fields.{name} has no patterns"),
                        }
                    })?;
                fields.push(FieldMatch { slots, set });
            }
            let after = r
                .after
                .as_ref()
                .and_then(|a| file.rules.iter().position(|x| x.id == a.rule));
            rules.push(Compiled {
                spec: r.clone(),
                salt: entity::hash_str(&r.id) ^ (i as u64).rotate_left(32),
                text: regex_set(&r.id, "when.text", &r.when.text)?,
                not_text: regex_set(&r.id, "when.not_text", &r.when.not_text)?,
                fields,
                after,
            });
        }
        Ok(Self {
            file: file.clone(),
            extract_set,
            extractors,
            rules,
        })
    }

    pub fn file(&self) -> &RuleFile {
        &self.file
    }

    /// The event with what the extractors find in its message.
    pub fn view<'e>(&self, e: &'e Event) -> View<'e> {
        let mut v = View::plain(e);
        let Some(set) = &self.extract_set else {
            return v;
        };
        let text = cut(&e.message);
        for i in set.matches(text).iter() {
            let x = &self.extractors[i];
            if let Some(caps) = x.regex.captures(text) {
                for name in &x.names {
                    if let Some(m) = caps.name(name) {
                        if !v.extracted.iter().any(|(k, _)| k == name) {
                            v.extracted.push((name.clone(), m.as_str().to_string()));
                        }
                    }
                }
            }
            for (k, val) in &x.set {
                if !v.extracted.iter().any(|(n, _)| n == k) {
                    v.extracted.push((k.clone(), val.clone()));
                }
            }
        }
        v
    }

    fn matches(&self, r: &Compiled, v: &View<'_>) -> bool {
        let text = cut(&v.event.message);
        if let Some(t) = &r.text {
            if !t.is_match(text) {
                return false;
            }
        }
        if let Some(t) = &r.not_text {
            if t.is_match(text) {
                return false;
            }
        }
        for f in &r.fields {
            let hit = f
                .slots
                .iter()
                .any(|s| v.all(s).iter().any(|val| f.set.is_match(cut(val))));
            if !hit {
                return false;
            }
        }
        r.spec.require.iter().all(|s| v.get(s).is_some())
    }

    /// Learns from one baseline event (`t_ms` in time order).
    pub fn fit_one(&self, state: &mut RulesState, v: &View<'_>, t_ms: i64) {
        state.ensure(self.rules.len());
        for (i, r) in self.rules.iter().enumerate() {
            if !self.matches(r, v) {
                continue;
            }
            let st = &mut state.rules[i];
            st.baseline_matches += 1;
            update_windows(r, st, v, t_ms);
            if let Some(by) = &r.spec.new_for {
                if let Some(k) = entity::key(r.salt ^ 1, by, v) {
                    if st.seen.len() < MAX_KEYS {
                        st.seen.insert(k);
                    }
                }
            }
            if let Some(o) = &r.spec.off_hours {
                if let (Some(k), Some(h)) = (entity::key(r.salt ^ 2, &o.by, v), hour(v)) {
                    if st.hours.len() < MAX_KEYS || st.hours.contains_key(&k) {
                        let e = st.hours.entry(k).or_insert((0, 0));
                        e.0 |= 1 << h;
                        e.1 = e.1.saturating_add(1);
                    }
                }
            }
            if let Some(x) = &r.spec.exceeds_baseline {
                if let (Some(k), Some(m)) = (entity::key(r.salt ^ 3, &x.by, v), measure(x, v)) {
                    if st.maxima.len() < MAX_KEYS || st.maxima.contains_key(&k) {
                        let e = st.maxima.entry(k).or_insert((f64::NEG_INFINITY, 0));
                        e.0 = e.0.max(m);
                        e.1 = e.1.saturating_add(1);
                    }
                }
            }
        }
    }

    /// Scores one event: every rule that fires.
    pub fn observe(&self, state: &mut RulesState, v: &View<'_>, t_ms: i64) -> Vec<RuleHit> {
        state.ensure(self.rules.len());
        let mut hits = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            if !self.matches(r, v) {
                continue;
            }
            let (before, rest) = state.rules.split_at_mut(i);
            let st = &mut rest[0];
            let (count, distinct) = update_windows(r, st, v, t_ms);
            let mut evidence = Vec::new();
            let mut ok = true;
            if let Some(c) = &r.spec.count {
                let n = count.unwrap_or(0);
                ok &= n >= c.at_least;
                evidence.push(format!(
                    "{n} matching events for {} in {} (rule: ≥ {})",
                    describe(&c.by, v),
                    c.window,
                    c.at_least
                ));
            }
            if let Some(d) = &r.spec.distinct {
                let n = distinct.unwrap_or(0);
                ok &= n >= d.at_least as usize;
                evidence.push(format!(
                    "{n} distinct {} for {} in {} (rule: ≥ {})",
                    d.of,
                    describe(&d.by, v),
                    d.window,
                    d.at_least
                ));
            }
            if !ok {
                continue;
            }
            if let Some(by) = &r.spec.new_for {
                match entity::key(r.salt ^ 1, by, v) {
                    Some(k) if !st.seen.contains(&k) => evidence.push(format!(
                        "first time for {} (not in the baseline)",
                        describe(by, v)
                    )),
                    _ => continue,
                }
            }
            if let Some(o) = &r.spec.off_hours {
                let (Some(k), Some(h)) = (entity::key(r.salt ^ 2, &o.by, v), hour(v)) else {
                    continue;
                };
                let Some(&(mask, n)) = st.hours.get(&k) else {
                    continue;
                };
                if !state.baseline_full_day || n < o.min_baseline {
                    continue;
                }
                let tol = o.tolerance_hours as i32;
                let near = (-tol..=tol).any(|d| mask & (1 << ((h as i32 + d).rem_euclid(24))) != 0);
                if near {
                    continue;
                }
                evidence.push(format!(
                    "at {h:02}h UTC; {} was active in the baseline only at {}",
                    describe(&o.by, v),
                    hours_text(mask)
                ));
            }
            if let Some(x) = &r.spec.exceeds_baseline {
                let (Some(k), Some(m)) = (entity::key(r.salt ^ 3, &x.by, v), measure(x, v)) else {
                    continue;
                };
                let Some(&(max, n)) = st.maxima.get(&k) else {
                    continue;
                };
                if n < x.min_baseline || m <= max {
                    continue;
                }
                let what = match (&x.value_of, &x.length_of) {
                    (Some(s), _) => s.to_string(),
                    (_, Some(s)) => format!("length of {s}"),
                    _ => String::new(),
                };
                evidence.push(format!(
                    "{what} {m} above the baseline maximum {max} of {}",
                    describe(&x.by, v)
                ));
            }
            if let (Some(a), Some(j)) = (&r.spec.after, r.after) {
                let target = &self.rules[j];
                let Some(c) = &target.spec.count else {
                    continue;
                };
                let Some(k) = entity::key(target.salt, &c.by, v) else {
                    continue;
                };
                let n = before[j]
                    .counts
                    .get_mut(&k)
                    .map_or(0, |(w, _)| w.count(t_ms, c.window.ms()));
                if n < a.at_least {
                    continue;
                }
                evidence.push(format!(
                    "after {n} events of rule {} for {} in {}",
                    target.spec.id,
                    describe(&c.by, v),
                    c.window
                ));
            }
            if evidence.is_empty() {
                evidence.push(if r.spec.description.is_empty() {
                    "matched".to_string()
                } else {
                    r.spec.description.clone()
                });
            }
            let by = r.spec.entity.clone().or_else(|| first_by(&r.spec));
            let ent = match by {
                Some(b) => v.entity(&b),
                None => [Slot::SourceIp, Slot::User, Slot::Host]
                    .iter()
                    .find_map(|s| v.entity(std::slice::from_ref(s))),
            };
            hits.push(RuleHit {
                rule: r.spec.id.clone(),
                threat: r.spec.threat.clone(),
                score: r.spec.score,
                entity: ent,
                evidence,
                count: r.spec.count.as_ref().and(count),
                window: r.spec.count.as_ref().map(|c| c.window),
            });
        }
        state.sweep(&self.rules, t_ms);
        hits
    }
}

fn first_by(r: &RuleSpec) -> Option<Vec<Slot>> {
    r.count
        .as_ref()
        .map(|c| c.by.clone())
        .or_else(|| r.distinct.as_ref().map(|d| d.by.clone()))
        .or_else(|| r.new_for.clone())
        .or_else(|| r.off_hours.as_ref().map(|o| o.by.clone()))
        .or_else(|| r.exceeds_baseline.as_ref().map(|x| x.by.clone()))
}

fn describe(by: &[Slot], v: &View<'_>) -> String {
    match v.entity(by) {
        Some(e) => format!("{} {}", kind_name(by), e.value),
        None => kind_name(by),
    }
}

fn hour(v: &View<'_>) -> Option<u32> {
    v.event.timestamp.map(|t| t.hour())
}

fn measure(x: &super::rules::ExceedSpec, v: &View<'_>) -> Option<f64> {
    if let Some(s) = &x.value_of {
        v.get(s)?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
    } else {
        x.length_of
            .as_ref()
            .and_then(|s| v.get(s))
            .map(|t| t.chars().count() as f64)
    }
}

fn hours_text(mask: u32) -> String {
    let hs: Vec<String> = (0..24)
        .filter(|h| mask & (1 << h) != 0)
        .map(|h| format!("{h:02}h"))
        .collect();
    hs.join(", ")
}

/// Updates the rule's count and distinct windows; returns their values.
fn update_windows(
    r: &Compiled,
    st: &mut RuleState,
    v: &View<'_>,
    t: i64,
) -> (Option<u32>, Option<usize>) {
    let mut count = None;
    if let Some(c) = &r.spec.count {
        if let Some(k) = entity::key(r.salt, &c.by, v) {
            if st.counts.len() >= MAX_KEYS && !st.counts.contains_key(&k) {
                evict_oldest(&mut st.counts);
            }
            let e = st.counts.entry(k).or_insert_with(|| (Window::default(), t));
            e.1 = e.1.max(t);
            count = Some(e.0.add(t, c.window.ms()));
        }
    }
    let mut distinct = None;
    if let Some(d) = &r.spec.distinct {
        if let (Some(k), Some(val)) = (entity::key(r.salt ^ 4, &d.by, v), v.get(&d.of)) {
            if st.distinct.len() >= MAX_KEYS && !st.distinct.contains_key(&k) {
                evict_oldest(&mut st.distinct);
            }
            let e = st
                .distinct
                .entry(k)
                .or_insert_with(|| (DistinctWindow::default(), t));
            e.1 = e.1.max(t);
            distinct = Some(e.0.add(entity::hash_str(&val), t, d.window.ms()));
        }
    }
    (count, distinct)
}

fn evict_oldest<T>(map: &mut BTreeMap<u64, (T, i64)>) {
    let n = map.len() / 10 + 1;
    let mut lasts: Vec<i64> = map.values().map(|(_, l)| *l).collect();
    let (_, cutoff, _) = lasts.select_nth_unstable(n.min(map.len()) - 1);
    let cutoff = *cutoff;
    let mut removed = 0;
    map.retain(|_, (_, l)| {
        if removed < n && *l <= cutoff {
            removed += 1;
            false
        } else {
            true
        }
    });
}

/// What one rule remembers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// `count` windows per entity, with the last time seen.
    counts: BTreeMap<u64, (Window, i64)>,
    distinct: BTreeMap<u64, (DistinctWindow, i64)>,
    /// `new_for` entities seen in the baseline.
    seen: BTreeSet<u64>,
    /// `off_hours`: active-hour mask and baseline events per entity.
    hours: BTreeMap<u64, (u32, u32)>,
    /// `exceeds_baseline`: maximum and baseline values per entity.
    maxima: BTreeMap<u64, (f64, u32)>,
    /// Baseline events the rule's `when` matched (diagnostic).
    pub baseline_matches: u64,
}

/// State of all rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RulesState {
    pub rules: Vec<RuleState>,
    /// The baseline covered at least a day (off-hours rules need every hour to have had a
    /// chance).
    pub baseline_full_day: bool,
    next_sweep: i64,
}

impl RulesState {
    fn ensure(&mut self, n: usize) {
        if self.rules.len() != n {
            self.rules.resize_with(n, RuleState::default);
        }
    }

    /// Drops idle windows, at most once per minute of event time.
    fn sweep(&mut self, rules: &[Compiled], t: i64) {
        if t < self.next_sweep {
            return;
        }
        self.next_sweep = t.saturating_add(60_000);
        for (r, st) in rules.iter().zip(self.rules.iter_mut()) {
            if let Some(c) = &r.spec.count {
                let w = c.window.ms();
                st.counts.retain(|_, (win, _)| !win.is_idle(t, w));
            }
            if let Some(d) = &r.spec.distinct {
                let w = d.window.ms();
                st.distinct.retain(|_, (win, _)| !win.is_idle(t, w));
            }
        }
        let _ = BUCKETS;
    }

    /// Empties count and distinct windows (baseline knowledge stays).
    pub fn restart_stream(&mut self) {
        for r in &mut self.rules {
            r.counts.clear();
            r.distinct.clear();
        }
        self.next_sweep = 0;
    }

    /// Keys held, for memory checks.
    pub fn keys(&self) -> usize {
        self.rules
            .iter()
            .map(|r| {
                r.counts.len() + r.distinct.len() + r.seen.len() + r.hours.len() + r.maxima.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Field, FieldValue};

    const RULES: &str = r#"
version: 1
extract:
  - id: sshd_failed
    source: test
    pattern: 'Failed password for (?:invalid user )?(?P<user>\S+) from (?P<source_ip>\S+) port'
    set: {outcome: failure}
  - id: sshd_ok
    source: test
    pattern: 'Accepted \S+ for (?P<user>\S+) from (?P<source_ip>\S+) port'
    set: {outcome: success}
rules:
  - id: fails
    threat: brute_force
    source: test
    score: 0.9
    when: {fields: {outcome|action: ['^failure$']}}
    count: {by: [source_ip], window: 10m, at_least: 5}
  - id: spray
    threat: brute_force
    source: test
    score: 0.92
    when: {fields: {outcome: ['^failure$']}}
    distinct: {by: [source_ip], of: user, window: 5m, at_least: 4}
  - id: success_after
    threat: brute_force
    source: test
    score: 0.97
    when: {fields: {outcome: ['^success$']}}
    after: {rule: fails, at_least: 5}
  - id: new_sudo
    threat: privilege_escalation
    source: test
    score: 0.8
    when: {text: ['\bsudo\b']}
    new_for: [user]
  - id: night
    threat: data_exfiltration
    source: test
    score: 0.6
    off_hours: {by: [user], min_baseline: 5}
  - id: big
    threat: data_exfiltration
    source: test
    score: 0.7
    exceeds_baseline: {by: [user], value_of: bytes, min_baseline: 3}
"#;

    fn rules() -> Rules {
        Rules::compile(&RuleFile::from_yaml(RULES, "t").unwrap()).unwrap()
    }

    fn line(msg: &str, t_ms: i64) -> Event {
        let mut e = Event::new(0, 1);
        e.message = msg.into();
        e.timestamp = chrono::DateTime::from_timestamp_millis(t_ms);
        e
    }

    fn fire(r: &Rules, st: &mut RulesState, e: &Event, t: i64) -> Vec<String> {
        let v = r.view(e);
        r.observe(st, &v, t).into_iter().map(|h| h.rule).collect()
    }

    #[test]
    fn extractors_fill_slots_from_text() {
        let r = rules();
        let e = line(
            "Failed password for invalid user admin from 203.0.113.7 port 22 ssh2",
            0,
        );
        let v = r.view(&e);
        assert_eq!(v.get(&Slot::User).as_deref(), Some("admin"));
        assert_eq!(v.get(&Slot::SourceIp).as_deref(), Some("203.0.113.7"));
        assert_eq!(v.get(&Slot::Outcome).as_deref(), Some("failure"));
    }

    #[test]
    fn brute_force_below_and_above_threshold_then_success_after() {
        let r = rules();
        let mut st = RulesState::default();
        let fail = |i: i64| {
            line(
                &format!("Failed password for root from 203.0.113.7 port {i} ssh2"),
                i * 1000,
            )
        };
        for i in 0..4 {
            assert!(
                fire(&r, &mut st, &fail(i), i * 1000).is_empty(),
                "{i}: below"
            );
        }
        assert_eq!(fire(&r, &mut st, &fail(4), 4000), ["fails"]);
        let ok = line(
            "Accepted password for root from 203.0.113.7 port 9 ssh2",
            5000,
        );
        assert_eq!(fire(&r, &mut st, &ok, 5000), ["success_after"]);
        // The same success from another address is nothing.
        let other = line(
            "Accepted password for root from 198.51.100.1 port 9 ssh2",
            5000,
        );
        assert!(fire(&r, &mut st, &other, 5000).is_empty());
        // Eleven minutes later the window is empty again.
        assert!(fire(&r, &mut st, &fail(100), 4000 + 11 * 60_000).is_empty());
    }

    #[test]
    fn password_spraying_counts_distinct_users() {
        let r = rules();
        let mut st = RulesState::default();
        let mut last = Vec::new();
        for (i, u) in ["a", "b", "c", "a", "a", "d"].iter().enumerate() {
            let e = line(
                &format!("Failed password for {u} from 198.51.100.9 port 1 ssh2"),
                0,
            );
            last = fire(&r, &mut st, &e, i as i64 * 1000);
            if i < 5 {
                assert!(!last.contains(&"spray".to_string()), "{i}");
            }
        }
        assert!(last.contains(&"spray".to_string()), "{last:?}");
    }

    #[test]
    fn new_for_uses_the_baseline_only() {
        let r = rules();
        let mut st = RulesState::default();
        let mut sudo = line("sudo: alice : COMMAND=/bin/ls", 0);
        sudo.user = Some("alice".into());
        r.fit_one(&mut st, &r.view(&sudo), 0);
        assert!(
            fire(&r, &mut st, &sudo, 1000).is_empty(),
            "alice did sudo before"
        );
        sudo.user = Some("www-data".into());
        assert_eq!(fire(&r, &mut st, &sudo, 2000), ["new_sudo"]);
    }

    #[test]
    fn off_hours_and_exceeds_baseline() {
        let r = rules();
        let mut st = RulesState {
            baseline_full_day: true,
            ..Default::default()
        };
        let h = 3_600_000;
        for d in 0..3 {
            for hr in [9, 10, 11] {
                let mut e = line("download", d * 24 * h + hr * h);
                e.user = Some("bob".into());
                e.fields.push(Field {
                    name: "bytes".into(),
                    value: FieldValue::Number(1000.0),
                });
                r.fit_one(&mut st, &r.view(&e), d * 24 * h + hr * h);
            }
        }
        let mut e = line("download", 5 * 24 * h + 10 * h);
        e.user = Some("bob".into());
        e.fields.push(Field {
            name: "bytes".into(),
            value: FieldValue::Number(500.0),
        });
        assert!(fire(&r, &mut st, &e, 5 * 24 * h + 10 * h).is_empty());
        let t = 5 * 24 * h + 3 * h;
        e.timestamp = chrono::DateTime::from_timestamp_millis(t);
        e.fields[0].value = FieldValue::Number(50_000.0);
        let mut got = fire(&r, &mut st, &e, t);
        got.sort();
        assert_eq!(got, ["big", "night"]);
    }

    #[test]
    fn bad_regex_is_a_typed_error_naming_the_rule() {
        let text = RULES.replace(r"'\bsudo\b'", "'(unclosed'");
        let f = RuleFile::from_yaml(&text, "t").unwrap();
        let e = Rules::compile(&f).unwrap_err().to_string();
        assert!(e.contains("new_sudo") && e.contains("regex"), "{e}");
    }

    #[test]
    fn state_stays_bounded() {
        let r = rules();
        let mut st = RulesState::default();
        for i in 0..(MAX_KEYS as i64 + 5000) {
            let e = line(
                &format!(
                    "Failed password for u from 10.{}.{}.{} port 1 ssh2",
                    i >> 16,
                    (i >> 8) & 255,
                    i & 255
                ),
                0,
            );
            let v = r.view(&e);
            r.observe(&mut st, &v, i);
        }
        assert!(st.rules[0].counts.len() <= MAX_KEYS);
        assert!(st.rules[1].distinct.len() <= MAX_KEYS);
    }
}
