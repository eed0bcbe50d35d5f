//! The filter's configuration: a JSON file the admin puts in a directory
//! listed in the wasm filter's `accessible_paths`.
//!
//! ```json
//! {
//!   "labels": { "tool": [...], "job": [...], "kind": [...] },
//!   "quota": { "bytes": 104857600, "window_seconds": 3600,
//!              "tools": { "noisy": { "bytes": 1048576 } }, "max_tools": 20000 },
//!   "routes": [ {"match": {"labels": {"afterlog.io/collect": "false"}}, "action": "drop"},
//!               {"match": {"kind": "build"}, "action": "class", "class": "long-retention"} ],
//!   "classes": [ {"name": "long-retention", "quota": {"bytes": 1073741824}, "line_limit_bytes": 65536} ],
//!   "line_limit_bytes": 16384,
//!   "keep_kubernetes": false,
//!   "state_file": "/var/lib/afterlog/quota.state",
//!   "checkpoint_seconds": 5,
//!   "reload_seconds": 10
//! }
//! ```
//! Every field is optional; what is missing takes its default.

use afterlog_contract::defaults;
use afterlog_contract::routing::{self, Routes, RoutingError};
use afterlog_contract::rules::{LabelRules, RuleError};
use rustc_hash::FxHashMap;
use serde::Deserialize;
use thiserror::Error;

/// The file name the filter looks for in each accessible directory.
pub const FILE_NAME: &str = "afterlog-filter.json";
/// The quota state file's default name, beside the config file.
pub const STATE_FILE_NAME: &str = "afterlog-quota.state";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub labels: LabelRules,
    #[serde(default)]
    pub quota: QuotaConfig,
    /// Routing rules, in order ([`afterlog_contract::routing`]); read into
    /// [`Config::routing`] one by one so a mistake names its rule.
    #[serde(default, rename = "routes")]
    pub route_values: Vec<serde_json::Value>,
    /// The routing rules, checked.
    #[serde(skip)]
    pub routing: Routes,
    /// Routing classes and their overrides; `default` needs no entry.
    #[serde(default)]
    pub classes: Vec<ClassConfig>,
    /// Longest `log` value kept, in bytes; longer ones are cut with a marker.
    #[serde(default = "defaults::usize_of::<{ 16 * 1024 }>")]
    pub line_limit_bytes: usize,
    /// Keep the `kubernetes` map in the output (it is dropped by default:
    /// its labels are in `afterlog` and it triples the stored size).
    #[serde(default)]
    pub keep_kubernetes: bool,
    /// Where quota state is checkpointed (a path inside `accessible_paths`).
    #[serde(default)]
    pub state_file: Option<String>,
    /// How often in-memory quota state is checkpointed.
    #[serde(default = "defaults::u64_of::<5>")]
    pub checkpoint_seconds: u64,
    /// How often the filter looks whether this file changed, and reloads
    /// it (0: never). A config that does not load is reported and the
    /// running one kept.
    #[serde(default = "defaults::u64_of::<10>")]
    pub reload_seconds: u64,
}

/// A routing class's settings. Tools in a class are accounted separately
/// from their other classes; a tool's own `quota.tools` budget still wins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassConfig {
    pub name: String,
    /// The budget per tool in this class (default: `quota`'s).
    pub quota: Option<Budget>,
    /// The line limit in this class (default: `line_limit_bytes`).
    pub line_limit_bytes: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Bytes of output records admitted per window.
    pub bytes: u64,
    #[serde(default = "defaults::u64_of::<3600>")]
    pub window_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    #[serde(default = "defaults::u64_of::<{ 100 * 1024 * 1024 }>")]
    pub bytes: u64,
    #[serde(default = "defaults::u64_of::<3600>")]
    pub window_seconds: u64,
    /// Per-tool budgets replacing the default.
    #[serde(default)]
    pub tools: FxHashMap<String, Budget>,
    /// How many tools' state is kept; the least recently seen go first.
    #[serde(default = "defaults::usize_of::<20_000>")]
    pub max_tools: usize,
}

impl QuotaConfig {
    pub fn budget(&self, tool: &str) -> Budget {
        self.tools.get(tool).copied().unwrap_or(Budget {
            bytes: self.bytes,
            window_seconds: self.window_seconds,
        })
    }
}

// The serde defaults are the one source of the defaults.
impl Default for QuotaConfig {
    fn default() -> Self {
        serde_json::from_slice(b"{}").expect("every field has a default")
    }
}

impl Default for Config {
    fn default() -> Self {
        serde_json::from_slice(b"{}").expect("every field has a default")
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("labels.{field}[{index}]: {source}")]
    Rule {
        field: &'static str,
        index: usize,
        source: RuleError,
    },
    #[error("labels.{field}[{index}]: bad regex: {message}")]
    Regex {
        field: &'static str,
        index: usize,
        message: String,
    },
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error("routes[{index}]: bad {what}: {message}")]
    RouteRegex {
        index: usize,
        what: &'static str,
        message: String,
    },
}

impl Config {
    /// Parses and checks a config file's contents. Regexes are compiled by
    /// [`crate::labels::Labeller::new`], which reports them with the same error type.
    pub fn parse(text: &[u8]) -> Result<Config, ConfigError> {
        let mut c: Config = serde_json::from_slice(text)?;
        routing::check_classes(c.classes.iter().map(|k| k.name.as_str()))?;
        let names: Vec<String> = c.classes.iter().map(|k| k.name.clone()).collect();
        c.routing = Routes::parse(&c.route_values, &names)?;
        for k in &c.classes {
            if k.line_limit_bytes == Some(0) {
                return Err(ConfigError::Zero("classes[].line_limit_bytes"));
            }
            if k.quota.is_some_and(|b| b.window_seconds == 0) {
                return Err(ConfigError::Zero("classes[].quota.window_seconds"));
            }
        }
        for (field, rules) in [
            ("tool", &c.labels.tool),
            ("job", &c.labels.job),
            ("kind", &c.labels.kind),
        ] {
            for (index, r) in rules.iter().enumerate() {
                r.check().map_err(|source| ConfigError::Rule {
                    field,
                    index,
                    source,
                })?;
            }
        }
        if c.line_limit_bytes == 0 {
            return Err(ConfigError::Zero("line_limit_bytes"));
        }
        if c.quota.window_seconds == 0 || c.quota.tools.values().any(|b| b.window_seconds == 0) {
            return Err(ConfigError::Zero("quota window_seconds"));
        }
        if c.quota.max_tools == 0 {
            return Err(ConfigError::Zero("quota.max_tools"));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_object_is_all_defaults() {
        let c = Config::parse(b"{}").unwrap();
        assert_eq!(c.line_limit_bytes, 16384);
        assert_eq!(
            c.quota.budget("x"),
            Budget {
                bytes: 100 << 20,
                window_seconds: 3600
            }
        );
        assert_eq!(c.labels, LabelRules::default());
    }

    #[test]
    fn overrides() {
        let c = Config::parse(
            br#"{"quota":{"bytes":10,"tools":{"noisy":{"bytes":5,"window_seconds":60}}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.quota.budget("noisy"),
            Budget {
                bytes: 5,
                window_seconds: 60
            }
        );
        assert_eq!(
            c.quota.budget("other"),
            Budget {
                bytes: 10,
                window_seconds: 3600
            }
        );
    }

    #[test]
    fn errors_name_the_place() {
        let e = Config::parse(br#"{"labels":{"job":[{"from":"label"}]}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "labels.job[0]: rule needs \"key\" with from=Label"
        );
        assert!(Config::parse(br#"{"line_limit":5}"#).is_err());
        assert!(Config::parse(br#"{"quota":{"window_seconds":0}}"#).is_err());
        assert!(Config::parse(b"nope").is_err());
    }
}
