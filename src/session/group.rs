//! Sessionizer: groups a stream of events into sessions by a key, with an idle time-out.
//!
//! * The key comes from the message (every match of a regex, e.g. `blk_-?\d+`: a line that
//!   mentions two blocks belongs to both sessions) or from a field (`user`, `host`). Keys can
//!   also be given directly with [`Sessionizer::push_keys`] when the caller already has them.
//! * A session closes when its key has seen no event for `idle_timeout_ms` of *stream* time
//!   (the largest event time seen so far, or the time given to [`Sessionizer::advance`]), when
//!   it reaches `max_events_per_session` (the next event of that key opens a new session), when
//!   it is evicted because `max_open_sessions` are open (the least recently active one goes),
//!   or at the end of input ([`Sessionizer::flush`]).
//! * Memory is bounded: at most `max_open_sessions` open sessions of at most
//!   `max_events_per_session` payloads each, keys cut to [`MAX_KEY_BYTES`].
//!
//! The same value serves file mode (push every line, then `flush`) and service mode (push as
//! events arrive, call `advance` on a timer so quiet sessions close without new input).
//! Output order is deterministic: it never depends on hash-map iteration order.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::SessionError;

/// Keys longer than this many bytes are cut (at a character boundary): bounds memory per key.
pub const MAX_KEY_BYTES: usize = 256;

/// Where the session key of an event comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySpec {
    /// Every distinct match of this regex in the message is a key (capture group 1 when the
    /// regex has one, else the whole match). Example: `blk_-?\d+` for HDFS blocks.
    Regex(String),
    /// The value of this field (e.g. `user`, or `host` together with an idle time-out).
    Field(String),
}

/// Sessionizer settings. Serialisable so a service can keep them with its model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionizerParams {
    pub key: KeySpec,
    /// Close a session after this much stream time without an event of its key. `None`: only
    /// size, eviction and end of input close sessions (HDFS blocks: a block is one session).
    pub idle_timeout_ms: Option<i64>,
    /// Open sessions beyond this are evicted, least recently active first.
    pub max_open_sessions: usize,
    /// A session reaching this many events is closed; the key's next event opens a new one.
    pub max_events_per_session: usize,
}

impl Default for SessionizerParams {
    fn default() -> Self {
        Self {
            key: KeySpec::Regex(r"blk_-?\d+".into()),
            idle_timeout_ms: None,
            max_open_sessions: 1_000_000,
            max_events_per_session: 100_000,
        }
    }
}

/// One incoming event, borrowed. `fields` is only read by [`KeySpec::Field`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EventIn<'a> {
    /// Event time in milliseconds (any epoch, e.g. Unix). `None`: "now" (the stream clock).
    pub time_ms: Option<i64>,
    pub message: &'a str,
    pub fields: &'a [(&'a str, &'a str)],
}

/// Why a session was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    IdleTimeout,
    MaxEvents,
    Evicted,
    EndOfInput,
}

/// A finished session: its key and its payloads in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedSession<T> {
    pub key: String,
    pub events: Vec<T>,
    /// Time of the first and the last event (stream clock for events without a time).
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    pub reason: CloseReason,
}

#[derive(Debug, Clone)]
struct Open<T> {
    events: Vec<T>,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    /// Position in the activity index: (last activity time, sequence number).
    slot: (i64, u64),
    /// Creation order, for deterministic flush order.
    created: u64,
}

#[derive(Debug, Clone)]
enum Keyer {
    Regex(regex::Regex),
    Field(String),
}

/// Groups events into sessions (see the module documentation).
#[derive(Debug, Clone)]
pub struct Sessionizer<T> {
    params: SessionizerParams,
    keyer: Keyer,
    open: HashMap<String, Open<T>>,
    /// Open sessions ordered by last activity: (time, seq) → key.
    activity: BTreeSet<(i64, u64, String)>,
    clock: Option<i64>,
    seq: u64,
    unkeyed: u64,
}

impl<T: Clone> Sessionizer<T> {
    /// A sessionizer; fails on an invalid regex or zero limits.
    pub fn new(params: SessionizerParams) -> Result<Self, SessionError> {
        if params.max_open_sessions == 0 || params.max_events_per_session == 0 {
            return Err(SessionError::InvalidParams(
                "max_open_sessions and max_events_per_session must be > 0".into(),
            ));
        }
        if matches!(params.idle_timeout_ms, Some(t) if t < 0) {
            return Err(SessionError::InvalidParams(
                "idle_timeout_ms must be >= 0".into(),
            ));
        }
        let keyer = match &params.key {
            KeySpec::Regex(p) => Keyer::Regex(
                regex::RegexBuilder::new(p)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| SessionError::InvalidParams(format!("key regex: {e}")))?,
            ),
            KeySpec::Field(f) => Keyer::Field(f.clone()),
        };
        Ok(Self {
            params,
            keyer,
            open: HashMap::new(),
            activity: BTreeSet::new(),
            clock: None,
            seq: 0,
            unkeyed: 0,
        })
    }

    pub fn params(&self) -> &SessionizerParams {
        &self.params
    }

    /// Number of sessions open now.
    pub fn open_sessions(&self) -> usize {
        self.open.len()
    }

    /// Events that had no key (no regex match, field missing) and were dropped.
    pub fn unkeyed_events(&self) -> u64 {
        self.unkeyed
    }

    /// The stream clock: the largest event time seen (or given to `advance`).
    pub fn clock_ms(&self) -> Option<i64> {
        self.clock
    }

    /// The distinct keys of an event, in order of first appearance, each cut to
    /// [`MAX_KEY_BYTES`].
    pub fn keys_of(&self, event: &EventIn<'_>) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        match &self.keyer {
            Keyer::Regex(re) => {
                for caps in re.captures_iter(event.message) {
                    let m = caps.get(1).or_else(|| caps.get(0));
                    if let Some(m) = m {
                        let k = cut_key(m.as_str());
                        if !k.is_empty() && !keys.iter().any(|x| x == k) {
                            keys.push(k.to_string());
                        }
                    }
                }
            }
            Keyer::Field(name) => {
                if let Some((_, v)) = event.fields.iter().find(|(k, _)| k == name) {
                    let k = cut_key(v);
                    if !k.is_empty() {
                        keys.push(k.to_string());
                    }
                }
            }
        }
        keys
    }

    /// Adds an event (its payload goes to every session its keys name) and returns the
    /// sessions this closed: idle ones (the event moved the clock), full ones, evicted ones.
    pub fn push(&mut self, event: &EventIn<'_>, payload: T) -> Vec<ClosedSession<T>> {
        let keys = self.keys_of(event);
        self.push_keys(&keys, event.time_ms, payload)
    }

    /// Like [`Sessionizer::push`] with keys the caller extracted.
    pub fn push_keys<K: AsRef<str>>(
        &mut self,
        keys: &[K],
        time_ms: Option<i64>,
        payload: T,
    ) -> Vec<ClosedSession<T>> {
        let mut closed = Vec::new();
        if let Some(t) = time_ms {
            self.expire_until(t, &mut closed);
        }
        if keys.is_empty() {
            self.unkeyed += 1;
            return closed;
        }
        let now = time_ms.or(self.clock);
        for key in keys {
            let key = cut_key(key.as_ref());
            if key.is_empty() {
                continue;
            }
            self.seq += 1;
            let seq = self.seq;
            let stamp = (now.unwrap_or(i64::MIN), seq);
            let full = match self.open.get_mut(key) {
                Some(s) => {
                    self.activity.remove(&(s.slot.0, s.slot.1, key.to_string()));
                    s.events.push(payload.clone());
                    s.last_ms = max_opt(s.last_ms, now);
                    if s.first_ms.is_none() {
                        s.first_ms = now;
                    }
                    s.slot = (s.last_ms.unwrap_or(i64::MIN).max(stamp.0), seq);
                    self.activity.insert((s.slot.0, s.slot.1, key.to_string()));
                    s.events.len() >= self.params.max_events_per_session
                }
                None => {
                    let s = Open {
                        events: vec![payload.clone()],
                        first_ms: now,
                        last_ms: now,
                        slot: stamp,
                        created: seq,
                    };
                    let full = s.events.len() >= self.params.max_events_per_session;
                    self.activity.insert((stamp.0, stamp.1, key.to_string()));
                    self.open.insert(key.to_string(), s);
                    full
                }
            };
            if full {
                if let Some(c) = self.close(key, CloseReason::MaxEvents) {
                    closed.push(c);
                }
            }
        }
        while self.open.len() > self.params.max_open_sessions {
            let Some(oldest) = self.activity.iter().next().map(|(_, _, k)| k.clone()) else {
                break;
            };
            if let Some(c) = self.close(&oldest, CloseReason::Evicted) {
                closed.push(c);
            }
        }
        closed
    }

    /// Moves the stream clock to `now_ms` (if later) and closes the sessions idle past the
    /// time-out. Service mode calls this on a timer.
    pub fn advance(&mut self, now_ms: i64) -> Vec<ClosedSession<T>> {
        let mut closed = Vec::new();
        self.expire_until(now_ms, &mut closed);
        closed
    }

    /// Closes every open session (end of input), in order of creation.
    pub fn flush(&mut self) -> Vec<ClosedSession<T>> {
        let mut keys: Vec<(u64, String)> = self
            .open
            .iter()
            .map(|(k, s)| (s.created, k.clone()))
            .collect();
        keys.sort_unstable();
        let out = keys
            .into_iter()
            .filter_map(|(_, k)| self.close(&k, CloseReason::EndOfInput))
            .collect();
        self.activity.clear();
        out
    }

    /// Copies of the open sessions as they stand (in order of creation), without closing
    /// them: what a model trained now would see of them. Reason is `EndOfInput`.
    pub fn snapshot_open(&self) -> Vec<ClosedSession<T>> {
        let mut v: Vec<(&String, &Open<T>)> = self.open.iter().collect();
        v.sort_unstable_by_key(|(_, s)| s.created);
        v.into_iter()
            .map(|(k, s)| ClosedSession {
                key: k.clone(),
                events: s.events.clone(),
                first_ms: s.first_ms,
                last_ms: s.last_ms,
                reason: CloseReason::EndOfInput,
            })
            .collect()
    }

    fn expire_until(&mut self, t: i64, closed: &mut Vec<ClosedSession<T>>) {
        self.clock = max_opt(self.clock, Some(t));
        let (Some(timeout), Some(now)) = (self.params.idle_timeout_ms, self.clock) else {
            return;
        };
        let limit = now.saturating_sub(timeout);
        while let Some(k) = self
            .activity
            .iter()
            .next()
            .filter(|(last, _, _)| *last < limit)
            .map(|(_, _, k)| k.clone())
        {
            if let Some(c) = self.close(&k, CloseReason::IdleTimeout) {
                closed.push(c);
            }
        }
    }

    fn close(&mut self, key: &str, reason: CloseReason) -> Option<ClosedSession<T>> {
        let s = self.open.remove(key)?;
        self.activity.remove(&(s.slot.0, s.slot.1, key.to_string()));
        Some(ClosedSession {
            key: key.to_string(),
            events: s.events,
            first_ms: s.first_ms,
            last_ms: s.last_ms,
            reason,
        })
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

pub(crate) fn cut_key(k: &str) -> &str {
    if k.len() <= MAX_KEY_BYTES {
        return k;
    }
    let mut end = MAX_KEY_BYTES;
    while !k.is_char_boundary(end) {
        end -= 1;
    }
    &k[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex_sessionizer(timeout: Option<i64>) -> Sessionizer<u32> {
        Sessionizer::new(SessionizerParams {
            key: KeySpec::Regex(r"blk_-?\d+".into()),
            idle_timeout_ms: timeout,
            ..Default::default()
        })
        .unwrap()
    }

    fn ev(t: Option<i64>, m: &str) -> EventIn<'_> {
        EventIn {
            time_ms: t,
            message: m,
            fields: &[],
        }
    }

    #[test]
    fn groups_by_regex_and_a_line_belongs_to_every_block_it_names() {
        let mut s = regex_sessionizer(None);
        assert!(s.push(&ev(None, "open blk_1"), 1).is_empty());
        assert!(s
            .push(&ev(None, "copy blk_-2 from blk_1 blk_1"), 2)
            .is_empty());
        assert!(s.push(&ev(None, "no block here"), 9).is_empty());
        assert!(s.push(&ev(None, "close blk_-2"), 3).is_empty());
        assert_eq!(s.open_sessions(), 2);
        assert_eq!(s.unkeyed_events(), 1);
        let out = s.flush();
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].key.as_str(), out[0].events.clone()),
            ("blk_1", vec![1, 2])
        );
        assert_eq!(
            (out[1].key.as_str(), out[1].events.clone()),
            ("blk_-2", vec![2, 3])
        );
        assert!(out.iter().all(|c| c.reason == CloseReason::EndOfInput));
        assert_eq!(s.open_sessions(), 0);
        assert!(s.flush().is_empty());
    }

    #[test]
    fn capture_group_is_the_key() {
        let mut s: Sessionizer<u8> = Sessionizer::new(SessionizerParams {
            key: KeySpec::Regex(r"session (\w+) ".into()),
            ..Default::default()
        })
        .unwrap();
        s.push(&ev(None, "session abc opened"), 1);
        s.push(&ev(None, "session abc closed"), 2);
        let out = s.flush();
        assert_eq!(out[0].key, "abc");
        assert_eq!(out[0].events, vec![1, 2]);
    }

    #[test]
    fn groups_by_field_with_idle_timeout() {
        let mut s: Sessionizer<&str> = Sessionizer::new(SessionizerParams {
            key: KeySpec::Field("user".into()),
            idle_timeout_ms: Some(1_000),
            ..Default::default()
        })
        .unwrap();
        let alice = [("user", "alice")];
        let bob = [("user", "bob"), ("host", "h1")];
        let e = |t, f| EventIn {
            time_ms: Some(t),
            message: "",
            fields: f,
        };
        assert!(s.push(&e(0, &alice), "a1").is_empty());
        assert!(s.push(&e(500, &bob), "b1").is_empty());
        assert!(s.push(&e(1_000, &alice), "a2").is_empty()); // gap 1000 = timeout: still open
                                                             // t = 1600: bob idle 1100 > 1000 → closes; alice idle 600 stays.
        let closed = s.push(&e(1_600, &alice), "a3");
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].key, "bob");
        assert_eq!(closed[0].events, vec!["b1"]);
        assert_eq!(closed[0].reason, CloseReason::IdleTimeout);
        // A timer tick closes alice without new input; bob's next event opens a new session.
        let closed = s.advance(5_000);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].events, vec!["a1", "a2", "a3"]);
        assert_eq!(
            (closed[0].first_ms, closed[0].last_ms),
            (Some(0), Some(1_600))
        );
        s.push(&e(5_001, &bob), "b2");
        // A record without the field has no key.
        s.push(&e(5_002, &[("host", "h1")]), "x");
        assert_eq!(s.unkeyed_events(), 1);
        let out = s.flush();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].events, vec!["b2"]);
    }

    #[test]
    fn same_key_after_timeout_is_a_new_session() {
        let mut s = regex_sessionizer(Some(10));
        s.push(&ev(Some(0), "blk_7 a"), 1);
        let closed = s.push(&ev(Some(100), "blk_7 b"), 2);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].events, vec![1]);
        assert_eq!(s.flush()[0].events, vec![2]);
    }

    #[test]
    fn memory_is_bounded_by_open_sessions_and_session_size() {
        let mut s: Sessionizer<u32> = Sessionizer::new(SessionizerParams {
            key: KeySpec::Regex(r"k\d+".into()),
            idle_timeout_ms: None,
            max_open_sessions: 3,
            max_events_per_session: 4,
        })
        .unwrap();
        let mut closed = Vec::new();
        for i in 0..100u32 {
            let m = format!("k{}", i % 10);
            closed.extend(s.push(&ev(None, &m), i));
            assert!(s.open_sessions() <= 3);
        }
        assert!(closed.iter().all(|c| c.reason == CloseReason::Evicted));
        // The least recently active session is the one evicted.
        assert_eq!(closed[0].key, "k0");
        let mut big = Sessionizer::<u32>::new(SessionizerParams {
            max_events_per_session: 4,
            ..Default::default()
        })
        .unwrap();
        let mut out = Vec::new();
        for i in 0..10 {
            out.extend(big.push(&ev(None, "blk_1"), i));
        }
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|c| c.events.len() == 4 && c.reason == CloseReason::MaxEvents));
        assert_eq!(big.flush()[0].events, vec![8, 9]);
    }

    #[test]
    fn snapshot_does_not_close() {
        let mut s = regex_sessionizer(None);
        s.push(&ev(None, "blk_1"), 1);
        s.push(&ev(None, "blk_2"), 2);
        let snap = s.snapshot_open();
        assert_eq!(snap.len(), 2);
        assert_eq!(s.open_sessions(), 2);
        s.push(&ev(None, "blk_1"), 3);
        assert_eq!(s.flush()[0].events, vec![1, 3]);
    }

    #[test]
    fn hostile_input_never_panics() {
        assert!(Sessionizer::<u8>::new(SessionizerParams {
            key: KeySpec::Regex("(".into()),
            ..Default::default()
        })
        .is_err());
        assert!(Sessionizer::<u8>::new(SessionizerParams {
            max_open_sessions: 0,
            ..Default::default()
        })
        .is_err());
        let mut s = regex_sessionizer(Some(0));
        let long = format!("blk_{}", "9".repeat(10_000));
        s.push(&ev(Some(i64::MAX), &long), 1);
        s.push(&ev(Some(i64::MIN), "blk_1 日本語 \u{0}"), 2);
        s.push(&ev(None, ""), 3);
        s.advance(i64::MIN);
        s.advance(i64::MAX);
        let mut all = s.flush();
        all.extend(s.flush());
        assert!(all.iter().all(|c| c.key.len() <= MAX_KEY_BYTES));
        let mut f: Sessionizer<u8> = Sessionizer::new(SessionizerParams {
            key: KeySpec::Field("é".into()),
            ..Default::default()
        })
        .unwrap();
        let long_val = "é".repeat(1000);
        let fields = [("é", long_val.as_str())];
        f.push(
            &EventIn {
                time_ms: None,
                message: "",
                fields: &fields,
            },
            1,
        );
        let out = f.flush();
        assert!(out[0].key.len() <= MAX_KEY_BYTES && out[0].key.starts_with('é'));
    }

    #[test]
    fn deterministic_output_order() {
        let run = || {
            let mut s = regex_sessionizer(Some(5));
            let mut out = Vec::new();
            for i in 0..200i64 {
                let m = format!("blk_{} blk_{}", i % 17, (i * 7) % 13);
                out.extend(s.push(&ev(Some(i / 3), &m), i as u32));
            }
            out.extend(s.flush());
            out.into_iter()
                .map(|c| (c.key, c.events))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
