//! Building the effective configuration from its layers: defaults < file < `KEYGATE_*`
//! environment (with `_FILE` forms for secrets) < command-line flags, as one JSON tree
//! deserialised once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Config, DEFAULT_FILE, ENV_PREFIX};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The effective configuration and what was noticed while building it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub file: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Values given on the command line, as `dotted.key` → JSON value.
pub type Overrides = BTreeMap<&'static str, Value>;

/// Builds the effective configuration. `env` is passed in (not read here) so tests can
/// give their own.
pub fn load(
    explicit_file: Option<&Path>,
    env: &BTreeMap<String, String>,
    overrides: &Overrides,
) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let defaults =
        serde_json::to_value(Config::default()).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let mut merged = defaults.clone();

    let file = match explicit_file {
        Some(p) => Some(p.to_path_buf()),
        None => env.get("KEYGATE_CONFIG").map(PathBuf::from).or_else(|| {
            Path::new(DEFAULT_FILE)
                .is_file()
                .then(|| PathBuf::from(DEFAULT_FILE))
        }),
    };
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        // Deserialising the file alone finds unknown keys and wrong types, with the
        // file's own line numbers in the message.
        let _: Config = toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.clone(),
            message: e.to_string().trim().to_owned(),
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let value = serde_json::to_value(table).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        merge(&mut merged, value);
    }

    for (var, raw) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if rest == "CONFIG" {
            continue;
        }
        let path_of =
            |s: &str| -> Vec<String> { s.split("__").map(str::to_ascii_lowercase).collect() };
        // `X_FILE` reads setting `x` from a file; when there is no setting `x`, it is a
        // setting whose own name ends in `_file` (valkey_tls_ca_file).
        let (path, from_file) = match rest.strip_suffix("_FILE") {
            Some(r) if lookup(&defaults, &path_of(r)).is_some() => (path_of(r), true),
            _ => (path_of(rest), false),
        };
        let Some(default) = lookup(&defaults, &path) else {
            warnings.push(format!("ignoring unknown environment variable {var}"));
            continue;
        };
        let text = if from_file {
            std::fs::read_to_string(raw)
                .map_err(|e| ConfigError::Env {
                    var: var.clone(),
                    message: format!("cannot read {raw}: {e}"),
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned()
        } else {
            raw.clone()
        };
        let value = typed(default, &text).map_err(|message| ConfigError::Env {
            var: var.clone(),
            message,
        })?;
        set(&mut merged, &path, value);
    }

    for (key, value) in overrides {
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        set(&mut merged, &path, value.clone());
    }

    let config: Config =
        serde_json::from_value(merged).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    config.validate()?;
    Ok(Loaded {
        config,
        file,
        warnings,
    })
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(k))
}

fn set(v: &mut Value, path: &[String], value: Value) {
    let mut cur = v;
    for k in path {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(map) = cur else { return };
        cur = map.entry(k.clone()).or_insert(Value::Null);
    }
    *cur = value;
}

/// An environment string as the type the setting has.
fn typed(default: &Value, text: &str) -> Result<Value, String> {
    match default {
        Value::Bool(_) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("`{text}` is not true or false")),
        },
        Value::Number(_) => text
            .trim()
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| format!("`{text}` is not a whole number")),
        Value::Object(_) => Err(
            "this setting is a table; set its fields with __ (e.g. KEYGATE_CACHE__TTL_SECS)".into(),
        ),
        Value::Array(_) if text.trim_start().starts_with('[') => {
            serde_json::from_str(text).map_err(|e| format!("expected a JSON array: {e}"))
        }
        Value::Array(_) => Ok(Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )),
        Value::String(_) | Value::Null => Ok(Value::String(text.to_owned())),
    }
}
