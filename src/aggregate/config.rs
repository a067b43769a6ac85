//! The aggregator's YAML configuration: the original `aggregator.yaml` keys plus lad's own.
//!
//! Parsed with the same key-by-key validation as service mode ([`crate::config`]): every
//! error names the key and the expected form, unknown keys are warned about, and the
//! MongoDB keys (`MG_HOST`, `MG_PORT`, `MG_URI`, `MG_USER`, `MG_PASSWORD`, `MG_CA_CERT`,
//! `MG_VERIFY_CERT`, …) become the shared [`MongoSettings`].

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::cluster::{DbscanParams, DEFAULT_EPS, DEFAULT_MIN_SAMPLES};
use super::vectors::{VectorMode, VectorParams};
use crate::config::fields::{invalid, Fields};
use crate::config::{check_name, mongo_settings, secs, ConfigError, RetrainSchedule};
use crate::mongo::MongoSettings;

/// Default `AGGR_SCHEDULE`: every day at 15:00 UTC (the original ran from cron at 3 p.m.).
pub const DEFAULT_SCHEDULE: &str = "0 0 15 * * *";
/// Default `AGGR_TIME_SPAN` in seconds (24 h).
pub const DEFAULT_TIME_SPAN_SECS: f64 = 86_400.0;
/// Default `AGGR_MAX_ENTRIES` (the original's).
pub const DEFAULT_MAX_ENTRIES: u64 = 315_448;
/// Largest `AGGR_MAX_ENTRIES`: a pending aggregate stores its source `_id`s in one document,
/// which must stay below MongoDB's 16 MiB limit.
pub const MAX_MAX_ENTRIES: u64 = 500_000;

/// One input collection and the collection its aggregates go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionPair {
    /// Collection in `MG_INPUT_DB` holding the scored documents.
    pub input: String,
    /// Collection in `MG_TARGET_DB` receiving the aggregates.
    pub target: String,
}

/// Validated aggregator configuration. Field docs give the YAML key.
#[derive(Debug, Clone)]
pub struct AggregatorConfig {
    /// `MG_URI` | `MG_HOST` + `MG_PORT`, `MG_USER`, `MG_PASSWORD`, `MG_AUTH_SOURCE`, `MG_TLS`,
    /// `MG_CA_CERT`, `MG_VERIFY_CERT`, `MG_CONNECT_TIMEOUT`, `MG_SERVER_SELECTION_TIMEOUT`.
    pub mongo: MongoSettings,
    /// `MG_INPUT_DB`.
    pub input_db: String,
    /// `MG_TARGET_DB` (default: `MG_INPUT_DB`).
    pub target_db: String,
    /// `MG_INPUT_COLS` paired by position with `MG_TARGET_COLS`.
    pub collections: Vec<CollectionPair>,
    /// `MESSAGE_INDEX`.
    pub message_field: String,
    /// `DATETIME_INDEX`.
    pub datetime_field: String,
    /// `HOSTNAME_INDEX`.
    pub hostname_field: String,
    /// `AGGR_TIME_SPAN` (seconds in the file): how far back anomalies are read.
    pub time_span: Duration,
    /// `AGGR_MAX_ENTRIES`: anomalies read per collection and run (oldest first).
    pub max_entries: u64,
    /// `AGGR_VECTORS`, `AGGR_VECTOR_LENGTH`, `AGGR_WINDOW`, `SEED`.
    pub vectors: VectorParams,
    /// `AGGR_EPS`, `AGGR_MIN_SAMPLES`.
    pub dbscan: DbscanParams,
    /// `AGGR_SCHEDULE` (6-field cron, UTC).
    pub schedule: RetrainSchedule,
}

/// Keys of the original aggregator (or of a service-mode file) that have no use here.
const IGNORED_KEYS: &[&str] = &["MG_DB", "LOG_SOURCES", "MODEL_BASE_DIR", "PARALLELISM"];

/// Reads and validates a config file, then applies the `LAD_MG_*` environment overrides.
pub fn load(path: &Path) -> Result<AggregatorConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut cfg = AggregatorConfig::from_yaml_str(&text)?;
    cfg.mongo.apply_env_overrides();
    cfg.mongo.validate()?;
    Ok(cfg)
}

fn collection_list(f: &mut Fields, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(v) = f.raw(key) else {
        return Ok(None);
    };
    let items = match &v {
        Value::Array(items) if !items.is_empty() => items.clone(),
        // A single name is accepted as a one-element list.
        Value::String(s) if !s.trim().is_empty() => vec![v.clone()],
        _ => return Err(invalid(key, "a non-empty list of collection names", &v)),
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(s) if !s.trim().is_empty() => {
                check_name(key, &s, &['$'])?;
                out.push(s);
            }
            // Unquoted `2021` is a number in YAML; it is still meant as a name.
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(_) => {
                return Err(invalid(
                    key,
                    "collection names as strings (quote names such as yes, no, on, off, y, n)",
                    &item,
                ))
            }
            other => return Err(invalid(key, "collection names as strings", &other)),
        }
    }
    Ok(Some(out))
}

fn field_name(f: &mut Fields, key: &str, default: &str) -> Result<String, ConfigError> {
    let v = f.string_or(key, default)?;
    if v.starts_with('$') || v == "_id" {
        return Err(invalid(
            key,
            "a document field name (not _id, not starting with $)",
            &Value::String(v),
        ));
    }
    Ok(v)
}

impl AggregatorConfig {
    /// Parses and validates YAML text (no environment overrides, no file checks).
    pub fn from_yaml_str(text: &str) -> Result<Self, ConfigError> {
        let mut f = Fields::from_mongo_yaml(text, "the aggregator")?;
        let mongo = mongo_settings(&mut f)?;
        let input_db = f.required_string("MG_INPUT_DB")?;
        check_name("MG_INPUT_DB", &input_db, &['/', '\\', '.', ' ', '"', '$'])?;
        let target_db = f.string_or("MG_TARGET_DB", &input_db)?;
        check_name("MG_TARGET_DB", &target_db, &['/', '\\', '.', ' ', '"', '$'])?;

        // MG_INPUT_COLS / MG_TARGET_COLS, or the older single MG_INPUT_COL / MG_TARGET_COL.
        let inputs = match collection_list(&mut f, "MG_INPUT_COLS")? {
            Some(v) => v,
            None => {
                collection_list(&mut f, "MG_INPUT_COL")?.ok_or_else(|| ConfigError::Missing {
                    key: "MG_INPUT_COLS".into(),
                })?
            }
        };
        let targets = match collection_list(&mut f, "MG_TARGET_COLS")? {
            Some(v) => v,
            None => {
                collection_list(&mut f, "MG_TARGET_COL")?.ok_or_else(|| ConfigError::Missing {
                    key: "MG_TARGET_COLS".into(),
                })?
            }
        };
        if inputs.len() != targets.len() {
            return Err(ConfigError::Invalid {
                key: "MG_TARGET_COLS".into(),
                expected: format!(
                    "one target collection per MG_INPUT_COLS entry, paired by order ({} input \
                     collections)",
                    inputs.len()
                ),
                got: format!("{} target collections", targets.len()),
            });
        }
        for (i, a) in inputs.iter().enumerate() {
            if inputs[..i].contains(a) {
                return Err(invalid(
                    "MG_INPUT_COLS",
                    "each collection once",
                    &Value::String(a.clone()),
                ));
            }
        }
        if input_db == target_db {
            if let Some(t) = targets.iter().find(|t| inputs.contains(t)) {
                return Err(invalid(
                    "MG_TARGET_COLS",
                    "collections other than the MG_INPUT_COLS (same database)",
                    &Value::String(t.clone()),
                ));
            }
        }
        let collections = inputs
            .into_iter()
            .zip(targets)
            .map(|(input, target)| CollectionPair { input, target })
            .collect();

        let message_field = field_name(&mut f, "MESSAGE_INDEX", "message")?;
        let datetime_field = field_name(&mut f, "DATETIME_INDEX", "received_at")?;
        let hostname_field = field_name(&mut f, "HOSTNAME_INDEX", "hostname")?;

        let time_span = secs(f.number("AGGR_TIME_SPAN", DEFAULT_TIME_SPAN_SECS, true)?);
        let max_entries =
            f.positive_int("AGGR_MAX_ENTRIES", DEFAULT_MAX_ENTRIES, MAX_MAX_ENTRIES)?;

        let mode = match f.raw("AGGR_VECTORS") {
            None => VectorMode::default(),
            Some(v) => match &v {
                Value::String(s) => s.parse::<VectorMode>().ok(),
                _ => None,
            }
            .ok_or_else(|| invalid("AGGR_VECTORS", "\"hashed\" or \"word2vec\"", &v))?,
        };
        let vectors = VectorParams {
            mode,
            dim: f.positive_int("AGGR_VECTOR_LENGTH", mode.default_dim() as u64, 1_000)? as usize,
            window: f.positive_int("AGGR_WINDOW", 5, 100)? as usize,
            seed: f.unsigned("SEED", 0)?,
        };
        let eps = f.number("AGGR_EPS", DEFAULT_EPS, true)?;
        if eps > 2.0 {
            return Err(invalid(
                "AGGR_EPS",
                "a distance between unit vectors, greater than 0 and at most 2",
                &Value::from(eps),
            ));
        }
        if eps < 0.05 {
            tracing::warn!(
                eps,
                "AGGR_EPS is very small: lad's message vectors are unit length, so only messages \
                 with identical tokens will cluster (the original's 0.01 was for gensim vectors; \
                 lad's default is {DEFAULT_EPS})"
            );
        }
        let min_samples = match f.raw("AGGR_MIN_SAMPLES") {
            None => DEFAULT_MIN_SAMPLES,
            Some(v) => match &v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            }
            .filter(|&n| (2..=100_000).contains(&n))
            .ok_or_else(|| invalid("AGGR_MIN_SAMPLES", "an integer from 2 to 100000", &v))?
                as usize,
        };
        let schedule_text = f.string_or("AGGR_SCHEDULE", DEFAULT_SCHEDULE)?;
        let schedule = RetrainSchedule::parse(&schedule_text).map_err(|reason| {
            invalid(
                "AGGR_SCHEDULE",
                &format!("a 6-field cron expression \"sec min hour day month weekday\" ({reason})"),
                &Value::String(schedule_text.clone()),
            )
        })?;

        for key in f.unused() {
            if IGNORED_KEYS.contains(&key.as_str()) {
                tracing::warn!(key = %key, "config key is not used by the aggregator; ignored");
            } else {
                tracing::warn!(key = %key, "unknown config key ignored (misspelt?)");
            }
        }

        Ok(Self {
            mongo,
            input_db,
            target_db,
            collections,
            message_field,
            datetime_field,
            hostname_field,
            time_span,
            max_entries,
            vectors,
            dbscan: DbscanParams { eps, min_samples },
            schedule,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "MG_INPUT_DB: logs\nMG_INPUT_COLS: [a, b]\nMG_TARGET_COLS: [a_agg, b_agg]\n";

    fn err(yaml: &str) -> String {
        match AggregatorConfig::from_yaml_str(yaml) {
            Ok(_) => panic!("accepted: {yaml}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults() {
        let c = AggregatorConfig::from_yaml_str(MINIMAL).expect("valid");
        assert_eq!(c.input_db, "logs");
        assert_eq!(c.target_db, "logs");
        assert_eq!(
            c.collections,
            [
                CollectionPair {
                    input: "a".into(),
                    target: "a_agg".into()
                },
                CollectionPair {
                    input: "b".into(),
                    target: "b_agg".into()
                }
            ]
        );
        assert_eq!(c.message_field, "message");
        assert_eq!(c.datetime_field, "received_at");
        assert_eq!(c.hostname_field, "hostname");
        assert_eq!(c.time_span, Duration::from_secs(86_400));
        assert_eq!(c.max_entries, DEFAULT_MAX_ENTRIES);
        assert_eq!(c.vectors, VectorParams::default());
        assert_eq!(c.dbscan, DbscanParams::default());
        assert_eq!(c.schedule.as_str(), "0 0 15 * * *");
        assert_eq!(c.mongo.port, 27017);
        assert_eq!(c.mongo.host, "localhost");
    }

    #[test]
    fn original_readme_example_parses() {
        let yaml = "STORAGE_DATASOURCE: mg\nSTORAGE_DATASINK: mg\nMG_HOST: 172.17.18.83\nMG_PORT: 27017\n\
                    MG_INPUT_DB: logstoredb\nMG_INPUT_COLS: \n  - web_logs\n  - utm_logs\n  - network_logs\n\
                    MG_TARGET_COLS: \n  - web_aggregated\n  - utm_aggregated\n  - network_aggregated\n\
                    MG_TARGET_DB: logstoredb\nMESSAGE_INDEX: message\nDATETIME_INDEX: received_at\n\
                    HOSTNAME_INDEX: hostname\nAGGR_TIME_SPAN: 86400\nAGGR_EPS: 0.01\nAGGR_MIN_SAMPLES: 2\n\
                    AGGR_VECTOR_LENGTH: 25\nAGGR_WINDOW: 5\n";
        let c = AggregatorConfig::from_yaml_str(yaml).expect("valid");
        assert_eq!(c.mongo.host, "172.17.18.83");
        assert_eq!(c.collections.len(), 3);
        assert_eq!(c.collections[2].input, "network_logs");
        assert_eq!(c.collections[2].target, "network_aggregated");
        assert_eq!(
            c.dbscan,
            DbscanParams {
                eps: 0.01,
                min_samples: 2
            }
        );
        assert_eq!(c.vectors.dim, 25);
    }

    #[test]
    fn shipped_config_parses() {
        let text = include_str!("../../config/aggregator.yaml");
        let c = AggregatorConfig::from_yaml_str(text).expect("config/aggregator.yaml is valid");
        assert_eq!(c.mongo.host, "localhost");
        assert_eq!(c.mongo.port, 27017);
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(
            err("MG_INPUT_COLS: [a]\nMG_TARGET_COLS: [b]\n"),
            "MG_INPUT_DB: required key is missing"
        );
        assert_eq!(
            err("MG_INPUT_DB: x\nMG_TARGET_COLS: [b]\n"),
            "MG_INPUT_COLS: required key is missing"
        );
        let e = err("MG_INPUT_DB: x\nMG_INPUT_COLS: [a, b, c]\nMG_TARGET_COLS: [x, w]\n");
        assert!(
            e.starts_with("MG_TARGET_COLS: expected one target collection per MG_INPUT_COLS entry"),
            "{e}"
        );
        assert!(e.contains("3 input") && e.contains("got 2 target"), "{e}");
        let e = err(&format!("{MINIMAL}AGGR_EPS: -1\n"));
        assert!(e.starts_with("AGGR_EPS: expected a positive number"), "{e}");
        let e = err(&format!("{MINIMAL}AGGR_EPS: 3\n"));
        assert!(e.starts_with("AGGR_EPS: expected a distance"), "{e}");
        let e = err(&format!("{MINIMAL}AGGR_MIN_SAMPLES: 1\n"));
        assert!(
            e.starts_with("AGGR_MIN_SAMPLES: expected an integer from 2"),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}AGGR_SCHEDULE: \"0 15 * * *\"\n"));
        assert!(
            e.starts_with("AGGR_SCHEDULE: expected a 6-field cron"),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}AGGR_TIME_SPAN: soon\n"));
        assert!(
            e.starts_with("AGGR_TIME_SPAN: expected a positive number"),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}AGGR_VECTORS: bert\n"));
        assert!(
            e.starts_with("AGGR_VECTORS: expected \"hashed\" or \"word2vec\""),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}AGGR_VECTOR_LENGTH: 0\n"));
        assert!(
            e.starts_with("AGGR_VECTOR_LENGTH: expected a positive integer"),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}STORAGE_DATASINK: es\n"));
        assert!(e.starts_with("STORAGE_DATASINK: expected \"mg\""), "{e}");
        let e = err(&format!("{MINIMAL}MG_PORT: 70000\n"));
        assert!(e.starts_with("MG_PORT: expected"), "{e}");
        let e = err("MG_INPUT_DB: x\nMG_INPUT_COLS: [a, a]\nMG_TARGET_COLS: [x, w]\n");
        assert!(
            e.starts_with("MG_INPUT_COLS: expected each collection once"),
            "{e}"
        );
        let e = err("MG_INPUT_DB: x\nMG_INPUT_COLS: [a]\nMG_TARGET_COLS: [a]\n");
        assert!(
            e.starts_with("MG_TARGET_COLS: expected collections other than"),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}MESSAGE_INDEX: $msg\n"));
        assert!(
            e.starts_with("MESSAGE_INDEX: expected a document field name"),
            "{e}"
        );
        let e = err("MG_INPUT_DB: x\nMG_INPUT_COLS: [a]\nMG_TARGET_COLS: [y]\n");
        assert!(e.contains("quote names such as yes"), "{e}");
        let e = err("MG_INPUT_DB: x\nMG_INPUT_COLS: {a: 1}\nMG_TARGET_COLS: [b]\n");
        assert!(
            e.starts_with("MG_INPUT_COLS: expected a non-empty list"),
            "{e}"
        );
    }

    #[test]
    fn legacy_single_collection_and_modes() {
        let c = AggregatorConfig::from_yaml_str(
            "MG_INPUT_DB: x\nMG_INPUT_COL: a\nMG_TARGET_COL: b\nMG_TARGET_DB: yy\nAGGR_VECTORS: word2vec\n\
             MG_PASSWORD: hunter2\nSEED: 7\nAGGR_MIN_SAMPLES: \"3\"\n",
        )
        .expect("valid");
        assert_eq!(
            c.collections,
            [CollectionPair {
                input: "a".into(),
                target: "b".into()
            }]
        );
        assert_eq!(c.target_db, "yy");
        assert_eq!(c.vectors.mode, VectorMode::Word2Vec);
        assert_eq!(c.vectors.dim, 25);
        assert_eq!(c.vectors.seed, 7);
        assert_eq!(c.dbscan.min_samples, 3);
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
