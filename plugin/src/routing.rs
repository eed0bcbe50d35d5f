//! Routing rules compiled and evaluated (the rule language is in
//! [`afterlog_contract::routing`]). Pure: a container's metadata and
//! derived labels in, a decision out. Evaluated once per container (the
//! result is cached with its labels), never per record.

use crate::config::{Budget, Config, ConfigError};
use crate::labels::{Labels, PodMeta};
use afterlog_contract::routing::{Action, DEFAULT_CLASS, Pattern, Test, glob_to_regex};
use regex_lite::Regex;

/// What the rules decide for a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// Not collected.
    Drop,
    /// Collected in this class.
    Class(&'a Class),
}

/// A class and what it overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub name: String,
    pub quota: Option<Budget>,
    pub line_limit_bytes: Option<usize>,
}

enum Matcher {
    Exact(String),
    Regex(Regex),
    In(Vec<String>),
    Present(bool),
}

impl Matcher {
    fn compile(p: &Pattern, index: usize) -> Result<Matcher, ConfigError> {
        let re = |what, src: &str| {
            Regex::new(src).map_err(|e| ConfigError::RouteRegex {
                index,
                what,
                message: e.to_string(),
            })
        };
        Ok(match p {
            Pattern::Exact(s) => Matcher::Exact(s.clone()),
            Pattern::Test(Test::Glob(g)) => Matcher::Regex(re("glob", &glob_to_regex(g))?),
            Pattern::Test(Test::Regex(r)) => Matcher::Regex(re("regex", r)?),
            Pattern::Test(Test::In(v)) => Matcher::In(v.clone()),
            Pattern::Test(Test::Present(b)) => Matcher::Present(*b),
        })
    }

    /// `None`: the label or annotation is not there.
    fn matches(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Matcher::Present(want), v) => *want == v.is_some(),
            (_, None) => false,
            (Matcher::Exact(s), Some(v)) => s == v,
            (Matcher::Regex(re), Some(v)) => re.is_match(v),
            (Matcher::In(set), Some(v)) => set.iter().any(|s| s == v),
        }
    }
}

#[derive(Clone, Copy)]
enum Field {
    Namespace,
    Pod,
    Container,
    Tool,
    Job,
    Kind,
}

struct Rule {
    fields: Vec<(Field, Matcher)>,
    labels: Vec<(String, Matcher)>,
    annotations: Vec<(String, Matcher)>,
    /// `None`: drop; else an index into the classes.
    class: Option<usize>,
}

/// The compiled rules and the classes they name.
pub struct Router {
    rules: Vec<Rule>,
    /// `default` first.
    classes: Vec<Class>,
}

impl Router {
    /// Compiles `cfg`'s routes (already checked by [`Config::parse`]).
    pub fn new(cfg: &Config) -> Result<Router, ConfigError> {
        let mut classes = vec![Class {
            name: DEFAULT_CLASS.to_string(),
            quota: None,
            line_limit_bytes: None,
        }];
        for k in &cfg.classes {
            let class = Class {
                name: k.name.clone(),
                quota: k.quota,
                line_limit_bytes: k.line_limit_bytes,
            };
            // `default` may be listed to give it overrides.
            match classes.iter_mut().find(|c| c.name == k.name) {
                Some(c) => *c = class,
                None => classes.push(class),
            }
        }
        let mut rules = Vec::with_capacity(cfg.routing.rules.len());
        for (index, r) in cfg.routing.rules.iter().enumerate() {
            let w = &r.when;
            let mut fields = Vec::new();
            for (field, p) in [
                (Field::Namespace, &w.namespace),
                (Field::Pod, &w.pod),
                (Field::Container, &w.container),
                (Field::Tool, &w.tool),
                (Field::Job, &w.job),
                (Field::Kind, &w.kind),
            ] {
                if let Some(p) = p {
                    fields.push((field, Matcher::compile(p, index)?));
                }
            }
            let pairs = |m: &std::collections::BTreeMap<String, Pattern>| {
                m.iter()
                    .map(|(k, p)| Ok((k.clone(), Matcher::compile(p, index)?)))
                    .collect::<Result<Vec<_>, ConfigError>>()
            };
            let class = match r.action {
                Action::Drop => None,
                Action::Class => {
                    let name = r.class.as_deref().unwrap_or(DEFAULT_CLASS);
                    Some(classes.iter().position(|c| c.name == name).unwrap_or(0))
                }
            };
            rules.push(Rule {
                fields,
                labels: pairs(&w.labels)?,
                annotations: pairs(&w.annotations)?,
                class,
            });
        }
        Ok(Router { rules, classes })
    }

    /// The first matching rule's decision; the `default` class if none.
    pub fn route(&self, meta: &PodMeta, labels: &Labels) -> Route<'_> {
        for r in &self.rules {
            let fields = r.fields.iter().all(|(f, m)| {
                m.matches(Some(match f {
                    Field::Namespace => &meta.namespace,
                    Field::Pod => &meta.pod,
                    Field::Container => &meta.container,
                    Field::Tool => &labels.tool,
                    Field::Job => &labels.job,
                    Field::Kind => &labels.kind,
                }))
            });
            if fields
                && r.labels.iter().all(|(k, m)| m.matches(meta.label(k)))
                && r.annotations
                    .iter()
                    .all(|(k, m)| m.matches(meta.annotation(k)))
            {
                return match r.class {
                    None => Route::Drop,
                    Some(i) => Route::Class(&self.classes[i]),
                };
            }
        }
        Route::Class(&self.classes[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn router(cfg: serde_json::Value) -> Router {
        Router::new(&Config::parse(cfg.to_string().as_bytes()).unwrap()).unwrap()
    }

    fn pod(ns: &str, name: &str, labels: &[(&str, &str)]) -> (PodMeta, Labels) {
        let meta = PodMeta {
            namespace: ns.into(),
            pod: name.into(),
            container: "main".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..PodMeta::default()
        };
        let labels = Labels {
            tool: ns.trim_start_matches("tool-").into(),
            job: name.split('-').next().unwrap_or("").into(),
            kind: if name.starts_with("build") {
                "build"
            } else {
                "job"
            }
            .into(),
            namespace: ns.into(),
            pod: name.into(),
            container: "main".into(),
            container_id: String::new(),
            node: String::new(),
        };
        (meta, labels)
    }

    fn class_of(r: &Router, p: &(PodMeta, Labels)) -> String {
        match r.route(&p.0, &p.1) {
            Route::Drop => "DROP".into(),
            Route::Class(c) => c.name.clone(),
        }
    }

    #[test]
    fn the_common_cases() {
        let r = router(json!({
            "classes": [{"name": "long-retention", "quota": {"bytes": 5}}, {"name": "team"}, {"name": "platform"}],
            "routes": [
                {"match": {"labels": {"afterlog.io/collect": "false"}}, "action": "drop"},
                {"match": {"namespace": {"in": ["tool-noisy", "tool-spam"]}}, "action": "drop"},
                {"match": {"kind": "build"}, "action": "class", "class": "long-retention"},
                {"match": {"namespace": {"glob": "tool-team-*"}}, "action": "class", "class": "team"},
                {"match": {"labels": {"afterlog.io/platform": {"present": true}}, "pod": {"regex": "^deploy-"}}, "action": "class", "class": "platform"}
            ]
        }));
        let cases = [
            (pod("tool-foo", "web-1", &[]), "default"),
            (
                pod("tool-foo", "web-1", &[("afterlog.io/collect", "false")]),
                "DROP",
            ),
            (
                pod("tool-foo", "web-1", &[("afterlog.io/collect", "true")]),
                "default",
            ),
            (pod("tool-noisy", "x", &[]), "DROP"),
            (pod("tool-foo", "build-x", &[]), "long-retention"),
            // First match wins: opted out beats the build rule.
            (
                pod("tool-foo", "build-x", &[("afterlog.io/collect", "false")]),
                "DROP",
            ),
            (pod("tool-team-a", "web", &[]), "team"),
            (pod("tool-teamx", "web", &[]), "default"),
            (
                pod("tool-foo", "deploy-1", &[("afterlog.io/platform", "")]),
                "platform",
            ),
            (pod("tool-foo", "deploy-1", &[]), "default"),
            (
                pod("tool-foo", "web", &[("afterlog.io/platform", "")]),
                "default",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(class_of(&r, &p), want, "{p:?}");
        }
        match r.route(
            &pod("tool-foo", "build-1", &[]).0,
            &pod("tool-foo", "build-1", &[]).1,
        ) {
            Route::Class(c) => assert_eq!(c.quota.map(|b| b.bytes), Some(5)),
            Route::Drop => panic!(),
        }
    }

    #[test]
    fn bad_regex_names_its_rule() {
        let cfg = Config::parse(
            json!({"routes": [{"action": "drop"}, {"match": {"pod": {"regex": "(x"}}, "action": "drop"}]})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let e = Router::new(&cfg).err().unwrap().to_string();
        assert!(e.starts_with("routes[1]: bad regex:"), "{e}");
    }

    #[test]
    fn no_rules_means_everything_is_default() {
        let r = router(json!({}));
        assert_eq!(class_of(&r, &pod("tool-foo", "x", &[])), "default");
    }

    proptest! {
        /// Rules are tried in order: the decision is the first rule whose
        /// conditions all hold, evaluated one by one here.
        #[test]
        fn first_matching_rule_decides(
            rules in proptest::collection::vec((proptest::option::of(0u8..3), proptest::option::of(0u8..3), 0u8..4), 0..6),
            ns in 0u8..3, label in 0u8..3,
        ) {
            let names = ["tool-a", "tool-b", "tool-c"];
            let values = ["x", "y", "z"];
            let classes = ["default", "one", "two"];
            let json_rules: Vec<_> = rules.iter().map(|(n, l, act)| {
                let mut m = serde_json::Map::new();
                if let Some(n) = n { m.insert("namespace".into(), json!(names[*n as usize])); }
                if let Some(l) = l { m.insert("labels".into(), json!({"k": values[*l as usize]})); }
                if *act == 3 { json!({"match": m, "action": "drop"}) }
                else { json!({"match": m, "action": "class", "class": classes[*act as usize]}) }
            }).collect();
            let r = router(json!({"classes": [{"name": "one"}, {"name": "two"}], "routes": json_rules}));
            let p = pod(names[ns as usize], "p", &[("k", values[label as usize])]);
            let want = rules.iter().find(|(n, l, _)| {
                n.is_none_or(|n| n == ns) && l.is_none_or(|l| l == label)
            }).map_or("default".to_string(), |(_, _, act)| {
                if *act == 3 { "DROP".to_string() } else { classes[*act as usize].to_string() }
            });
            prop_assert_eq!(class_of(&r, &p), want);
        }
    }
}
