//! Entities: who or what a window of events belongs to.
//!
//! A [`Slot`] names one part of an [`Event`] (its host, user, source IP, event type, or any
//! typed field); a list of slots is an entity *kind* (`[host, event_type]`), and their values
//! in one event are the entity (`intranet_server / W-Acc-400`). A [`View`] is an event plus
//! the values the rule file's extractors found in its text (an sshd line names its user and
//! source address only in the message), so every detector reads slots the same way.
//!
//! Entity keys are 64-bit hashes (foldhash with a fixed seed: deterministic across runs and
//! machines). Two different entities collide with probability about n²/2⁶⁵ — for a million
//! entities, one in 36 million — and a collision only merges two entities' counts.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hasher};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::profile::event::names;
use crate::profile::Event;

/// One part of an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    Host,
    User,
    SourceIp,
    Session,
    /// The `event_type` field.
    EventType,
    /// The `outcome` field (`success` / `failure`).
    Outcome,
    /// The text.
    Message,
    /// Any other typed field, by name (`command`, `path`, `exe`, `bytes`, …).
    Field(String),
}

impl Slot {
    pub fn name(&self) -> &str {
        match self {
            Self::Host => "host",
            Self::User => "user",
            Self::SourceIp => "source_ip",
            Self::Session => "session",
            Self::EventType => names::EVENT_TYPE,
            Self::Outcome => names::OUTCOME,
            Self::Message => "message",
            Self::Field(f) => f,
        }
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        let n = name.trim();
        if n.is_empty() {
            return Err("empty slot name".into());
        }
        Ok(match n {
            "host" | "hostname" => Self::Host,
            "user" => Self::User,
            "source_ip" | "src_ip" | "ip" => Self::SourceIp,
            "session" => Self::Session,
            "event_type" => Self::EventType,
            "outcome" => Self::Outcome,
            "message" => Self::Message,
            other => Self::Field(other.to_string()),
        })
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Slot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Slot::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An entity as shown to a person: its kind (`host+event_type`) and value
/// (`intranet_server / W-Acc-400`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    pub kind: String,
    pub value: String,
}

impl std::fmt::Display for EntityRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.value)
    }
}

/// An event plus what the extractors found in its text.
#[derive(Debug)]
pub struct View<'e> {
    pub event: &'e Event,
    /// `(slot name, value)` found by the rule file's extractors; used only where the event
    /// itself has no value for the slot.
    pub extracted: Vec<(String, String)>,
}

impl<'e> View<'e> {
    pub fn plain(event: &'e Event) -> Self {
        Self {
            event,
            extracted: Vec::new(),
        }
    }

    fn extracted(&self, name: &str) -> Option<&str> {
        self.extracted
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The value of a slot: the event's own first, else an extracted one. Empty values count
    /// as missing.
    pub fn get<'a>(&'a self, slot: &Slot) -> Option<Cow<'a, str>> {
        let e = self.event;
        let own: Option<Cow<'_, str>> = match slot {
            Slot::Host => e.host.as_deref().map(Cow::Borrowed),
            Slot::User => e.user.as_deref().map(Cow::Borrowed),
            Slot::SourceIp => e.source_ip.as_deref().map(Cow::Borrowed),
            Slot::Session => e.session.as_deref().map(Cow::Borrowed),
            Slot::Message => Some(Cow::Borrowed(e.message.as_str())),
            Slot::EventType | Slot::Outcome | Slot::Field(_) => {
                e.field(slot.name()).map(|v| v.as_text())
            }
        };
        match own {
            Some(v) if !v.is_empty() => Some(v),
            _ => self.extracted(slot.name()).map(Cow::Borrowed),
        }
    }

    /// Every value of a slot (a field may repeat: one `path` per auditd PATH record), the
    /// event's own and the extracted ones.
    pub fn all<'a>(&'a self, slot: &'a Slot) -> Vec<Cow<'a, str>> {
        let mut out: Vec<Cow<'_, str>> = match slot {
            Slot::EventType | Slot::Outcome | Slot::Field(_) => self
                .event
                .fields_named(slot.name())
                .map(|v| v.as_text())
                .filter(|v| !v.is_empty())
                .collect(),
            _ => self.get(slot).into_iter().collect(),
        };
        if matches!(slot, Slot::EventType | Slot::Outcome | Slot::Field(_)) {
            out.extend(
                self.extracted
                    .iter()
                    .filter(|(k, v)| k == slot.name() && !v.is_empty())
                    .map(|(_, v)| Cow::Borrowed(v.as_str())),
            );
        }
        out
    }

    /// The entity of `slots` in this event, if every slot has a value.
    pub fn entity(&self, slots: &[Slot]) -> Option<EntityRef> {
        let mut value = String::new();
        for (i, s) in slots.iter().enumerate() {
            if i > 0 {
                value.push_str(" / ");
            }
            value.push_str(&self.get(s)?);
        }
        Some(EntityRef {
            kind: kind_name(slots),
            value,
        })
    }
}

/// `host+event_type`.
pub fn kind_name(slots: &[Slot]) -> String {
    slots.iter().map(Slot::name).collect::<Vec<_>>().join("+")
}

/// The fixed-seed hasher every key uses.
pub fn hasher() -> impl Hasher {
    foldhash::fast::FixedState::with_seed(0x6c61_645f_7468_7274).build_hasher()
}

/// Hash of `salt` (which detector, which rule) and the values of `slots`; `None` when a
/// slot has no value.
pub fn key(salt: u64, slots: &[Slot], view: &View<'_>) -> Option<u64> {
    let mut h = hasher();
    h.write_u64(salt);
    for s in slots {
        let v = view.get(s)?;
        h.write(v.as_bytes());
        h.write_u8(0xff);
    }
    Some(h.finish())
}

/// Hash of a string (distinct-value sets).
pub fn hash_str(s: &str) -> u64 {
    let mut h = hasher();
    h.write(s.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::FieldValue;

    fn event() -> Event {
        let mut e = Event::new(0, 1);
        e.host = Some("web-1".into());
        e.user = Some(String::new());
        e.fields.push(crate::profile::Field {
            name: "event_type".into(),
            value: FieldValue::Category("login".into()),
        });
        e
    }

    #[test]
    fn slots_read_own_values_then_extracted_ones() {
        let e = event();
        let mut v = View::plain(&e);
        assert_eq!(v.get(&Slot::Host).as_deref(), Some("web-1"));
        assert_eq!(v.get(&Slot::User), None, "empty counts as missing");
        assert_eq!(v.get(&Slot::EventType).as_deref(), Some("login"));
        assert!(v.entity(&[Slot::Host, Slot::User]).is_none());
        v.extracted.push(("user".into(), "root".into()));
        let ent = v.entity(&[Slot::Host, Slot::User]).unwrap();
        assert_eq!(
            (ent.kind.as_str(), ent.value.as_str()),
            ("host+user", "web-1 / root")
        );
        assert_eq!(Slot::parse("src_ip"), Ok(Slot::SourceIp));
        assert_eq!(Slot::parse("bytes"), Ok(Slot::Field("bytes".into())));
    }

    #[test]
    fn keys_are_deterministic_and_depend_on_salt_and_values() {
        let e = event();
        let v = View::plain(&e);
        let a = key(1, &[Slot::Host], &v).unwrap();
        assert_eq!(a, key(1, &[Slot::Host], &v).unwrap());
        assert_ne!(a, key(2, &[Slot::Host], &v).unwrap());
        assert_ne!(a, key(1, &[Slot::EventType], &v).unwrap());
        assert_eq!(key(1, &[Slot::User], &v), None);
        // Slot boundaries matter: ("ab","c") is not ("a","bc").
        let mut e1 = Event::new(0, 1);
        e1.host = Some("ab".into());
        e1.user = Some("c".into());
        let mut e2 = Event::new(0, 1);
        e2.host = Some("a".into());
        e2.user = Some("bc".into());
        let s = [Slot::Host, Slot::User];
        assert_ne!(key(0, &s, &View::plain(&e1)), key(0, &s, &View::plain(&e2)));
    }
}
