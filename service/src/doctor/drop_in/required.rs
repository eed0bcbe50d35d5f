//! The drop-in's REQUIRED settings: what afterlog depends on in each of its
//! plugin instances, in one table. The shipped `fluent-bit/afterlog.yaml`
//! and `.conf` mark them `# REQUIRED` (a test keeps the marks and this
//! table in step); docs/admin-guide.md's "Drop-in settings" explains each.

use super::outputs;
use super::pipeline::{Instance, Kind, Pipeline};

/// What a setting's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Exactly this.
    Is(&'static str),
    /// One of these.
    OneOf(&'static [&'static str]),
    /// A boolean this way (`on`, `true`, `yes`, `1` or their opposites).
    Bool(bool),
    /// Set, to anything not empty: the value is the deployment's.
    Present,
    /// A size (`8M`, `512k`) of at least this.
    AtLeast(&'static str),
    /// A comma-separated list holding this item.
    Lists(&'static str),
    /// These words, however spaced.
    Words(&'static str),
    /// `/[<prefix>/]raw/$TAG[2]/…/$TAG[5]/%Y%m%dT%H%M%SZ-$UUID.gz`.
    KeyFormat,
}

impl Want {
    pub fn accepts(self, value: &str) -> bool {
        let v = value.trim();
        match self {
            Want::Is(w) => v == w,
            Want::OneOf(ws) => ws.contains(&v),
            Want::Bool(b) => parse_bool(v) == Some(b),
            Want::Present => !v.is_empty(),
            Want::AtLeast(w) => matches!((size(v), size(w)), (Some(a), Some(b)) if a >= b),
            Want::Lists(w) => v.split(',').any(|x| x.trim() == w),
            Want::Words(w) => v.split_whitespace().eq(w.split_whitespace()),
            Want::KeyFormat => outputs::key_prefix(v).is_some(),
        }
    }

    /// The wanted value, for a message.
    pub fn describe(self) -> String {
        match self {
            Want::Is(w) | Want::Words(w) => format!("`{w}`"),
            Want::OneOf(ws) => ws
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(" or "),
            Want::Bool(true) => "`on`".into(),
            Want::Bool(false) => "`off`".into(),
            Want::Present => "a value".into(),
            Want::AtLeast(w) => format!("at least `{w}`"),
            Want::Lists(w) => format!("a list holding `{w}`"),
            Want::KeyFormat => format!("`/[<prefix>/]{}`", outputs::KEY_LAYOUT),
        }
    }
}

/// Fluent Bit's booleans (case-insensitive).
fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A Fluent Bit size in bytes: a number with an optional K, M or G (and B).
fn size(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_uppercase();
    let v = v.strip_suffix('B').unwrap_or(&v);
    let (num, mul) = match v.chars().last()? {
        'K' => (&v[..v.len() - 1], 1u64 << 10),
        'M' => (&v[..v.len() - 1], 1 << 20),
        'G' => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mul)
}

/// One required setting of a plugin's instances.
#[derive(Debug, Clone, Copy)]
pub struct Required {
    pub kind: Kind,
    pub plugin: &'static str,
    pub key: &'static str,
    pub want: Want,
    /// The shipped value, for the fix.
    pub shipped: &'static str,
    /// What afterlog depends on it for.
    pub why: &'static str,
}

const SRC: &str = "afterlog-src.*";

const fn req(
    kind: Kind,
    plugin: &'static str,
    key: &'static str,
    want: Want,
    shipped: &'static str,
    why: &'static str,
) -> Required {
    Required {
        kind,
        plugin,
        key,
        want,
        shipped,
        why,
    }
}

use Kind::{Filter, Input, Output};

/// Every REQUIRED setting, by plugin. An `s3` output's `match` or
/// `match_regex` is [`outputs`]' to check: it depends on the other outputs.
pub const REQUIRED: &[Required] = &[
    req(
        Input,
        "tail",
        "tag",
        Want::Is(SRC),
        SRC,
        "its own tags keep the node's other pipelines apart; kube_tag_prefix follows from it",
    ),
    req(
        Input,
        "tail",
        "path",
        Want::Is("/var/log/containers/*.log"),
        "/var/log/containers/*.log",
        "the kubelet's per-container log files, whose names the filter reads",
    ),
    req(
        Input,
        "tail",
        "multiline.parser",
        Want::Lists("cri"),
        "cri",
        "joins the runtime's partial lines and keeps `time` at ns",
    ),
    req(
        Input,
        "tail",
        "offset_key",
        Want::Is("off"),
        "off",
        "the byte offset is part of a record's identity: without it equal-time lines are not told apart",
    ),
    req(
        Input,
        "tail",
        "db",
        Want::Present,
        "${AFTERLOG_STATE_DIR}/afterlog-tail.db",
        "positions survive restarts, so nothing is read twice or skipped",
    ),
    req(
        Input,
        "tail",
        "storage.type",
        Want::Is("filesystem"),
        "filesystem",
        "chunks survive a killed Fluent Bit, and a slow output costs disk, not memory",
    ),
    req(
        Filter,
        "kubernetes",
        "match",
        Want::Is(SRC),
        SRC,
        "the drop-in's own records",
    ),
    req(
        Filter,
        "kubernetes",
        "kube_tag_prefix",
        Want::Is("afterlog-src.var.log.containers."),
        "afterlog-src.var.log.containers.",
        "the tag minus the file name: without it no pod is found",
    ),
    req(
        Filter,
        "kubernetes",
        "labels",
        Want::Bool(true),
        "on",
        "the label rules read the pod's labels",
    ),
    req(
        Filter,
        "wasm",
        "match",
        Want::Is(SRC),
        SRC,
        "the drop-in's own records",
    ),
    req(
        Filter,
        "wasm",
        "wasm_path",
        Want::Present,
        "${AFTERLOG_WASM}",
        "the filter",
    ),
    req(
        Filter,
        "wasm",
        "function_name",
        Want::Is("afterlog_filter"),
        "afterlog_filter",
        "the filter's export",
    ),
    req(
        Filter,
        "wasm",
        "event_format",
        Want::OneOf(&["msgpack", "json"]),
        "msgpack",
        "the two modes the filter serves",
    ),
    req(
        Filter,
        "wasm",
        "accessible_paths",
        Want::Present,
        "${AFTERLOG_CONF_DIR},${AFTERLOG_STATE_DIR}",
        "the filter reads its config and keeps its quota state there",
    ),
    req(
        Filter,
        "wasm",
        "wasm_heap_size",
        Want::AtLeast("8M"),
        "8M",
        "with less, records of 64 KB and more arrive as a null pointer and are lost",
    ),
    req(
        Filter,
        "wasm",
        "wasm_stack_size",
        Want::AtLeast("1M"),
        "1M",
        "WAMR's 8 KiB default is too small for the filter",
    ),
    req(
        Filter,
        "rewrite_tag",
        "match",
        Want::Is(SRC),
        SRC,
        "the drop-in's own records",
    ),
    req(
        Filter,
        "rewrite_tag",
        "rule",
        Want::Words("$afterlog['route'] ^(.+)$ afterlog.$afterlog['route'] false"),
        "$afterlog['route'] ^(.+)$ afterlog.$afterlog['route'] false",
        "re-tags records afterlog.<class>.<tool>.<job>.<pod>.<container>, which the s3 outputs match and key by",
    ),
    req(
        Filter,
        "rewrite_tag",
        "emitter_storage.type",
        Want::Is("filesystem"),
        "filesystem",
        "re-tagged records wait on disk, not in memory, and survive a killed Fluent Bit",
    ),
    req(
        Output,
        "s3",
        "bucket",
        Want::Present,
        "${AFTERLOG_BUCKET}",
        "the bucket",
    ),
    req(
        Output,
        "s3",
        "region",
        Want::Present,
        "${AFTERLOG_S3_REGION}",
        "the bucket's region",
    ),
    req(
        Output,
        "s3",
        "endpoint",
        Want::Present,
        "${AFTERLOG_S3_ENDPOINT}",
        "the S3 URL (path-style requests)",
    ),
    req(
        Output,
        "s3",
        "s3_key_format",
        Want::KeyFormat,
        "/raw/$TAG[2]/$TAG[3]/$TAG[4]/$TAG[5]/%Y%m%dT%H%M%SZ-$UUID.gz",
        "the key layout the service reads (docs/design.md §3)",
    ),
    req(
        Output,
        "s3",
        "s3_key_format_tag_delimiters",
        Want::Is("."),
        ".",
        "$TAG[n] are the tag's dot-separated parts",
    ),
    req(
        Output,
        "s3",
        "use_put_object",
        Want::Bool(true),
        "on",
        "one gzip object per upload, no multipart leftovers",
    ),
    req(
        Output,
        "s3",
        "compression",
        Want::Is("gzip"),
        "gzip",
        "the service reads gzip objects",
    ),
    req(
        Output,
        "s3",
        "store_dir",
        Want::Present,
        "${AFTERLOG_STATE_DIR}/s3",
        "the upload buffer on the node's disk, so a killed Fluent Bit uploads it at its next start",
    ),
    req(
        Output,
        "null",
        "match",
        Want::Is(SRC),
        SRC,
        "records of pods that are not a tool's are discarded explicitly",
    ),
];

/// A required setting an instance lacks or sets otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The instance's [`Instance::label`].
    pub instance: String,
    pub key: String,
    /// What the drop-in has (`None`: not set).
    pub found: Option<String>,
    pub want: String,
    pub shipped: String,
    pub why: String,
}

/// Missing plugin instances (`None` key) and wrong settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    NoInstance { kind: Kind, plugin: &'static str },
    Setting(Problem),
}

/// The plugins the drop-in must have, each at least once.
fn plugins() -> Vec<(Kind, &'static str)> {
    let mut out: Vec<(Kind, &'static str)> = Vec::new();
    for r in REQUIRED {
        if !out.contains(&(r.kind, r.plugin)) {
            out.push((r.kind, r.plugin));
        }
    }
    out
}

fn check_instance(i: &Instance, out: &mut Vec<Finding>) {
    let plugin = i.plugin();
    for r in REQUIRED
        .iter()
        .filter(|r| r.kind == i.kind && r.plugin == plugin)
    {
        let found = i.get(r.key);
        if found.is_some_and(|v| r.want.accepts(v)) {
            continue;
        }
        out.push(Finding::Setting(Problem {
            instance: i.label(),
            key: r.key.to_string(),
            found: found.map(str::to_string),
            want: r.want.describe(),
            shipped: r.shipped.to_string(),
            why: r.why.to_string(),
        }));
    }
}

/// Every REQUIRED setting of every instance of the table's plugins.
pub fn check(p: &Pipeline) -> Vec<Finding> {
    let mut out = Vec::new();
    for (kind, plugin) in plugins() {
        let mut any = false;
        for i in p.of(kind, plugin) {
            any = true;
            check_instance(i, &mut out);
        }
        if !any {
            out.push(Finding::NoInstance { kind, plugin });
        }
    }
    out
}

/// How many settings [`check`] looked at in `p`.
pub fn checked(p: &Pipeline) -> usize {
    p.instances
        .iter()
        .map(|i| {
            let plugin = i.plugin();
            REQUIRED
                .iter()
                .filter(|r| r.kind == i.kind && r.plugin == plugin)
                .count()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::super::pipeline::{Format, parse};
    use super::*;

    const YAML: &str = include_str!("../../../../fluent-bit/afterlog.yaml");
    const CONF: &str = include_str!("../../../../fluent-bit/afterlog.conf");

    fn shipped() -> [(Format, Pipeline); 2] {
        [
            (Format::Yaml, parse(YAML, Format::Yaml).unwrap()),
            (Format::Classic, parse(CONF, Format::Classic).unwrap()),
        ]
    }

    #[test]
    fn the_shipped_drop_ins_pass() {
        for (f, p) in shipped() {
            assert_eq!(check(&p), vec![], "{f:?}");
            assert!(checked(&p) > REQUIRED.len(), "{f:?}: two s3 outputs");
        }
    }

    #[test]
    fn each_required_setting_removed_or_changed_fails() {
        for (f, p) in shipped() {
            for (n, inst) in p.instances.iter().enumerate() {
                let plugin = inst.plugin();
                for r in REQUIRED
                    .iter()
                    .filter(|r| r.kind == inst.kind && r.plugin == plugin)
                {
                    let mut q = p.clone();
                    q.instances[n] = inst.without(r.key);
                    let got = check(&q);
                    assert!(
                        matches!(&got[..], [Finding::Setting(s)]
                            if s.key == r.key && s.instance == inst.label() && s.found.is_none()),
                        "{f:?} {} without {}: {got:?}",
                        inst.label(),
                        r.key
                    );
                    if r.want == Want::Present {
                        continue;
                    }
                    let mut q = p.clone();
                    q.instances[n]
                        .props
                        .push((r.key.to_string(), "0".to_string()));
                    assert_eq!(check(&q).len(), 1, "{f:?} {} {} 0", inst.label(), r.key);
                }
            }
        }
    }

    #[test]
    fn a_missing_plugin_is_named() {
        let (_, mut p) = shipped().into_iter().next().unwrap();
        p.instances.retain(|i| i.plugin() != "wasm");
        assert_eq!(
            check(&p),
            vec![Finding::NoInstance {
                kind: Kind::Filter,
                plugin: "wasm"
            }]
        );
    }

    /// Every setting the shipped files mark `# REQUIRED` is in the table
    /// (the s3 outputs' `match_regex` is the look-ahead's check).
    #[test]
    fn the_shipped_required_marks_are_in_the_table() {
        for (format, text) in [(Format::Yaml, YAML), (Format::Classic, CONF)] {
            let mut plugin = String::new();
            let mut marked = false;
            let mut seen = 0;
            for line in text.lines().map(str::trim) {
                if let Some(c) = line.strip_prefix('#') {
                    marked |= c.trim_start().starts_with("REQUIRED");
                    continue;
                }
                let (key, value) = match format {
                    Format::Yaml => {
                        let l = line.trim_start_matches("- ");
                        match l.split_once(':') {
                            Some((k, v)) => (k.trim(), v.trim().trim_matches('\'')),
                            None => continue,
                        }
                    }
                    Format::Classic => match line.split_once(char::is_whitespace) {
                        Some((k, v)) => (k, v.trim()),
                        None => continue,
                    },
                };
                if key == "name" {
                    plugin = value.to_string();
                }
                if !std::mem::take(&mut marked) {
                    continue;
                }
                seen += 1;
                if key == "match_regex" {
                    assert!(outputs::lookahead(value).is_ok(), "{value}");
                    continue;
                }
                let r = REQUIRED
                    .iter()
                    .find(|r| r.plugin == plugin && r.key == key)
                    .unwrap_or_else(|| {
                        panic!("{format:?}: {plugin} {key} is marked REQUIRED but not in the table")
                    });
                assert!(r.want.accepts(value), "{format:?}: {plugin} {key} {value}");
            }
            assert!(seen >= 12, "{format:?}: only {seen} REQUIRED marks found");
        }
    }

    #[test]
    fn values_as_fluent_bit_reads_them() {
        assert!(Want::Bool(true).accepts("On"));
        assert!(Want::Bool(true).accepts("true"));
        assert!(!Want::Bool(true).accepts("off"));
        assert!(Want::AtLeast("8M").accepts("16M"));
        assert!(Want::AtLeast("8M").accepts("8192k"));
        assert!(!Want::AtLeast("8M").accepts("8k"));
        assert!(!Want::AtLeast("8M").accepts("lots"));
        assert!(Want::Lists("cri").accepts("docker, cri"));
        assert!(Want::Words("a b").accepts(" a   b "));
        assert!(!Want::Present.accepts(" "));
    }
}
