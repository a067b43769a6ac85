//! Per-collection settings of `LOG_SOURCES`: what shape the collection's documents have
//! (`PROFILE`, `FIELDS`), which field names override the global `*_INDEX` keys, how its
//! events are split into per-entity models (`ENTITY_INDEX`, Mimizuku's controls), and how
//! they form sessions (`SESSION_KEY`, `SESSION_TIMEOUT`).
//!
//! A collection holds one kind of document (syslog lines, Wazuh alerts, osquery results), so
//! these keys sit beside its `HOSTNAMES`:
//!
//! ```yaml
//! LOG_SOURCES:
//!   wazuh_alerts:
//!     HOSTNAMES: [web-1, db-1]
//!     HOSTNAME_INDEX: agent.name
//!     DATETIME_INDEX: received_at
//!     PROFILE: wazuh
//!     ENTITY_INDEX: user
//!     IGNORE_USERS: [backup]
//!     ABUSE_FILES: [/etc/shadow]
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::fields::{invalid, Fields};
use super::ConfigError;
use crate::model::entity::{Controls, EntityKey, EntityParams};
use crate::profile::{FieldAliases, ProfileKind, ProfileOptions};
use crate::session::KeySpec;

/// Keys a `LOG_SOURCES.<collection>` mapping may hold besides `HOSTNAMES`.
pub const COLLECTION_KEYS: &[&str] = &[
    "HOSTNAMES",
    "MESSAGE_INDEX",
    "DATETIME_INDEX",
    "HOSTNAME_INDEX",
    "PROFILE",
    "FIELDS",
    "ENTITY_INDEX",
    "MIN_ENTITY_EVENTS",
    "IGNORE_USERS",
    "IGNORE_FILES",
    "ABUSE_FILES",
    "SESSION_KEY",
    "SESSION_TIMEOUT",
];

/// Detection keys a collection may set for itself (a Wazuh collection wants
/// `DETECTION_PRESET: security` beside syslog collections on `ops`); the ones it does not
/// set come from the top level.
pub const DETECTION_KEYS: &[&str] = &[
    "DETECTION_PRESET",
    "CONTAMINATION",
    "SCORE_THRESHOLD",
    "COMBINE",
    "SEVERITY_WEIGHT",
    "DETECTORS",
    "LOF_NEIGHBORS",
    "LOF_METRIC",
    "SEED",
];

/// Default `SESSION_TIMEOUT` (seconds).
pub const DEFAULT_SESSION_TIMEOUT: f64 = 300.0;

/// How one collection's documents are read and modelled.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CollectionSpec {
    /// `MESSAGE_INDEX` for this collection (else the global one).
    pub message_field: Option<String>,
    /// `DATETIME_INDEX` for this collection (else the global one).
    pub datetime_field: Option<String>,
    /// `HOSTNAME_INDEX` for this collection (else the global one).
    pub hostname_field: Option<String>,
    /// `PROFILE`: `None` (or `syslog`) scores the `MESSAGE_INDEX` string as today;
    /// `json`, `wazuh` or `osquery` map the whole document to events first.
    pub profile: Option<ProfileKind>,
    /// `FIELDS` (json profile aliases, `slot: path` or `slot: [paths]`) and, for every
    /// profile, `FIELDS.host` as the host paths.
    pub profile_options: ProfileOptions,
    /// `ENTITY_INDEX`, `MIN_ENTITY_EVENTS`, `IGNORE_USERS`, `IGNORE_FILES`, `ABUSE_FILES`.
    pub entity: EntityParams,
    /// `SESSION_KEY` + `SESSION_TIMEOUT`; `None`: no session scores.
    pub session: Option<SessionSpec>,
    /// The collection's own detection keys ([`DETECTION_KEYS`]) over the top-level ones;
    /// `None`: the top-level model parameters.
    pub model_params: Option<crate::model::ModelParams>,
}

/// Sessions of a collection (`SESSION_KEY`, `SESSION_TIMEOUT`).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSpec {
    /// A regex on the message (`blk_-?\d+`), or `{FIELD: path}`: a document field.
    pub key: KeySpec,
    /// A session closes when its key has had no document for this long.
    pub timeout: Duration,
}

impl CollectionSpec {
    /// Whether documents are mapped by a structured profile (not one message string).
    pub fn is_structured(&self) -> bool {
        self.profile.is_some()
    }

    /// Whether models are split by an entity other than the host.
    pub fn per_entity(&self) -> bool {
        !matches!(self.entity.key, EntityKey::Host)
    }
}

/// Parses the keys of `LOG_SOURCES.<collection>` (`key` is that path, for messages).
/// `global` holds the top-level values of the [`DETECTION_KEYS`].
pub(crate) fn parse(
    key: &str,
    map: &serde_json::Map<String, Value>,
    global: &BTreeMap<String, Value>,
) -> Result<CollectionSpec, ConfigError> {
    for k in map.keys() {
        if !COLLECTION_KEYS.contains(&k.as_str()) && !DETECTION_KEYS.contains(&k.as_str()) {
            return Err(ConfigError::Invalid {
                key: format!("{key}.{k}"),
                expected: format!(
                    "one of {}, {}",
                    COLLECTION_KEYS.join(", "),
                    DETECTION_KEYS.join(", ")
                ),
                got: format!("unknown key {k}"),
            });
        }
    }
    let mut f = Fields::new(map.clone().into_iter().collect::<BTreeMap<_, _>>());
    let at = |e: ConfigError| prefixed(key, e);
    let mut spec = CollectionSpec::default();
    if DETECTION_KEYS.iter().any(|k| map.contains_key(*k)) {
        let mut merged = global.clone();
        for k in DETECTION_KEYS {
            if let Some(v) = map.get(*k) {
                merged.insert(k.to_string(), v.clone());
            }
        }
        let mut d = Fields::new(merged);
        spec.model_params = Some(super::detection::model_params(&mut d).map_err(at)?);
    }
    for (name, slot) in [
        ("MESSAGE_INDEX", &mut spec.message_field),
        ("DATETIME_INDEX", &mut spec.datetime_field),
        ("HOSTNAME_INDEX", &mut spec.hostname_field),
    ] {
        if let Some(v) = f.opt_string(name).map_err(at)? {
            super::check_field_name(&format!("{key}.{name}"), &v)?;
            *slot = Some(v);
        }
    }
    spec.profile = match f.opt_string("PROFILE").map_err(at)? {
        None => None,
        Some(p) if p.eq_ignore_ascii_case("syslog") || p.eq_ignore_ascii_case("text") => None,
        Some(p) => match p.parse::<ProfileKind>() {
            Ok(ProfileKind::Audit) => {
                return Err(invalid(
                    &format!("{key}.PROFILE"),
                    "syslog, json, wazuh or osquery (the audit profile reads raw auditd \
                     lines grouped by serial, which a document collection does not hold; \
                     use `lad detect --profile audit` on the log file)",
                    &Value::String(p),
                ))
            }
            Ok(k) => Some(k),
            Err(why) => return Err(invalid(&format!("{key}.PROFILE"), &why, &Value::String(p))),
        },
    };
    if let Some(v) = f.raw("FIELDS") {
        let Value::Object(slots) = &v else {
            return Err(invalid(
                &format!("{key}.FIELDS"),
                "a mapping slot: path (or [paths]), slots timestamp, host, user, source_ip, \
                 session, event_type, action, message, command, path, extra",
                &v,
            ));
        };
        let mut aliases = FieldAliases::default();
        for (slot, paths) in slots {
            let k = format!("{key}.FIELDS.{slot}");
            let paths = string_list(&k, paths)?;
            if slot == "host" {
                spec.profile_options.host_paths = Some(paths.clone());
            }
            aliases
                .set(slot, paths)
                .map_err(|why| invalid(&k, &why, &Value::String(slot.clone())))?;
        }
        spec.profile_options.aliases = aliases;
    }
    if let Some(v) = f.raw("ENTITY_INDEX") {
        let k = format!("{key}.ENTITY_INDEX");
        let Value::String(s) = &v else {
            return Err(invalid(&k, "host, user, host+user or source_ip", &v));
        };
        spec.entity.key = s
            .parse::<EntityKey>()
            .map_err(|why| invalid(&k, &why, &v))?;
    }
    if spec.per_entity() && spec.profile.is_none() {
        return Err(invalid(
            &format!("{key}.ENTITY_INDEX"),
            "host for a syslog collection (per-user or per-IP models need a PROFILE that \
             finds the user or IP: json, wazuh or osquery)",
            &Value::String(format!("{:?}", spec.entity.key).to_lowercase()),
        ));
    }
    spec.entity.min_events = f
        .positive_int(
            "MIN_ENTITY_EVENTS",
            spec.entity.min_events as u64,
            1_000_000_000,
        )
        .map_err(at)? as usize;
    let mut controls = Controls::default();
    for (name, list) in [
        ("IGNORE_USERS", &mut controls.ignore_users),
        ("IGNORE_FILES", &mut controls.ignore_files),
        ("ABUSE_FILES", &mut controls.abuse_files),
    ] {
        if let Some(v) = f.raw(name) {
            *list = string_list(&format!("{key}.{name}"), &v)?;
        }
    }
    for g in controls.ignore_files.iter().chain(&controls.abuse_files) {
        if g.contains(['*', '?', '[']) && glob::Pattern::new(g).is_err() {
            return Err(invalid(
                &format!("{key}.IGNORE_FILES / ABUSE_FILES"),
                "valid glob patterns",
                &Value::String(g.clone()),
            ));
        }
    }
    spec.entity.controls = controls;
    let timeout = f
        .number("SESSION_TIMEOUT", DEFAULT_SESSION_TIMEOUT, true)
        .map_err(at)?;
    spec.session = match f.raw("SESSION_KEY") {
        None => None,
        Some(Value::String(re)) => {
            if let Err(e) = regex::Regex::new(&re) {
                return Err(invalid(
                    &format!("{key}.SESSION_KEY"),
                    &format!("a regular expression ({e})"),
                    &Value::String(re),
                ));
            }
            Some(KeySpec::Regex(re))
        }
        Some(Value::Object(m)) if m.len() == 1 && m.get("FIELD").is_some_and(Value::is_string) => {
            let path = m["FIELD"].as_str().unwrap_or_default().to_string();
            super::check_field_name(&format!("{key}.SESSION_KEY.FIELD"), &path)?;
            Some(KeySpec::Field(path))
        }
        Some(other) => {
            return Err(invalid(
                &format!("{key}.SESSION_KEY"),
                "a regex on the message (e.g. \"blk_-?\\\\d+\") or {FIELD: dotted.path}",
                &other,
            ))
        }
    }
    .map(|key| SessionSpec {
        key,
        timeout: super::secs(timeout),
    });
    Ok(spec)
}

fn string_list(key: &str, v: &Value) -> Result<Vec<String>, ConfigError> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                other => Err(invalid(key, "non-empty strings", other)),
            })
            .collect(),
        other => Err(invalid(key, "a string or a list of strings", other)),
    }
}

/// Puts the collection's path in front of a key named in an error.
fn prefixed(prefix: &str, e: ConfigError) -> ConfigError {
    match e {
        ConfigError::Invalid { key, expected, got } => ConfigError::Invalid {
            key: format!("{prefix}.{key}"),
            expected,
            got,
        },
        ConfigError::Missing { key } => ConfigError::Missing {
            key: format!("{prefix}.{key}"),
        },
        other => other,
    }
}
