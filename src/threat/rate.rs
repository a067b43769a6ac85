//! Rate (burst) detectors: sliding counts per entity, compared with the entity's own
//! baseline peak, calibrated into a p-value.
//!
//! For every entity family (`[host, event_type]`, `[source_ip]`, …) and every window length
//! (1 min, 10 min, 1 h by default), each event updates its entity's sliding count `c` and
//! reads the entity's **baseline peak** `peak` — the largest count that entity reached in a
//! window of that length during the baseline (0 for an entity the baseline never saw). The
//! statistic is
//!
//! ```text
//! s = max over families and windows of  ln((c + 1) / (peak + 1))
//! ```
//!
//! "how many times over its own worst minute / ten minutes / hour" — scale-free, so a web
//! server's thousand-a-minute access alerts and a database's three-a-day logins are judged on
//! the same footing, and an alert kind that is common but now comes a hundred times faster is
//! a burst even though each event is ordinary. New entities have peak 0: a brand-new alert
//! kind needs a few dozen events in a minute, not one, to count as a burst (one new event is
//! the line model's business).
//!
//! **Calibration** ([`super::tail`]): `s` is turned into a p-value on the baseline itself,
//! cross-fitted so that the baseline's values are out-of-sample like the ones scored later —
//! the baseline is cut in two halves by time, each half is scored against the other half's
//! peaks (entities new in one half are "new entities" there, which is how the global prior
//! for new entities is learned), and the pooled values give the calibration. Because the
//! statistic is the maximum over families and windows, the multiplicity of looking at many
//! entities and windows is inside the calibration: `p ≤ contamination` flags about a
//! `contamination` share of baseline-like traffic.
//!
//! **Memory** is bounded: an entity holds one 12-bucket [`Window`] per window length and a
//! copy of its peaks; entities whose windows are all empty are swept out every
//! `longest window / 12` of event time, and above `max_active` entities the least recently
//! seen tenth is evicted (its counts are lost, a documented approximation under pressure).
//! Baseline peaks are kept for at most `max_baseline_entities` entities (those with the most
//! baseline events; the rest are treated as new).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::classify::ThreatType;
use super::entity::{self, EntityRef, Slot, View};
use super::span::Span;
use super::tail::Calibration;
use super::window::{Window, BUCKETS};

/// One entity family of the rate detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilySpec {
    /// The slots that make the entity.
    pub by: Vec<Slot>,
    /// The threat type of a burst of this family when no rule names one.
    #[serde(default = "unusual")]
    pub threat: ThreatType,
}

fn unusual() -> ThreatType {
    ThreatType::Unusual
}

/// The `rates:` section of the rule file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    #[serde(default = "default_windows")]
    pub windows: Vec<Span>,
    #[serde(default = "default_families")]
    pub families: Vec<FamilySpec>,
    #[serde(default = "default_max_active")]
    pub max_active: usize,
    #[serde(default = "default_max_baseline")]
    pub max_baseline_entities: usize,
}

fn default_windows() -> Vec<Span> {
    vec![Span::secs(60), Span::secs(600), Span::secs(3600)]
}

fn default_families() -> Vec<FamilySpec> {
    let f = |by: Vec<Slot>, threat| FamilySpec { by, threat };
    vec![
        f(vec![Slot::Host, Slot::EventType], ThreatType::AlertFlood),
        f(vec![Slot::EventType], ThreatType::AlertFlood),
        f(vec![Slot::Host], ThreatType::Unusual),
        f(vec![Slot::SourceIp], ThreatType::Unusual),
        f(vec![Slot::User], ThreatType::Unusual),
    ]
}

fn default_max_active() -> usize {
    200_000
}

fn default_max_baseline() -> usize {
    1_000_000
}

impl Default for RateSpec {
    fn default() -> Self {
        Self {
            windows: default_windows(),
            families: default_families(),
            max_active: default_max_active(),
            max_baseline_entities: default_max_baseline(),
        }
    }
}

impl RateSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.windows.is_empty() && !self.families.is_empty() {
            return Err("rates.windows is empty".into());
        }
        if self.windows.len() > 8 {
            return Err("rates.windows: at most 8 windows".into());
        }
        for f in &self.families {
            if f.by.is_empty() {
                return Err("rates.families: a family needs at least one slot in `by`".into());
            }
        }
        if self.max_active < 16 {
            return Err("rates.max_active must be at least 16".into());
        }
        Ok(())
    }
}

/// A burst, as evidence for a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateEvidence {
    /// The family's threat type.
    pub threat: ThreatType,
    pub entity: EntityRef,
    /// The window that was most extreme.
    pub window: Span,
    /// Events of the entity in that window, this one included.
    pub count: u32,
    /// The entity's largest count in such a window during the baseline (0 = new entity).
    pub baseline_peak: u32,
    /// The entity's events in the whole baseline.
    pub baseline_events: u32,
    /// `ln((count + 1) / (baseline_peak + 1))`.
    pub statistic: f64,
    /// Calibrated p-value (small = burst).
    pub p: f64,
}

/// What the baseline says about one entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Peaks {
    peaks: Vec<u32>,
    events: u32,
}

#[derive(Debug, Clone, PartialEq)]
struct Active {
    last: i64,
    windows: Box<[Window]>,
    /// Copied from the baseline when the entity becomes active (`None`: new entity).
    peaks: Option<Box<[u32]>>,
    events: u32,
}

/// Streaming state: the active entities.
#[derive(Debug, Clone, Default, PartialEq)]
struct State {
    active: HashMap<u64, Active>,
    next_sweep: i64,
}

/// The best (family, window) of one event.
#[derive(Debug, Clone, Copy)]
struct Best {
    s: f64,
    family: usize,
    window: usize,
    count: u32,
    peak: u32,
    events: u32,
}

/// Facts about the fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RateFacts {
    pub baseline_events: u64,
    pub baseline_entities: u64,
    /// Values the calibration was fitted on (cross-fitted baseline events with an entity).
    pub calibration_values: u64,
    pub calibration_prior: bool,
}

/// The rate detectors: spec, baseline peaks, calibration and streaming state.
#[derive(Debug, Clone, PartialEq)]
pub struct RateModel {
    spec: RateSpec,
    salts: Vec<u64>,
    baseline: HashMap<u64, Peaks>,
    calibration: Calibration,
    state: State,
    facts: RateFacts,
}

fn salts(spec: &RateSpec) -> Vec<u64> {
    (0..spec.families.len())
        .map(|i| 0x7261_7465_0000_0000 | i as u64)
        .collect()
}

impl RateModel {
    /// An unfitted model (every entity new, prior calibration).
    pub fn new(spec: RateSpec) -> Self {
        Self {
            salts: salts(&spec),
            spec,
            baseline: HashMap::new(),
            calibration: Calibration::prior(),
            state: State::default(),
            facts: RateFacts::default(),
        }
    }

    pub fn spec(&self) -> &RateSpec {
        &self.spec
    }

    pub fn facts(&self) -> &RateFacts {
        &self.facts
    }

    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Active entities now.
    pub fn active_entities(&self) -> usize {
        self.state.active.len()
    }

    /// Fits on baseline events in time order (`(time in ms, view)`), and leaves the windows
    /// as they stand at the end of the baseline, so scoring continues seamlessly.
    pub fn fit(&mut self, events: &[(i64, View<'_>)]) {
        let spec = &self.spec;
        let salts = &self.salts;
        // Cross-fit: each half scored against the other half's peaks.
        let mut samples = Vec::with_capacity(events.len());
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            let mid = first.0 + (last.0 - first.0) / 2;
            let cut = events.partition_point(|(t, _)| *t < mid);
            let (a, b) = events.split_at(cut);
            let peaks_a = record_pass(spec, salts, a).0;
            let (peaks_b, s_b) = scored_pass(spec, salts, b, &peaks_a);
            samples.extend(s_b);
            let (_, s_a) = scored_pass(spec, salts, a, &peaks_b);
            samples.extend(s_a);
        }
        let (mut peaks, state) = record_pass(spec, salts, events);
        if peaks.len() > spec.max_baseline_entities {
            let mut by_events: Vec<(u32, u64)> =
                peaks.iter().map(|(k, p)| (p.events, *k)).collect();
            by_events.sort_unstable_by(|a, b| b.cmp(a));
            let keep: std::collections::HashSet<u64> = by_events[..spec.max_baseline_entities]
                .iter()
                .map(|(_, k)| *k)
                .collect();
            peaks.retain(|k, _| keep.contains(k));
        }
        self.facts = RateFacts {
            baseline_events: events.len() as u64,
            baseline_entities: peaks.len() as u64,
            calibration_values: samples.len() as u64,
            calibration_prior: false,
        };
        self.calibration = Calibration::fit(samples);
        self.facts.calibration_prior = self.calibration.prior;
        self.baseline = peaks;
        // The warm windows of the full pass, with the final peaks attached.
        let mut state = state;
        for (k, a) in state.active.iter_mut() {
            a.peaks = self
                .baseline
                .get(k)
                .map(|p| p.peaks.clone().into_boxed_slice());
            a.events = self.baseline.get(k).map_or(0, |p| p.events);
        }
        self.state = state;
    }

    /// Empties every window (baseline peaks and calibration stay).
    pub fn restart_stream(&mut self) {
        self.state = State::default();
    }

    /// Scores one event at `t_ms` (time order) and counts it. `None` when no family applies
    /// (the event has none of the slots).
    pub fn observe(&mut self, view: &View<'_>, t_ms: i64) -> Option<RateEvidence> {
        let best = step(
            &self.spec,
            &self.salts,
            &mut self.state,
            view,
            t_ms,
            Lookup::Baseline(&self.baseline),
            None,
        )?;
        let fam = &self.spec.families[best.family];
        let entity = view.entity(&fam.by)?;
        Some(RateEvidence {
            threat: fam.threat.clone(),
            entity,
            window: self.spec.windows[best.window],
            count: best.count,
            baseline_peak: best.peak,
            baseline_events: best.events,
            statistic: best.s,
            p: self.calibration.p(best.s),
        })
    }
}

enum Lookup<'a> {
    None,
    Baseline(&'a HashMap<u64, Peaks>),
}

/// Streams `events` from a fresh state, recording every entity's peaks.
fn record_pass(
    spec: &RateSpec,
    salts: &[u64],
    events: &[(i64, View<'_>)],
) -> (HashMap<u64, Peaks>, State) {
    let mut state = State::default();
    let mut peaks = HashMap::new();
    for (t, v) in events {
        step(
            spec,
            salts,
            &mut state,
            v,
            *t,
            Lookup::None,
            Some(&mut peaks),
        );
    }
    (peaks, state)
}

/// Streams `events` from a fresh state against `against`'s peaks: the statistic of every
/// event (that has an entity), and the peaks of `events` themselves.
fn scored_pass(
    spec: &RateSpec,
    salts: &[u64],
    events: &[(i64, View<'_>)],
    against: &HashMap<u64, Peaks>,
) -> (HashMap<u64, Peaks>, Vec<f64>) {
    let mut state = State::default();
    let mut peaks = HashMap::new();
    let mut out = Vec::with_capacity(events.len());
    for (t, v) in events {
        if let Some(b) = step(
            spec,
            salts,
            &mut state,
            v,
            *t,
            Lookup::Baseline(against),
            Some(&mut peaks),
        ) {
            out.push(b.s);
        }
    }
    (peaks, out)
}

fn step(
    spec: &RateSpec,
    salts: &[u64],
    state: &mut State,
    view: &View<'_>,
    t: i64,
    lookup: Lookup<'_>,
    mut record: Option<&mut HashMap<u64, Peaks>>,
) -> Option<Best> {
    let nwin = spec.windows.len();
    let longest = spec.windows.iter().map(|w| w.ms()).max().unwrap_or(1);
    if t >= state.next_sweep {
        state.active.retain(|_, a| {
            !a.windows
                .iter()
                .zip(&spec.windows)
                .all(|(w, s)| w.is_idle(t, s.ms()))
        });
        state.next_sweep = t.saturating_add((longest / BUCKETS as i64).max(1));
    }
    let mut best: Option<Best> = None;
    for (fi, fam) in spec.families.iter().enumerate() {
        let Some(key) = entity::key(salts[fi], &fam.by, view) else {
            continue;
        };
        if !state.active.contains_key(&key) {
            if state.active.len() >= spec.max_active {
                evict_oldest(&mut state.active, spec.max_active / 10 + 1);
            }
            let (peaks, events) = match &lookup {
                Lookup::Baseline(b) => match b.get(&key) {
                    Some(p) => (Some(p.peaks.clone().into_boxed_slice()), p.events),
                    None => (None, 0),
                },
                Lookup::None => (None, 0),
            };
            state.active.insert(
                key,
                Active {
                    last: t,
                    windows: vec![Window::default(); nwin].into_boxed_slice(),
                    peaks,
                    events,
                },
            );
        }
        let a = state.active.get_mut(&key).expect("inserted above");
        a.last = a.last.max(t);
        let rec = record.as_deref_mut().map(|r| {
            let p = r.entry(key).or_insert_with(|| Peaks {
                peaks: vec![0; nwin],
                events: 0,
            });
            p.events = p.events.saturating_add(1);
            p
        });
        let mut rec = rec;
        for (wi, span) in spec.windows.iter().enumerate() {
            let c = a.windows[wi].add(t, span.ms());
            if let Some(p) = rec.as_deref_mut() {
                p.peaks[wi] = p.peaks[wi].max(c);
            }
            if matches!(lookup, Lookup::Baseline(_)) {
                let peak = a.peaks.as_ref().map_or(0, |p| p[wi]);
                let s = ((c as f64 + 1.0) / (peak as f64 + 1.0)).ln();
                if best.is_none_or(|b| s > b.s) {
                    best = Some(Best {
                        s,
                        family: fi,
                        window: wi,
                        count: c,
                        peak,
                        events: a.events,
                    });
                }
            }
        }
    }
    best
}

fn evict_oldest(active: &mut HashMap<u64, Active>, n: usize) {
    if active.is_empty() {
        return;
    }
    let mut lasts: Vec<i64> = active.values().map(|a| a.last).collect();
    let k = n.min(lasts.len()) - 1;
    let (_, cutoff, _) = lasts.select_nth_unstable(k);
    let cutoff = *cutoff;
    let mut removed = 0;
    active.retain(|_, a| {
        if removed < n && a.last <= cutoff {
            removed += 1;
            false
        } else {
            true
        }
    });
}

// ---- serde: maps as sorted lists, so saved engines are byte-for-byte deterministic ----

#[derive(Serialize, Deserialize)]
struct SavedActive {
    key: u64,
    last: i64,
    windows: Vec<Window>,
    peaks: Option<Vec<u32>>,
    events: u32,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    spec: RateSpec,
    baseline: Vec<(u64, Peaks)>,
    calibration: Calibration,
    active: Vec<SavedActive>,
    next_sweep: i64,
    facts: RateFacts,
}

impl Serialize for RateModel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut baseline: Vec<(u64, Peaks)> =
            self.baseline.iter().map(|(k, p)| (*k, p.clone())).collect();
        baseline.sort_unstable_by_key(|(k, _)| *k);
        let mut active: Vec<SavedActive> = self
            .state
            .active
            .iter()
            .map(|(k, a)| SavedActive {
                key: *k,
                last: a.last,
                windows: a.windows.to_vec(),
                peaks: a.peaks.as_ref().map(|p| p.to_vec()),
                events: a.events,
            })
            .collect();
        active.sort_unstable_by_key(|a| a.key);
        Saved {
            spec: self.spec.clone(),
            baseline,
            calibration: self.calibration.clone(),
            active,
            next_sweep: self.state.next_sweep,
            facts: self.facts.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for RateModel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Saved::deserialize(d)?;
        s.spec.validate().map_err(serde::de::Error::custom)?;
        let nwin = s.spec.windows.len();
        let mut active = HashMap::with_capacity(s.active.len());
        for a in s.active {
            if a.windows.len() != nwin || a.peaks.as_ref().is_some_and(|p| p.len() != nwin) {
                return Err(serde::de::Error::custom(
                    "window count does not match the spec",
                ));
            }
            active.insert(
                a.key,
                Active {
                    last: a.last,
                    windows: a.windows.into_boxed_slice(),
                    peaks: a.peaks.map(Vec::into_boxed_slice),
                    events: a.events,
                },
            );
        }
        if s.baseline.iter().any(|(_, p)| p.peaks.len() != nwin) {
            return Err(serde::de::Error::custom(
                "baseline peaks do not match the spec",
            ));
        }
        Ok(Self {
            salts: salts(&s.spec),
            spec: s.spec,
            baseline: s.baseline.into_iter().collect(),
            calibration: s.calibration,
            state: State {
                active,
                next_sweep: s.next_sweep,
            },
            facts: s.facts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Event, Field, FieldValue};

    const MIN: i64 = 60_000;

    fn ev(host: &str, kind: &str) -> Event {
        let mut e = Event::new(0, 1);
        e.host = Some(host.into());
        e.fields.push(Field {
            name: "event_type".into(),
            value: FieldValue::Category(kind.into()),
        });
        e
    }

    /// A day of baseline: every host logs `kind` once a minute, with a burst of 5 an hour.
    fn baseline(hosts: usize) -> Vec<(i64, Event)> {
        let mut out = Vec::new();
        for m in 0..(24 * 60) {
            for h in 0..hosts {
                let n = if m % 60 == 0 { 5 } else { 1 };
                for i in 0..n {
                    out.push((m * MIN + h as i64 * 100 + i, ev(&format!("h{h}"), "login")));
                }
            }
        }
        out
    }

    fn spec() -> RateSpec {
        RateSpec {
            families: vec![FamilySpec {
                by: vec![Slot::Host, Slot::EventType],
                threat: ThreatType::AlertFlood,
            }],
            ..RateSpec::default()
        }
    }

    fn fitted(hosts: usize) -> (RateModel, i64) {
        let base = baseline(hosts);
        let views: Vec<(i64, View)> = base.iter().map(|(t, e)| (*t, View::plain(e))).collect();
        let mut m = RateModel::new(spec());
        m.fit(&views);
        (m, base.last().unwrap().0)
    }

    #[test]
    fn a_burst_of_a_common_event_is_flagged_and_normal_traffic_is_not() {
        let (mut m, end) = fitted(5);
        assert!(!m.calibration().prior);
        // Normal rate after the baseline: never below 0.01.
        let e = ev("h1", "login");
        let mut t = end;
        for _ in 0..120 {
            t += MIN;
            let r = m.observe(&View::plain(&e), t).unwrap();
            assert!(r.p > 0.01, "{r:?}");
        }
        // Below threshold: 5 at once (as in every baseline hour) is not a burst.
        t += MIN;
        let mut last = None;
        for i in 0..5 {
            last = m.observe(&View::plain(&e), t + i);
        }
        assert!(last.as_ref().unwrap().p > 0.01);
        // Above: 5000 in a minute, a thousand times the baseline peak. (This baseline has
        // no tail to learn from, so the prior decides: p ≈ p_u · (peak + 1) / (count + 1).)
        t += 10 * MIN;
        for i in 0..5000 {
            last = m.observe(&View::plain(&e), t + i * 10);
        }
        let r = last.unwrap();
        assert!(r.p < 1e-3, "{r:?}");
        assert_eq!(r.entity.value, "h1 / login");
        assert_eq!(r.baseline_peak, 5, "{r:?}");
        assert!(r.count >= 5000);
        assert_eq!(r.threat, ThreatType::AlertFlood);
    }

    #[test]
    fn a_new_entity_needs_many_events_to_be_a_burst() {
        let (mut m, end) = fitted(5);
        let e = ev("new-host", "login");
        let first = m.observe(&View::plain(&e), end + MIN).unwrap();
        assert_eq!(first.baseline_peak, 0);
        assert!(first.p > 0.01, "one new event is not a burst: {first:?}");
        let mut last = first;
        for i in 0..3000 {
            last = m.observe(&View::plain(&e), end + MIN + i * 10).unwrap();
        }
        assert!(last.p < 1e-3, "{last:?}");
    }

    #[test]
    fn idle_entities_are_evicted_and_active_ones_bounded() {
        let (mut m, end) = fitted(5);
        assert!(m.active_entities() <= 5);
        let mut spec = spec();
        spec.max_active = 100;
        let mut m2 = RateModel::new(spec);
        let mut t = 0;
        for i in 0..10_000 {
            t += 10;
            m2.observe(&View::plain(&ev(&format!("h{i}"), "x")), t);
            assert!(m2.active_entities() <= 100);
        }
        // Two hours of silence, then one event: everything idle was swept.
        m.observe(&View::plain(&ev("h0", "login")), end + 2 * 3_600_000);
        assert_eq!(m.active_entities(), 1);
    }

    #[test]
    fn events_without_any_slot_are_not_scored() {
        let (mut m, end) = fitted(2);
        let e = Event::new(0, 1);
        assert!(m.observe(&View::plain(&e), end).is_none());
    }

    #[test]
    fn save_load_round_trip_scores_the_same() {
        let (mut m, end) = fitted(3);
        let json = serde_json::to_string(&m).unwrap();
        let mut back: RateModel = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json, "deterministic");
        for i in 0..50 {
            let e = ev("h2", "login");
            let a = m.observe(&View::plain(&e), end + i * 500);
            let b = back.observe(&View::plain(&e), end + i * 500);
            assert_eq!(a, b);
        }
        let bad = json.replacen("\"windows\":[\"1m\",", "\"windows\":[", 1);
        assert!(serde_json::from_str::<RateModel>(&bad).is_err());
    }
}
