//! The compactor's settings: timing of the protocol's steps, merged object
//! size, and how long each tool's logs are kept.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// How much of a tool's logs is kept. Unset: no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Stored (compressed) bytes.
    pub max_bytes: Option<u64>,
    /// Runs whose last line is older are removed.
    pub max_age_days: Option<u64>,
}

/// Defaults for every tool, and overrides by tool name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default, flatten)]
    pub default: Limits,
    #[serde(default)]
    pub tools: BTreeMap<String, Limits>,
}

impl Retention {
    /// A tool's limits: its override's fields where set, else the defaults.
    pub fn for_tool(&self, tool: &str) -> Limits {
        let o = self.tools.get(tool).copied().unwrap_or_default();
        Limits {
            max_bytes: o.max_bytes.or(self.default.max_bytes),
            max_age_days: o.max_age_days.or(self.default.max_age_days),
        }
    }
}

/// `compactor.json`:
///
/// ```json
/// {"settle_minutes": 15, "grace_minutes": 60, "target_mib": 16,
///  "orphan_hours": 24, "lease_seconds": 300,
///  "retention": {"max_age_days": 90, "max_bytes": 10737418240,
///                "tools": {"noisy-tool": {"max_bytes": 1073741824}}}}
/// ```
/// Every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Raw objects younger than this are left alone: Fluent Bit may still
    /// retry an upload (must exceed its `upload_timeout`, 5 min in the drop-in).
    #[serde(default = "d_settle")]
    pub settle_minutes: u64,
    /// Consumed raw objects are deleted this long after their merged object
    /// is referenced (must exceed the longest read).
    #[serde(default = "d_grace")]
    pub grace_minutes: u64,
    /// Merged objects hold up to this many MiB of records (uncompressed).
    #[serde(default = "d_target")]
    pub target_mib: u64,
    /// gzip level of merged objects (1 fastest … 9 smallest).
    #[serde(default = "d_level")]
    pub gzip_level: u32,
    /// Merged objects no meta references (left by a crash) are deleted
    /// after this long.
    #[serde(default = "d_orphan")]
    pub orphan_hours: u64,
    /// The lease's length; it is renewed with a third left.
    #[serde(default = "d_lease")]
    pub lease_seconds: u64,
    /// How long a compactor waits after taking the lease before trusting
    /// it, for stores whose create-only PUT is not atomic (see `lease`).
    #[serde(default = "d_lease_settle")]
    pub lease_settle_ms: u64,
    #[serde(default)]
    pub retention: Retention,
}

fn d_settle() -> u64 {
    15
}
fn d_grace() -> u64 {
    60
}
fn d_target() -> u64 {
    16
}
fn d_level() -> u32 {
    2
}
fn d_orphan() -> u64 {
    24
}
fn d_lease() -> u64 {
    300
}
fn d_lease_settle() -> u64 {
    250
}

impl Default for Config {
    fn default() -> Self {
        serde_json::from_str("{}").unwrap_or(Config {
            settle_minutes: d_settle(),
            grace_minutes: d_grace(),
            target_mib: d_target(),
            gzip_level: d_level(),
            orphan_hours: d_orphan(),
            lease_seconds: d_lease(),
            lease_settle_ms: d_lease_settle(),
            retention: Retention::default(),
        })
    }
}

impl Config {
    pub fn settle(&self) -> Duration {
        Duration::from_secs(self.settle_minutes * 60)
    }
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.grace_minutes * 60)
    }
    pub fn orphan_age(&self) -> Duration {
        Duration::from_secs(self.orphan_hours * 3600)
    }
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_seconds.max(10))
    }
    pub fn lease_settle(&self) -> Duration {
        Duration::from_millis(self.lease_settle_ms)
    }
    pub fn target_bytes(&self) -> u64 {
        self.target_mib.max(1) << 20
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.settle_minutes < 6 {
            return Err("settle_minutes must exceed Fluent Bit's upload_timeout (5 min)".into());
        }
        if !(1..=9).contains(&self.gzip_level) {
            return Err("gzip_level must be 1 to 9".into());
        }
        if self.grace_minutes == 0 {
            return Err("grace_minutes must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c: Config = serde_json::from_str(
            r#"{"retention": {"max_age_days": 90, "tools": {"t": {"max_bytes": 5}}}}"#,
        )
        .unwrap();
        assert_eq!(c.settle_minutes, 15);
        assert_eq!(
            c.retention.for_tool("t"),
            Limits {
                max_bytes: Some(5),
                max_age_days: Some(90)
            }
        );
        assert_eq!(c.retention.for_tool("u").max_bytes, None);
        assert_eq!(Config::default().target_bytes(), 16 << 20);
        assert!(serde_json::from_str::<Config>(r#"{"settle": 1}"#).is_err());
        assert!(
            serde_json::from_str::<Config>(r#"{"settle_minutes": 1}"#)
                .unwrap()
                .check()
                .is_err()
        );
    }
}
