//! The compactor's settings: timing of the protocol's steps, merged object
//! size, and how long each tool's logs are kept, per routing class.

use afterlog_contract::defaults;
use afterlog_contract::routing::check_class_name;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// When a deletion request made at `requested_ns` is due, applied
/// `delete_after_hours` later: the service stamps it on the request, the
/// compactor applies it then.
pub fn deletion_due_ns(requested_ns: u64, delete_after_hours: u64) -> u64 {
    requested_ns.saturating_add(delete_after_hours.saturating_mul(3_600_000_000_000))
}

/// How much of a tool's logs is kept. Unset: no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Stored (compressed) bytes.
    pub max_bytes: Option<u64>,
    /// Days older than this (UTC days of records) are removed.
    pub max_age_days: Option<u64>,
}

/// The routing class of the store `--store` names, and of records written
/// before records carried a class.
pub use afterlog_contract::routing::DEFAULT_CLASS;

/// Defaults for every tool, and overrides by tool name and by routing class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default, flatten)]
    pub default: Limits,
    #[serde(default)]
    pub tools: BTreeMap<String, Limits>,
    /// By routing class: limits for that class's store, which override
    /// the ones above.
    #[serde(default)]
    pub classes: BTreeMap<String, ClassRetention>,
}

/// The retention of one routing class's store: its defaults and its
/// overrides by tool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRetention {
    #[serde(default, flatten)]
    pub default: Limits,
    #[serde(default)]
    pub tools: BTreeMap<String, Limits>,
}

impl Retention {
    /// The limits of tool `tool` in the store of class `class`, field by
    /// field from the most specific place that sets it:
    /// `classes[class].tools[tool]`, `classes[class]`, `tools[tool]`, the
    /// defaults. A class's own limits beat a tool's general override: a
    /// class exists to keep its logs differently from the rest.
    pub fn limits(&self, class: &str, tool: &str) -> Limits {
        let c = self.classes.get(class);
        let layers = [
            c.and_then(|c| c.tools.get(tool)).copied(),
            c.map(|c| c.default),
            self.tools.get(tool).copied(),
            Some(self.default),
        ];
        let pick = |f: fn(&Limits) -> Option<u64>| layers.iter().flatten().find_map(f);
        Limits {
            max_bytes: pick(|l| l.max_bytes),
            max_age_days: pick(|l| l.max_age_days),
        }
    }
}

/// `compactor.json`:
///
/// ```json
/// {"settle_minutes": 15, "grace_minutes": 60, "target_mib": 16,
///  "orphan_hours": 24, "lease_seconds": 300, "delete_after_hours": 24,
///  "retention": {"max_age_days": 90, "max_bytes": 10737418240,
///                "tools": {"noisy-tool": {"max_bytes": 1073741824}},
///                "classes": {"long-retention": {"max_age_days": 365,
///                                               "tools": {"audit": {"max_age_days": 730}}}}}}
/// ```
/// Every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Raw objects younger than this are left alone: Fluent Bit may still
    /// retry an upload (must exceed its `upload_timeout`, 5 min in the drop-in).
    #[serde(default = "defaults::u64_of::<15>")]
    pub settle_minutes: u64,
    /// Consumed raw objects are deleted this long after their merged object
    /// is referenced (must exceed the longest read).
    #[serde(default = "defaults::u64_of::<60>")]
    pub grace_minutes: u64,
    /// Merged objects hold up to this many MiB of records (uncompressed).
    #[serde(default = "defaults::u64_of::<16>")]
    pub target_mib: u64,
    /// gzip level of merged objects (1 fastest … 9 smallest).
    #[serde(default = "defaults::u32_of::<2>")]
    pub gzip_level: u32,
    /// Chunks and index periods no manifest references (left by a crash)
    /// are deleted after this long.
    #[serde(default = "defaults::u64_of::<24>")]
    pub orphan_hours: u64,
    /// The lease's length; it is renewed with a third left.
    #[serde(default = "defaults::u64_of::<300>")]
    pub lease_seconds: u64,
    /// How long a compactor waits after taking the lease before trusting
    /// it, for stores whose create-only PUT is not atomic (see `lease`).
    #[serde(default = "defaults::u64_of::<250>")]
    pub lease_settle_ms: u64,
    /// A deletion request is applied this long after it was made (until
    /// then it can be cancelled); 0: at the compactor's next pass.
    #[serde(default = "defaults::u64_of::<24>")]
    pub delete_after_hours: u64,
    #[serde(default)]
    pub retention: Retention,
}

impl Default for Config {
    fn default() -> Self {
        // The serde defaults are the one source of the defaults.
        serde_json::from_str("{}").expect("every field has a default")
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
    pub fn delete_after(&self) -> Duration {
        Duration::from_secs(self.delete_after_hours.saturating_mul(3600))
    }
    /// When a deletion request made at `requested_ns` is due.
    pub fn deletion_due_ns(&self, requested_ns: u64) -> u64 {
        deletion_due_ns(requested_ns, self.delete_after_hours)
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
        for class in self.retention.classes.keys() {
            check_class_name(class).map_err(|e| format!("retention.classes: {e}"))?;
        }
        Ok(())
    }

    /// Checks that every class `retention.classes` names is one of `known`
    /// (the classes the service serves): retention for a class nobody
    /// compacts is a typo that would silently keep logs for the default time.
    pub fn check_classes<'a>(
        &self,
        known: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<(), String> {
        for class in self.retention.classes.keys() {
            if !known.clone().into_iter().any(|k| k == class) {
                let known: Vec<&str> = known.into_iter().collect();
                return Err(format!(
                    "retention.classes.{class}: no store serves class {class:?} \
                     (known: {}); add --class {class}=STORE or remove it",
                    known.join(", ")
                ));
            }
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
            c.retention.limits(DEFAULT_CLASS, "t"),
            Limits {
                max_bytes: Some(5),
                max_age_days: Some(90)
            }
        );
        assert_eq!(c.retention.limits(DEFAULT_CLASS, "u").max_bytes, None);
        assert_eq!(Config::default().target_bytes(), 16 << 20);
        assert_eq!(
            Config::default().deletion_due_ns(5),
            5 + 24 * 3_600_000_000_000
        );
        let at_once: Config = serde_json::from_str(r#"{"delete_after_hours": 0}"#).unwrap();
        assert_eq!(at_once.deletion_due_ns(5), 5);
        assert_eq!(deletion_due_ns(5, 1), 5 + 3_600_000_000_000);
        assert_eq!(deletion_due_ns(u64::MAX - 1, u64::MAX), u64::MAX);
        assert!(serde_json::from_str::<Config>(r#"{"settle": 1}"#).is_err());
        assert!(
            serde_json::from_str::<Config>(r#"{"settle_minutes": 1}"#)
                .unwrap()
                .check()
                .is_err()
        );
    }

    fn limits(max_age_days: Option<u64>, max_bytes: Option<u64>) -> Limits {
        Limits {
            max_bytes,
            max_age_days,
        }
    }

    /// classes[C].tools[T], else classes[C], else tools[T], else the
    /// defaults — field by field.
    #[test]
    fn class_retention_precedence() {
        let c: Config = serde_json::from_str(
            r#"{"retention": {"max_age_days": 90, "max_bytes": 1000,
                "tools": {"x": {"max_age_days": 30}, "y": {"max_bytes": 7}},
                "classes": {
                  "long-retention": {"max_age_days": 365,
                                     "tools": {"x": {"max_bytes": 50}, "z": {"max_age_days": 2}}},
                  "bare": {}}}}"#,
        )
        .unwrap();
        c.check().unwrap();
        let r = &c.retention;
        // No class entry: the tool override, then the defaults.
        assert_eq!(r.limits(DEFAULT_CLASS, "x"), limits(Some(30), Some(1000)));
        assert_eq!(r.limits(DEFAULT_CLASS, "y"), limits(Some(90), Some(7)));
        assert_eq!(r.limits(DEFAULT_CLASS, "w"), limits(Some(90), Some(1000)));
        assert_eq!(r.limits("unknown", "x"), limits(Some(30), Some(1000)));
        // The class's tool entry, then the class, beat the tool override.
        assert_eq!(r.limits("long-retention", "x"), limits(Some(365), Some(50)));
        assert_eq!(r.limits("long-retention", "y"), limits(Some(365), Some(7)));
        assert_eq!(r.limits("long-retention", "z"), limits(Some(2), Some(1000)));
        assert_eq!(
            r.limits("long-retention", "w"),
            limits(Some(365), Some(1000))
        );
        // An empty class entry changes nothing.
        assert_eq!(r.limits("bare", "x"), limits(Some(30), Some(1000)));
        assert_eq!(r.limits("bare", "w"), limits(Some(90), Some(1000)));

        assert!(
            c.check_classes(["default", "long-retention", "bare"])
                .is_ok()
        );
        let e = c.check_classes(["default", "long-retention"]).unwrap_err();
        assert!(
            e.contains("retention.classes.bare") && e.contains("--class bare="),
            "{e}"
        );
    }

    #[test]
    fn class_names_are_checked() {
        let bad: Config =
            serde_json::from_str(r#"{"retention": {"classes": {"Long": {"max_age_days": 1}}}}"#)
                .unwrap();
        assert!(bad.check().unwrap_err().contains("retention.classes"));
        // A typo inside a class is refused, like anywhere else.
        assert!(
            serde_json::from_str::<Config>(
                r#"{"retention": {"classes": {"long": {"max_age": 1}}}}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<Config>(
                r#"{"retention": {"classes": {"long": {"tools": {"t": {"max_age": 1}}}}}}"#
            )
            .is_err()
        );
    }
}
