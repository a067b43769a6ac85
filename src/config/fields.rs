//! Key-by-key validation of a loosely parsed YAML mapping.
//!
//! The file is first read into `key → serde_json::Value` so that a wrong type or value
//! produces `KEY: expected …, got …` instead of serde's positional messages, and so that
//! unknown keys can be warned about rather than rejected (old config files carry keys we
//! no longer use).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::ConfigError;

/// The mapping plus the set of keys read so far.
pub(crate) struct Fields {
    map: BTreeMap<String, Value>,
    used: BTreeSet<String>,
}

/// Shortens a value for an error message (a config value can be a huge pasted blob).
pub(crate) fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

pub(crate) fn invalid(key: &str, expected: &str, got: &Value) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        expected: expected.to_string(),
        got: show(got),
    }
}

impl Fields {
    /// Parses YAML text into top-level keys (empty text = no keys) and checks the original's
    /// `STORAGE_DATASOURCE` / `STORAGE_DATASINK`, which must be `mg` (`who` says why).
    pub(crate) fn from_mongo_yaml(text: &str, who: &str) -> Result<Self, ConfigError> {
        let map: BTreeMap<String, Value> = if text.trim().is_empty() {
            BTreeMap::new()
        } else {
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?
        };
        let mut f = Self::new(map);
        for key in ["STORAGE_DATASOURCE", "STORAGE_DATASINK"] {
            let v = f.string_or(key, "mg")?;
            if v != "mg" {
                let expected = format!("\"mg\" ({who} reads and writes MongoDB)");
                return Err(invalid(key, &expected, &Value::String(v)));
            }
        }
        Ok(f)
    }

    pub(crate) fn new(map: BTreeMap<String, Value>) -> Self {
        Self {
            map,
            used: BTreeSet::new(),
        }
    }

    /// The raw value; YAML `null` (an empty `KEY:` line) counts as absent.
    pub(crate) fn raw(&mut self, key: &str) -> Option<Value> {
        self.used.insert(key.to_string());
        self.map.get(key).filter(|v| !v.is_null()).cloned()
    }

    /// The raw value without marking the key as read (null counts as absent).
    pub(crate) fn peek(&self, key: &str) -> Option<Value> {
        self.map.get(key).filter(|v| !v.is_null()).cloned()
    }

    /// Keys present in the file that nobody asked for.
    pub(crate) fn unused(&self) -> Vec<String> {
        self.map
            .keys()
            .filter(|k| !self.used.contains(*k))
            .cloned()
            .collect()
    }

    pub(crate) fn opt_string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(invalid(key, "a non-empty string", &Value::String(s)))
            }
            Some(Value::String(s)) => Ok(Some(s)),
            // Unquoted YAML scalars such as `MG_HOST: 10` or `MG_PASSWORD: 1234` arrive as
            // numbers; they are still meant as text.
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(invalid(key, "a string", &other)),
        }
    }

    pub(crate) fn string_or(&mut self, key: &str, default: &str) -> Result<String, ConfigError> {
        Ok(self.opt_string(key)?.unwrap_or_else(|| default.to_string()))
    }

    pub(crate) fn required_string(&mut self, key: &str) -> Result<String, ConfigError> {
        self.opt_string(key)?.ok_or_else(|| ConfigError::Missing {
            key: key.to_string(),
        })
    }

    /// A positive integer no larger than `max`; numeric strings are accepted too.
    pub(crate) fn positive_int(
        &mut self,
        key: &str,
        default: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let Some(v) = self.raw(key) else {
            return Ok(default);
        };
        let n = match &v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= 1 && n <= max => Ok(n),
            _ if max == u64::MAX => Err(invalid(key, "a positive integer", &v)),
            _ => Err(invalid(
                key,
                &format!("a positive integer no larger than {max}"),
                &v,
            )),
        }
    }

    /// A finite number, optionally required to be > 0.
    pub(crate) fn number(
        &mut self,
        key: &str,
        default: f64,
        positive: bool,
    ) -> Result<f64, ConfigError> {
        let Some(v) = self.raw(key) else {
            return Ok(default);
        };
        let n = match &v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(x) if x.is_finite() && (!positive || x > 0.0) => Ok(x),
            _ if positive => Err(invalid(key, "a positive number", &v)),
            _ => Err(invalid(key, "a number", &v)),
        }
    }

    /// A non-negative integer (seeds).
    pub(crate) fn unsigned(&mut self, key: &str, default: u64) -> Result<u64, ConfigError> {
        let Some(v) = self.raw(key) else {
            return Ok(default);
        };
        let n = match &v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        n.ok_or_else(|| invalid(key, "a non-negative integer", &v))
    }

    /// `true`/`false`; also the strings "true"/"false"/"yes"/"no"/"1"/"0" (YAML 1.1 habits).
    pub(crate) fn opt_bool(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
        let Some(v) = self.raw(key) else {
            return Ok(None);
        };
        let b = match &v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_u64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Some(true),
                "false" | "no" | "off" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        b.map(Some).ok_or_else(|| invalid(key, "true or false", &v))
    }
}
