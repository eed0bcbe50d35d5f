//! The drop-in's s3 outputs and the routing classes: one catch-all output
//! (`match_regex '^afterlog\.(?!long-retention\.|…)'`) takes every class
//! but those its negative look-ahead lists, and each listed class has an
//! output of its own (`match 'afterlog.<class>.*'`). A class with its own
//! output missing from the look-ahead is stored twice; a class in the
//! look-ahead without an output of its own is lost (docs/routing.md).

use super::pipeline::{Kind, Pipeline};
use afterlog_contract::routing::check_class_name;
use std::collections::{BTreeMap, BTreeSet};

/// The part of an s3 output's `s3_key_format` after its prefix.
pub const KEY_LAYOUT: &str = "raw/$TAG[2]/$TAG[3]/$TAG[4]/$TAG[5]/%Y%m%dT%H%M%SZ-$UUID.gz";

/// The store prefix an `s3_key_format` writes under (`""`: the bucket's
/// root), if it has afterlog's layout.
pub fn key_prefix(format: &str) -> Option<String> {
    let rest = format.trim().strip_prefix('/')?;
    let prefix = rest.strip_suffix(KEY_LAYOUT)?;
    if prefix.is_empty() {
        return Some(String::new());
    }
    let inner = prefix.strip_suffix('/')?;
    let plain = inner
        .split('/')
        .all(|s| !s.is_empty() && !s.contains(['$', '%', '\\']));
    plain.then(|| inner.to_string())
}

/// The classes a catch-all `match_regex` leaves out: `^afterlog\.` (none)
/// or `^afterlog\.(?!a\.|b\.)` (also `(?!(a|b)\.)`).
pub fn lookahead(re: &str) -> Result<BTreeSet<String>, String> {
    let bad = || {
        format!(
            "match_regex {re:?} is not of the form ^afterlog\\.(?!<class>\\.|<class>\\.) \
             (the classes with an output of their own)"
        )
    };
    let rest = re.trim().strip_prefix("^afterlog\\.").ok_or_else(bad)?;
    if rest.is_empty() {
        return Ok(BTreeSet::new());
    }
    let inner = rest
        .strip_prefix("(?!")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(bad)?;
    let names: Vec<&str> = match inner.strip_prefix('(').and_then(|r| r.strip_suffix(")\\.")) {
        Some(group) => group.split('|').collect(),
        None => inner
            .split('|')
            .map(|alt| alt.strip_suffix("\\.").ok_or_else(bad))
            .collect::<Result<_, _>>()?,
    };
    let mut out = BTreeSet::new();
    for n in names {
        check_class_name(n).map_err(|e| format!("match_regex {re:?}: {e}"))?;
        out.insert(n.to_string());
    }
    Ok(out)
}

/// The class of an output's `match 'afterlog.<class>.*'`.
fn own_class(pattern: &str) -> Option<String> {
    let class = pattern
        .trim()
        .strip_prefix("afterlog.")?
        .strip_suffix(".*")?;
    check_class_name(class).ok()?;
    Some(class.to_string())
}

/// An s3 output of a class of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnOutput {
    pub label: String,
    /// Where it writes, from its `s3_key_format` (`None`: not afterlog's layout).
    pub prefix: Option<String>,
    /// Its `bucket` setting as written.
    pub bucket: Option<String>,
}

/// What the s3 outputs route where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// The catch-all output: its label and the classes it leaves out.
    pub catch_all: Option<(String, BTreeSet<String>)>,
    pub catch_all_bucket: Option<String>,
    /// Where the catch-all output writes in its bucket (`""`: the root).
    pub catch_all_prefix: Option<String>,
    /// The classes with an output of their own.
    pub own: BTreeMap<String, OwnOutput>,
    /// What is wrong, each a sentence with its consequence.
    pub problems: Vec<String>,
}

/// Reads the s3 outputs' routing and checks it.
pub fn routing(p: &Pipeline) -> Routing {
    let mut r = Routing::default();
    let mut store_dirs: BTreeMap<String, String> = BTreeMap::new();
    for o in p.of(Kind::Output, "s3") {
        let label = o.label();
        if let Some(dir) = o.get("store_dir")
            && let Some(other) = store_dirs.insert(dir.to_string(), label.clone())
        {
            r.problems.push(format!(
                "{other} and {label} share store_dir {dir}: two outputs must not share an upload buffer"
            ));
        }
        if let Some(re) = o.get("match_regex") {
            match lookahead(re) {
                Ok(left_out) => {
                    if let Some((first, _)) = &r.catch_all {
                        r.problems.push(format!(
                            "{first} and {label} both take every class not left out: those records are stored twice"
                        ));
                    } else {
                        r.catch_all = Some((label, left_out));
                        r.catch_all_bucket = o.get("bucket").map(str::to_string);
                        r.catch_all_prefix = o.get("s3_key_format").and_then(key_prefix);
                    }
                }
                Err(e) => r.problems.push(format!("{label}: {e}")),
            }
            continue;
        }
        let m = o.get("match").unwrap_or("");
        if m.trim() == "afterlog.*" && r.catch_all.is_none() {
            r.catch_all = Some((label, BTreeSet::new()));
            r.catch_all_bucket = o.get("bucket").map(str::to_string);
            r.catch_all_prefix = o.get("s3_key_format").and_then(key_prefix);
            continue;
        }
        match own_class(m) {
            Some(class) => {
                let out = OwnOutput {
                    label: label.clone(),
                    prefix: o.get("s3_key_format").and_then(key_prefix),
                    bucket: o.get("bucket").map(str::to_string),
                };
                if let Some(first) = r.own.insert(class.clone(), out) {
                    r.problems.push(format!(
                        "{} and {label} both store class {class}: its records are stored twice",
                        first.label
                    ));
                }
            }
            None => r.problems.push(format!(
                "{label}: match {m:?} is neither afterlog.<class>.* nor the catch-all's match_regex \
                 '^afterlog\\.(?!<class>\\.)'"
            )),
        }
    }
    let own: BTreeSet<String> = r.own.keys().cloned().collect();
    match &r.catch_all {
        None => r.problems.push(
            "no s3 output takes the classes without an output of their own \
             (match_regex '^afterlog\\.(?!<class>\\.|…)'): the records of `default` are lost"
                .to_string(),
        ),
        Some((label, left_out)) => {
            for c in own.difference(left_out) {
                r.problems.push(format!(
                    "class {c} has its own output ({}) but is not in {label}'s look-ahead: its records are stored twice",
                    r.own[c].label
                ));
            }
            for c in left_out.difference(&own) {
                r.problems.push(format!(
                    "class {c} is in {label}'s look-ahead but has no output of its own: its records are lost"
                ));
            }
        }
    }
    r
}

/// The look-ahead that fits the classes with an output of their own.
pub fn wanted_lookahead(own: &BTreeMap<String, OwnOutput>) -> String {
    if own.is_empty() {
        return "^afterlog\\.".to_string();
    }
    let alts: Vec<String> = own.keys().map(|c| format!("{c}\\.")).collect();
    format!("^afterlog\\.(?!{})", alts.join("|"))
}

#[cfg(test)]
mod tests {
    use super::super::pipeline::{Format, Instance, parse};
    use super::*;

    const YAML: &str = include_str!("../../../../fluent-bit/afterlog.yaml");
    const CONF: &str = include_str!("../../../../fluent-bit/afterlog.conf");

    fn set(p: &mut Pipeline, alias: &str, key: &str, value: &str) {
        let i = p
            .instances
            .iter_mut()
            .find(|i| i.get("alias") == Some(alias))
            .unwrap();
        *i = i.without(key);
        i.props.push((key.into(), value.into()));
    }

    #[test]
    fn key_prefixes() {
        assert_eq!(key_prefix(&format!("/{KEY_LAYOUT}")).as_deref(), Some(""));
        assert_eq!(
            key_prefix(&format!("/long-retention/{KEY_LAYOUT}")).as_deref(),
            Some("long-retention")
        );
        assert_eq!(
            key_prefix(&format!("/a/b/{KEY_LAYOUT}")).as_deref(),
            Some("a/b")
        );
        for bad in [
            KEY_LAYOUT.to_string(),
            format!("/x{KEY_LAYOUT}"),
            format!("//{KEY_LAYOUT}"),
            "/raw/$TAG[2]/$TAG[3]/%Y.gz".to_string(),
            format!("/$TAG[1]/{KEY_LAYOUT}"),
        ] {
            assert_eq!(key_prefix(&bad), None, "{bad}");
        }
    }

    #[test]
    fn lookaheads() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(lookahead("^afterlog\\."), Ok(set(&[])));
        assert_eq!(
            lookahead("^afterlog\\.(?!long-retention\\.)"),
            Ok(set(&["long-retention"]))
        );
        assert_eq!(
            lookahead("^afterlog\\.(?!long-retention\\.|audit\\.)"),
            Ok(set(&["audit", "long-retention"]))
        );
        assert_eq!(lookahead("^afterlog\\.(?!(a|b)\\.)"), Ok(set(&["a", "b"])));
        for bad in [
            "afterlog\\.",
            "^afterlog\\.(?!long-retention)",
            "^afterlog\\.(?!Long\\.)",
            "^afterlog\\.(?!a\\.",
            "^afterlog\\.(?=a\\.)",
            "^afterlog\\.(?!\\.)",
        ] {
            assert!(lookahead(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_shipped_drop_ins_route_long_retention_apart() {
        for (text, f) in [(YAML, Format::Yaml), (CONF, Format::Classic)] {
            let r = routing(&parse(text, f).unwrap());
            assert_eq!(r.problems, Vec::<String>::new(), "{f:?}");
            let (label, left_out) = r.catch_all.clone().unwrap();
            assert_eq!(label, "afterlog_s3");
            assert_eq!(left_out.into_iter().collect::<Vec<_>>(), ["long-retention"]);
            let lr = &r.own["long-retention"];
            assert_eq!(lr.label, "afterlog_s3_long_retention");
            assert_eq!(lr.prefix.as_deref(), Some("long-retention"));
            assert_eq!(
                wanted_lookahead(&r.own),
                "^afterlog\\.(?!long-retention\\.)"
            );
        }
    }

    #[test]
    fn a_class_missing_from_the_lookahead_is_stored_twice() {
        let mut p = parse(YAML, Format::Yaml).unwrap();
        set(&mut p, "afterlog_s3", "match_regex", "^afterlog\\.");
        let r = routing(&p);
        assert_eq!(
            r.problems,
            [
                "class long-retention has its own output (afterlog_s3_long_retention) but is not in afterlog_s3's look-ahead: its records are stored twice"
            ]
        );
    }

    #[test]
    fn a_class_in_the_lookahead_without_output_is_lost() {
        let mut p = parse(CONF, Format::Classic).unwrap();
        set(
            &mut p,
            "afterlog_s3",
            "match_regex",
            "^afterlog\\.(?!long-retention\\.|audit\\.)",
        );
        assert_eq!(
            routing(&p).problems,
            [
                "class audit is in afterlog_s3's look-ahead but has no output of its own: its records are lost"
            ]
        );
    }

    #[test]
    fn other_mistakes() {
        let mut p = parse(YAML, Format::Yaml).unwrap();
        set(
            &mut p,
            "afterlog_s3_long_retention",
            "store_dir",
            "${AFTERLOG_STATE_DIR}/s3",
        );
        assert_eq!(routing(&p).problems.len(), 1);

        let mut p = parse(YAML, Format::Yaml).unwrap();
        p.instances
            .retain(|i| i.get("alias") != Some("afterlog_s3"));
        let got = routing(&p).problems;
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("no s3 output takes"), "{got:?}");

        let mut p = parse(YAML, Format::Yaml).unwrap();
        set(
            &mut p,
            "afterlog_s3_long_retention",
            "match",
            "afterlog.*.x",
        );
        assert!(
            routing(&p)
                .problems
                .iter()
                .any(|m| m.contains("is neither"))
        );

        let mut p = parse(YAML, Format::Yaml).unwrap();
        let copy: Instance = p
            .instances
            .iter()
            .find(|i| i.get("alias") == Some("afterlog_s3_long_retention"))
            .unwrap()
            .clone();
        p.instances.push(copy.without("store_dir"));
        assert!(
            routing(&p)
                .problems
                .iter()
                .any(|m| m.contains("both store class long-retention"))
        );
    }
}
