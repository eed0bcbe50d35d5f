//! Routing rules: which containers' logs afterlog keeps, and in
//! which routing *class*. Rules are data in the filter's config, evaluated
//! in order on a container's namespace, pod, container name, pod labels and
//! annotations and its derived tool, job and kind; the first rule that
//! matches decides, and a container no rule matches is in the `default`
//! class.
//!
//! ```json
//! "routes": [
//!   {"match": {"labels": {"afterlog.io/collect": "false"}}, "action": "drop"},
//!   {"match": {"kind": "build"}, "action": "class", "class": "long-retention"},
//!   {"match": {"namespace": {"glob": "tool-team-*"}}, "action": "class", "class": "team"}
//! ]
//! ```
//!
//! A class is the first part of a record's route (`afterlog.class` and the
//! tag `afterlog.<class>.<tool>.<job>.<pod>.<container>`), so Fluent Bit's
//! `match` patterns send each class to its own output, bucket or prefix.
//! The types and structural checks live here, beside the label rules; the
//! filter compiles and evaluates them.

use serde::Deserialize;
use std::collections::BTreeMap;
use thiserror::Error;

/// The class of a container no rule routes elsewhere.
pub const DEFAULT_CLASS: &str = "default";
/// Longest class name: a Kubernetes label value's limit, and short enough
/// for a tag part, an S3 prefix and a Prometheus label.
pub const MAX_CLASS_NAME: usize = 63;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RoutingError {
    #[error(
        "class name {0:?}: use 1 to {MAX_CLASS_NAME} characters a-z, 0-9 and '-' (it becomes a tag part and an S3 prefix)"
    )]
    ClassName(String),
    #[error("routes[{index}]: {message}")]
    Rule { index: usize, message: String },
    #[error("classes[{index}]: class {name:?} is defined twice")]
    DuplicateClass { index: usize, name: String },
}

/// Checks a class name (`[a-z0-9-]{1,63}`).
pub fn check_class_name(name: &str) -> Result<(), RoutingError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CLASS_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(RoutingError::ClassName(name.to_string()))
    }
}

/// One routing rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// All conditions must hold; no conditions match every container.
    #[serde(rename = "match", default)]
    pub when: Match,
    pub action: Action,
    /// The class, for `"action": "class"`.
    #[serde(default)]
    pub class: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Not collected: the filter drops the container's records.
    Drop,
    /// Collected in the rule's `class`.
    Class,
}

/// What a rule looks at. Fields left out are not looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    pub namespace: Option<Pattern>,
    pub pod: Option<Pattern>,
    pub container: Option<Pattern>,
    pub tool: Option<Pattern>,
    pub job: Option<Pattern>,
    pub kind: Option<Pattern>,
    /// Pod labels by key.
    #[serde(default)]
    pub labels: BTreeMap<String, Pattern>,
    /// Pod annotations by key (when the `kubernetes` filter passes them).
    #[serde(default)]
    pub annotations: BTreeMap<String, Pattern>,
}

/// How a value is matched: a plain string is an exact match.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Pattern {
    Exact(String),
    Test(Test),
}

/// The other ways to match, written `{"glob": "tool-*"}` and so on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Test {
    /// `*` any run of characters, `?` one character; the whole value.
    Glob(String),
    /// A regular expression, unanchored (write `^…$` for the whole value).
    Regex(String),
    /// Any of these exact values.
    In(Vec<String>),
    /// `true`: the label or annotation is there (any value); `false`: it
    /// is not. On namespace, pod and the rest (always there) it is `true`.
    Present(bool),
}

/// The routing part of the filter's config: rules in order, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    pub rules: Vec<RouteRule>,
}

impl Routes {
    /// Reads the `routes` array one rule at a time, so that a mistake is
    /// reported with the rule's position. `classes`: the names the config
    /// defines ([`DEFAULT_CLASS`] is always defined).
    pub fn parse(values: &[serde_json::Value], classes: &[String]) -> Result<Routes, RoutingError> {
        let mut rules = Vec::with_capacity(values.len());
        for (index, v) in values.iter().enumerate() {
            let err = |message: String| RoutingError::Rule { index, message };
            let rule: RouteRule = serde_json::from_value(v.clone()).map_err(|e| {
                err(match e.to_string() {
                    m if m.contains("did not match any variant of untagged enum Pattern") => {
                        "a match value is a string or one of {\"glob\": …}, {\"regex\": …}, {\"in\": […]}, {\"present\": true|false}".to_string()
                    }
                    m => m,
                })
            })?;
            match (rule.action, &rule.class) {
                (Action::Drop, Some(_)) => {
                    return Err(err("\"action\": \"drop\" takes no \"class\"".into()));
                }
                (Action::Class, None) => {
                    return Err(err("\"action\": \"class\" needs \"class\"".into()));
                }
                (Action::Class, Some(c)) => {
                    check_class_name(c).map_err(|e| err(e.to_string()))?;
                    if c != DEFAULT_CLASS && !classes.iter().any(|k| k == c) {
                        return Err(err(format!(
                            "class {c:?} is not defined in \"classes\" (defined: {DEFAULT_CLASS}{})",
                            classes.iter().map(|k| format!(", {k}")).collect::<String>()
                        )));
                    }
                }
                (Action::Drop, None) => {}
            }
            rules.push(rule);
        }
        Ok(Routes { rules })
    }
}

/// Checks class names and that none is defined twice.
pub fn check_classes<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), RoutingError> {
    let mut seen: Vec<&str> = Vec::new();
    for (index, name) in names.into_iter().enumerate() {
        check_class_name(name)?;
        if seen.contains(&name) {
            return Err(RoutingError::DuplicateClass {
                index,
                name: name.to_string(),
            });
        }
        seen.push(name);
    }
    Ok(())
}

/// A glob as an anchored regular expression: `*` any run, `?` one
/// character, everything else literal.
pub fn glob_to_regex(glob: &str) -> String {
    let mut re = String::with_capacity(glob.len() + 8);
    re.push('^');
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '\\' | '.' | '+' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => {
                re.push('\\');
                re.push(c);
            }
            c => re.push(c),
        }
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<Routes, RoutingError> {
        Routes::parse(v.as_array().unwrap(), &["long".to_string()])
    }

    #[test]
    fn the_json_shape() {
        let r = parse(json!([
            {"match": {"labels": {"afterlog.io/collect": "false"}}, "action": "drop"},
            {"match": {"kind": {"in": ["build"]}, "namespace": {"glob": "tool-*"}}, "action": "class", "class": "long"},
            {"match": {"annotations": {"x": {"present": false}}, "pod": {"regex": "^web-"}}, "action": "class", "class": "default"},
            {"action": "drop"}
        ]))
        .unwrap();
        assert_eq!(r.rules.len(), 4);
        assert_eq!(
            r.rules[0].when.labels["afterlog.io/collect"],
            Pattern::Exact("false".into())
        );
        assert_eq!(
            r.rules[1].when.namespace,
            Some(Pattern::Test(Test::Glob("tool-*".into())))
        );
        assert_eq!(r.rules[3].when, Match::default());
    }

    #[test]
    fn mistakes_name_the_rule() {
        let cases = [
            (
                json!([{"action": "drop"}, {"action": "archive"}]),
                "routes[1]: unknown variant `archive`",
            ),
            (
                json!([{"action": "class"}]),
                "routes[0]: \"action\": \"class\" needs \"class\"",
            ),
            (
                json!([{"action": "drop", "class": "long"}]),
                "routes[0]: \"action\": \"drop\" takes no",
            ),
            (
                json!([{"action": "class", "class": "nope"}]),
                "routes[0]: class \"nope\" is not defined",
            ),
            (
                json!([{"action": "class", "class": "Bad_Name"}]),
                "routes[0]: class name \"Bad_Name\"",
            ),
            (
                json!([{"match": {"nmespace": "x"}, "action": "drop"}]),
                "routes[0]: unknown field `nmespace`",
            ),
            (
                json!([{}, {"match": {"pod": {"globb": "x"}}, "action": "drop"}]),
                "routes[0]: missing field `action`",
            ),
            (
                json!([{"match": {"pod": {"globb": "x"}}, "action": "drop"}]),
                "routes[0]: a match value is a string or one of",
            ),
        ];
        for (v, want) in cases {
            let e = parse(v).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}\n  wanted {want}");
        }
    }

    #[test]
    fn class_names() {
        for ok in ["default", "long-retention", "a", "x9", &"a".repeat(63)] {
            check_class_name(ok).unwrap();
        }
        for bad in ["", "Long", "a.b", "a/b", "a_b", "é", &"a".repeat(64)] {
            assert!(check_class_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            check_classes(["a", "b", "a"]),
            Err(RoutingError::DuplicateClass {
                index: 2,
                name: "a".into()
            })
        );
    }

    #[test]
    fn globs() {
        assert_eq!(glob_to_regex("tool-*"), "^tool-.*$");
        assert_eq!(glob_to_regex("a?c.d"), "^a.c\\.d$");
        assert_eq!(glob_to_regex("[x]+(y)"), "^\\[x\\]\\+\\(y\\)$");
    }
}
