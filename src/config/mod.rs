//! Service-mode configuration: the original LAD YAML keys plus lad's own.
//!
//! The file is parsed loosely (`key → value`) and then validated key by key in
//! [`ServiceConfig::from_yaml_str`], so every error names the key and the expected form,
//! and unknown keys are warned about instead of breaking old files. The MongoDB part
//! becomes a [`MongoSettings`], which the aggregator crate reuses.

pub mod collection;
mod detection;
pub(crate) mod fields;
mod schedule;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::model::ModelParams;
use crate::mongo::{MongoError, MongoSettings, Secret};
pub use collection::{CollectionSpec, SessionSpec};
use fields::{invalid, Fields};
pub use schedule::RetrainSchedule;

/// Why a configuration file was rejected. Every variant names the offending key (or file).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path given on the command line.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not YAML, or not a mapping at the top level.
    #[error("config file is not a YAML mapping of KEY: value lines: {0}")]
    Syntax(String),
    /// A required key is absent.
    #[error("{key}: required key is missing")]
    Missing {
        /// The key.
        key: String,
    },
    /// A key has a value of the wrong type or out of range.
    #[error("{key}: expected {expected}, got {got}")]
    Invalid {
        /// The key.
        key: String,
        /// What would have been accepted.
        expected: String,
        /// The offending value, shortened.
        got: String,
    },
    /// The MongoDB part is unusable (e.g. `MG_CA_CERT` unreadable).
    #[error(transparent)]
    Mongo(#[from] MongoError),
}

/// One `(collection, hostname)` pair from `LOG_SOURCES`: one worker, one model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogSource {
    /// Collection holding the host's documents.
    pub collection: String,
    /// Value of `HOSTNAME_INDEX` selecting the host's documents.
    pub hostname: String,
}

impl LogSource {
    /// `"<collection>/<hostname>"`: the state document id and the name used in logs.
    pub fn key(&self) -> String {
        format!("{}/{}", self.collection, self.hostname)
    }
}

/// Validated service configuration. Field docs give the YAML key.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// `MG_URI` | `MG_HOST` + `MG_PORT`, `MG_USER`, `MG_PASSWORD`, `MG_AUTH_SOURCE`, `MG_TLS`,
    /// `MG_CA_CERT`, `MG_VERIFY_CERT`, `MG_CONNECT_TIMEOUT`, `MG_SERVER_SELECTION_TIMEOUT`.
    pub mongo: MongoSettings,
    /// `MG_DB`.
    pub db: String,
    /// `LOG_SOURCES` (or the legacy `MG_COLLECTION` + `HOSTNAMES`), sorted, deduplicated.
    pub sources: Vec<LogSource>,
    /// The per-collection keys of `LOG_SOURCES.<collection>` (profile, field overrides,
    /// entities, sessions); a collection not listed here uses the defaults.
    pub collections: BTreeMap<String, Arc<CollectionSpec>>,
    /// `MESSAGE_INDEX`.
    pub message_field: String,
    /// `DATETIME_INDEX`.
    pub datetime_field: String,
    /// `HOSTNAME_INDEX`.
    pub hostname_field: String,
    /// `MODEL_BASE_DIR`.
    pub model_base_dir: PathBuf,
    /// `TRAIN_MAX_ENTRIES`.
    pub train_max_entries: u64,
    /// `TRAIN_TIME_SPAN` (seconds in the file).
    pub train_time_span: Duration,
    /// `MIN_TRAIN_ENTRIES`: below this many usable training messages a worker waits.
    pub min_train_entries: u64,
    /// `TRAIN_RETRY_INTERVAL`: how long a worker waits before retrying a training that had
    /// too little data.
    pub train_retry_interval: Duration,
    /// `RETRAIN_SCHEDULE` (6-field cron, UTC).
    pub retrain_schedule: RetrainSchedule,
    /// `POLL_INTERVAL`.
    pub poll_interval: Duration,
    /// `BATCH_SIZE`: documents per read / bulk write.
    pub batch_size: u32,
    /// `LATE_ARRIVAL_GRACE`: documents are scored once their timestamp is at least this old,
    /// so ones that reach the database up to this late are not skipped by the resume point.
    pub late_arrival_grace: Duration,
    /// `STATE_COLLECTION`: resume points, counters and leases, one document per worker, plus
    /// one heartbeat document per running `lad run` process.
    pub state_collection: String,
    /// `SWEEP_INTERVAL`: how often each worker looks for documents behind its resume point
    /// that were never handled (late arrivals, `_id` ties, scoring to retry).
    pub sweep_interval: Duration,
    /// `SCORING_MAX_ATTEMPTS`: a document the engine fails on is retried by the sweep until
    /// it has failed this many times, then marked `lad_skipped: "scoring failed"`.
    pub scoring_max_attempts: u32,
    /// `TRAIN_MAX_BYTES`: training reads at most this many bytes of messages (newest first),
    /// so a training's memory is bounded whatever the messages' size.
    pub train_max_bytes: u64,
    /// `LEASE_TIME`: a worker's lease lasts this long unless renewed; a process that dies
    /// loses its hosts to the other processes after at most about this long.
    pub lease_time: Duration,
    /// `REASON_FOR_ALL`: write `lad_reason` with every score, not only with anomalies.
    pub reason_for_all: bool,
    /// `FEEDBACK_COLLECTION`: users' verdicts (`lad_feedback` on a document, or
    /// `lad feedback --config`), one document per verdict, per (collection, host).
    pub feedback_collection: String,
    /// `FLEET_EVENTS_COLLECTION`: one document per kind of message that is new on many
    /// hosts at once.
    pub fleet_events_collection: String,
    /// `FLEET_MIN_HOSTS`: hosts that must flag the same new kind for a fleet event.
    pub fleet_min_hosts: u32,
    /// `FLEET_WINDOW`: …within this long of its first sighting.
    pub fleet_window: Duration,
    /// `THREAT_RULES`: `shipped` (config/threat_rules.yaml as built in) or a rule file's
    /// path turns on the threat layer (burst detectors and threat rules per host, writing
    /// `lad_threat` and `lad_severity`); absent or `off`: no threat layer.
    pub threat_rules: Option<crate::threat::RuleFile>,
    /// `DETECTION_PRESET`, `CONTAMINATION`, `DETECTORS`, `SEVERITY_WEIGHT`, `SCORE_THRESHOLD`,
    /// `LOF_NEIGHBORS`, `LOF_METRIC`, `SEED`.
    pub model_params: ModelParams,
    /// `METRICS_LISTEN` (env `LAD_LISTEN` overrides): where `/metrics` and `/healthz` are
    /// served; `None` (the default, or `off`) serves nothing.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Default `SWEEP_INTERVAL` (seconds): a document 10 minutes late is scored within about
/// half a minute of its arrival, at the cost of one indexed query per worker per interval.
pub const DEFAULT_SWEEP_INTERVAL: f64 = 30.0;
/// Default `TRAIN_MAX_BYTES`: 256 MiB of messages, about a million typical syslog lines,
/// far more than `TRAIN_MAX_ENTRIES` of them usually take.
pub const DEFAULT_TRAIN_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Default `LEASE_TIME` (seconds).
pub const DEFAULT_LEASE_TIME: f64 = 30.0;

/// Keys of the original LAD that lad reads but has no use for in service mode; they get a
/// softer warning than a misspelt key.
const IGNORED_ORIGINAL_KEYS: &[&str] = &[
    "INFER_TIME_SPAN",
    "INFER_MAX_ENTRIES",
    "INFER_LOOPS",
    "INFER_ANOMALY_THRESHOLD",
    "TRAIN_VECTOR_LENGTH",
    "TRAIN_WINDOW",
    "TRAIN_ITERATIONS",
    "W2V_MIN_COUNT",
    "W2V_ITER",
    "W2V_SEED",
    "W2V_WORKERS",
    "PARALLELISM",
    "MODEL_DIR",
    "MODEL_STORE",
    "LOGSOURCE_HOSTNAME",
    "MG_INPUT_COL",
    "MG_TARGET_COL",
];

/// Reads and validates a config file, then applies the `LAD_MG_*` environment overrides.
pub fn load(path: &Path) -> Result<ServiceConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut cfg = ServiceConfig::from_yaml_str(&text)?;
    cfg.mongo.apply_env_overrides();
    if let Ok(v) = std::env::var("LAD_LISTEN") {
        cfg.metrics_listen = listen_addr("LAD_LISTEN", &v)?;
    }
    cfg.mongo.validate()?;
    Ok(cfg)
}

pub(crate) fn secs(x: f64) -> Duration {
    Duration::from_secs_f64(x.min(1e9))
}

impl ServiceConfig {
    /// Parses and validates YAML text (no environment overrides, no file checks).
    pub fn from_yaml_str(text: &str) -> Result<Self, ConfigError> {
        let mut f = Fields::from_mongo_yaml(text, "service mode")?;
        let mongo = mongo_settings(&mut f)?;
        let db = f.required_string("MG_DB")?;
        check_name("MG_DB", &db, &['/', '\\', '.', ' ', '"', '$'])?;
        let (sources, collections) = log_sources(&mut f)?;

        let message_field = f.string_or("MESSAGE_INDEX", "message")?;
        let datetime_field = f.string_or("DATETIME_INDEX", "received_at")?;
        let hostname_field = f.string_or("HOSTNAME_INDEX", "hostname")?;
        for (key, v) in [
            ("MESSAGE_INDEX", &message_field),
            ("DATETIME_INDEX", &datetime_field),
            ("HOSTNAME_INDEX", &hostname_field),
        ] {
            check_field_name(key, v)?;
        }

        let model_base_dir = PathBuf::from(f.string_or("MODEL_BASE_DIR", "models")?);
        let train_max_entries = f.positive_int("TRAIN_MAX_ENTRIES", 250_000, 100_000_000)?;
        let train_time_span = secs(f.number("TRAIN_TIME_SPAN", 2_592_000.0, true)?);
        let min_train_entries = f.positive_int("MIN_TRAIN_ENTRIES", 10, u64::MAX)?;
        let train_retry_interval = secs(f.number("TRAIN_RETRY_INTERVAL", 300.0, true)?);

        let schedule_text = f.string_or("RETRAIN_SCHEDULE", "0 0 0 * * *")?;
        let retrain_schedule = RetrainSchedule::parse(&schedule_text).map_err(|reason| {
            invalid(
                "RETRAIN_SCHEDULE",
                &format!("a 6-field cron expression \"sec min hour day month weekday\" ({reason})"),
                &Value::String(schedule_text.clone()),
            )
        })?;
        let poll_interval = secs(f.number("POLL_INTERVAL", 10.0, true)?);
        // The `update` command accepts at most 100,000 statements, and the whole command
        // must stay under 16 MiB; 50,000 leaves room for long `_id`s.
        let batch_size = f.positive_int("BATCH_SIZE", 1000, 50_000)? as u32;
        let late_arrival_grace = secs(f.number("LATE_ARRIVAL_GRACE", 5.0, false)?.max(0.0));
        let state_collection = f.string_or("STATE_COLLECTION", "lad_state")?;
        check_name("STATE_COLLECTION", &state_collection, &['$'])?;
        let sweep_interval = secs(f.number("SWEEP_INTERVAL", DEFAULT_SWEEP_INTERVAL, true)?);
        let scoring_max_attempts = f.positive_int("SCORING_MAX_ATTEMPTS", 3, 100)? as u32;
        let train_max_bytes =
            f.positive_int("TRAIN_MAX_BYTES", DEFAULT_TRAIN_MAX_BYTES, u64::MAX)?;
        let lease_time = secs(f.number("LEASE_TIME", DEFAULT_LEASE_TIME, true)?);
        if lease_time < Duration::from_secs(1) {
            return Err(invalid(
                "LEASE_TIME",
                "at least 1 second",
                &Value::from(lease_time.as_secs_f64()),
            ));
        }

        let reason_for_all = f.opt_bool("REASON_FOR_ALL")?.unwrap_or(false);
        let feedback_collection = f.string_or("FEEDBACK_COLLECTION", "lad_feedback")?;
        check_name("FEEDBACK_COLLECTION", &feedback_collection, &['$'])?;
        let fleet_events_collection = f.string_or("FLEET_EVENTS_COLLECTION", "lad_fleet_events")?;
        check_name("FLEET_EVENTS_COLLECTION", &fleet_events_collection, &['$'])?;
        let fleet_min_hosts = f.positive_int("FLEET_MIN_HOSTS", 5, 1_000_000)? as u32;
        let fleet_window = secs(f.number("FLEET_WINDOW", 3600.0, true)?);
        let threat_rules = match f.raw("THREAT_RULES") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::String(s)) if s == "off" => None,
            Some(Value::String(s)) if s == "shipped" => Some(crate::threat::RuleFile::shipped()),
            Some(Value::String(path)) => Some(
                crate::threat::RuleFile::load(std::path::Path::new(&path)).map_err(|e| {
                    ConfigError::Invalid {
                        key: "THREAT_RULES".into(),
                        expected: "off, shipped or a readable rule file".into(),
                        got: format!("{path}: {e}"),
                    }
                })?,
            ),
            Some(other) => {
                return Err(invalid(
                    "THREAT_RULES",
                    "off, shipped or the path of a rule file",
                    &other,
                ))
            }
        };

        let model_params = detection::model_params(&mut f)?;
        // YAML reads a bare `off` (or `false`) as a boolean.
        let metrics_listen = match f.raw("METRICS_LISTEN") {
            None | Some(Value::Bool(false)) => None,
            Some(Value::String(v)) => listen_addr("METRICS_LISTEN", &v)?,
            Some(other) => {
                return Err(invalid(
                    "METRICS_LISTEN",
                    "IP:PORT such as 127.0.0.1:9184 or [::1]:9184, or off",
                    &other,
                ))
            }
        };

        for key in f.unused() {
            if IGNORED_ORIGINAL_KEYS.contains(&key.as_str()) {
                tracing::warn!(key = %key, "config key of the original LAD is ignored by lad");
            } else {
                tracing::warn!(key = %key, "unknown config key ignored (misspelt?)");
            }
        }

        Ok(Self {
            mongo,
            db,
            sources,
            collections,
            message_field,
            datetime_field,
            hostname_field,
            model_base_dir,
            train_max_entries,
            train_time_span,
            min_train_entries,
            train_retry_interval,
            retrain_schedule,
            poll_interval,
            batch_size,
            late_arrival_grace,
            state_collection,
            sweep_interval,
            scoring_max_attempts,
            train_max_bytes,
            lease_time,
            reason_for_all,
            feedback_collection,
            fleet_events_collection,
            fleet_min_hosts,
            fleet_window,
            threat_rules,
            model_params,
            metrics_listen,
        })
    }

    /// Start of the training window at `now`: the oldest timestamp a worker trains on,
    /// follows from on a first start, and sweeps back to.
    pub fn window_start(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        let span =
            chrono::Duration::from_std(self.train_time_span).unwrap_or(chrono::Duration::MAX);
        now.checked_sub_signed(span)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    }

    /// The per-collection settings of `collection` (defaults when it has none).
    pub fn spec(&self, collection: &str) -> &CollectionSpec {
        static DEFAULT: std::sync::OnceLock<CollectionSpec> = std::sync::OnceLock::new();
        self.collections
            .get(collection)
            .map(Arc::as_ref)
            .unwrap_or_else(|| DEFAULT.get_or_init(CollectionSpec::default))
    }

    /// The model parameters of `collection` (its own detection keys over the top-level
    /// ones).
    pub fn model_params_of(&self, collection: &str) -> &ModelParams {
        self.spec(collection)
            .model_params
            .as_ref()
            .unwrap_or(&self.model_params)
    }

    /// `MESSAGE_INDEX` of `collection` (its own, else the global one).
    pub fn message_field_of(&self, collection: &str) -> &str {
        self.spec(collection)
            .message_field
            .as_deref()
            .unwrap_or(&self.message_field)
    }

    /// `DATETIME_INDEX` of `collection`.
    pub fn datetime_field_of(&self, collection: &str) -> &str {
        self.spec(collection)
            .datetime_field
            .as_deref()
            .unwrap_or(&self.datetime_field)
    }

    /// `HOSTNAME_INDEX` of `collection`.
    pub fn hostname_field_of(&self, collection: &str) -> &str {
        self.spec(collection)
            .hostname_field
            .as_deref()
            .unwrap_or(&self.hostname_field)
    }

    /// Directory of one worker's model: `MODEL_BASE_DIR/<collection>/<hostname>/`, each part
    /// made safe as a single path component.
    pub fn model_dir(&self, source: &LogSource) -> PathBuf {
        self.model_base_dir
            .join(path_component(&source.collection))
            .join(path_component(&source.hostname))
    }
}

pub(crate) fn mongo_settings(f: &mut Fields) -> Result<MongoSettings, ConfigError> {
    let mut m = MongoSettings {
        uri: f.opt_string("MG_URI")?,
        ..MongoSettings::default()
    };
    if let Some(uri) = &m.uri {
        if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
            return Err(ConfigError::Invalid {
                key: "MG_URI".into(),
                expected: "a mongodb:// or mongodb+srv:// connection string".into(),
                got: format!("\"{}\"", crate::mongo::redact_uri(uri)),
            });
        }
    }
    if let Some(h) = f.opt_string("MG_HOST")? {
        m.host = h;
    }
    m.port = f.positive_int("MG_PORT", u64::from(m.port), 65_535)? as u16;
    m.user = f.opt_string("MG_USER")?;
    m.password = f.opt_string("MG_PASSWORD")?.map(Secret::new);
    m.auth_source = f.opt_string("MG_AUTH_SOURCE")?;
    m.tls = f.opt_bool("MG_TLS")?;
    m.ca_cert = f.opt_string("MG_CA_CERT")?.map(PathBuf::from);
    m.verify_cert = f.opt_bool("MG_VERIFY_CERT")?.unwrap_or(true);
    m.connect_timeout =
        secs(f.number("MG_CONNECT_TIMEOUT", m.connect_timeout.as_secs_f64(), true)?);
    if f.raw("MG_MAX_POOL_SIZE").is_some() {
        let pool = f.positive_int("MG_MAX_POOL_SIZE", 10, 10_000)?;
        if pool < 2 {
            return Err(invalid(
                "MG_MAX_POOL_SIZE",
                "at least 2 (change streams hold a connection each while they wait)",
                &Value::from(pool),
            ));
        }
        m.max_pool_size = Some(pool as u32);
    }
    m.server_selection_timeout = secs(f.number(
        "MG_SERVER_SELECTION_TIMEOUT",
        m.server_selection_timeout.as_secs_f64(),
        true,
    )?);
    Ok(m)
}

/// `IP:PORT` (`[v6]:PORT` for IPv6); empty or `off` means no endpoint.
fn listen_addr(key: &str, v: &str) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    let v = v.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| {
        invalid(
            key,
            "IP:PORT such as 127.0.0.1:9184 or [::1]:9184, or off",
            &Value::String(v.to_string()),
        )
    })
}

pub(crate) fn check_name(key: &str, v: &str, forbidden: &[char]) -> Result<(), ConfigError> {
    if v.contains('\0') || v.contains(forbidden) {
        let list: String = forbidden.iter().collect();
        return Err(invalid(
            key,
            &format!("a name without any of {list:?}"),
            &Value::String(v.to_string()),
        ));
    }
    Ok(())
}

fn hostname_list(key: &str, v: &Value) -> Result<Vec<String>, ConfigError> {
    let expected = "a non-empty list of hostnames";
    let Value::Array(items) = v else {
        return Err(invalid(key, expected, v));
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(s) if !s.is_empty() => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            other => return Err(invalid(key, "hostnames as strings", other)),
        }
    }
    if out.is_empty() {
        return Err(invalid(key, expected, v));
    }
    Ok(out)
}

/// A document field name usable as an `*_INDEX` key: dotted paths allowed, not `_id`, no
/// leading `$`.
pub(crate) fn check_field_name(key: &str, v: &str) -> Result<(), ConfigError> {
    if v.starts_with('$') || v == "_id" || v.is_empty() {
        return Err(invalid(
            key,
            "a document field name (not _id, not starting with $)",
            &Value::String(v.to_string()),
        ));
    }
    Ok(())
}

type Sources = (Vec<LogSource>, BTreeMap<String, Arc<CollectionSpec>>);

fn log_sources(f: &mut Fields) -> Result<Sources, ConfigError> {
    let legacy_coll = f.opt_string("MG_COLLECTION")?;
    let legacy_hosts = f.raw("HOSTNAMES");
    let mut out = Vec::new();
    let mut specs = BTreeMap::new();
    let detection_globals: BTreeMap<String, Value> = collection::DETECTION_KEYS
        .iter()
        .filter_map(|k| Some((k.to_string(), f.peek(k)?)))
        .collect();
    match f.raw("LOG_SOURCES") {
        Some(Value::Object(map)) if !map.is_empty() => {
            for (coll, spec) in map {
                let key = format!("LOG_SOURCES.{coll}");
                check_name(&key, &coll, &['$'])?;
                if coll.is_empty() {
                    return Err(invalid(&key, "a collection name", &Value::String(coll)));
                }
                let hosts = match &spec {
                    Value::Object(m) => {
                        let parsed = collection::parse(&key, m, &detection_globals)?;
                        if parsed != CollectionSpec::default() {
                            specs.insert(coll.clone(), Arc::new(parsed));
                        }
                        m.get("HOSTNAMES").cloned().unwrap_or(Value::Null)
                    }
                    _ => return Err(invalid(&key, "a mapping with HOSTNAMES: [...]", &spec)),
                };
                for hostname in hostname_list(&format!("{key}.HOSTNAMES"), &hosts)? {
                    out.push(LogSource {
                        collection: coll.clone(),
                        hostname,
                    });
                }
            }
        }
        Some(other) => {
            return Err(invalid(
                "LOG_SOURCES",
                "a mapping {collection: {HOSTNAMES: [host, ...]}}",
                &other,
            ))
        }
        None => match (legacy_coll, legacy_hosts) {
            (Some(collection), Some(h)) => {
                for hostname in hostname_list("HOSTNAMES", &h)? {
                    out.push(LogSource {
                        collection: collection.clone(),
                        hostname,
                    });
                }
            }
            _ => {
                return Err(ConfigError::Missing {
                    key: "LOG_SOURCES".into(),
                })
            }
        },
    }
    let before = out.len();
    out.sort();
    out.dedup();
    if out.len() != before {
        tracing::warn!(
            "LOG_SOURCES lists some (collection, hostname) pairs twice; using each once"
        );
    }
    Ok((out, specs))
}

/// Encodes a collection or host name as one safe path component: ASCII letters, digits,
/// `-`, `_` and `.` stay, everything else becomes `%XX`, and `.`/`..` are escaped, so two
/// different names never share a directory and no name escapes `MODEL_BASE_DIR`.
pub fn path_component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() || out.chars().all(|c| c == '.') {
        out = out.replace('.', "%2E");
        if out.is_empty() {
            out.push_str("%00");
        }
    }
    out
}

#[cfg(test)]
mod tests;
