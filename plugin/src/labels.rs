//! Label derivation: from a pod's Kubernetes metadata to afterlog's labels,
//! by the ordered rules of the config ([`afterlog_contract::rules`]).

use crate::config::ConfigError;
use afterlog_contract::layout::Origin;
use afterlog_contract::rules::{LabelRules, Rule, Source};
use regex_lite::Regex;

/// The container id that ends a `tail` tag of a kubelet log file,
/// `…<pod>_<namespace>_<container>-<id>.log` (the `kubernetes` filter's own
/// pattern: 64 of `[a-z0-9]`).
///
/// It is the truth about which container wrote a line: the `kubernetes`
/// filter caches metadata per namespace, pod and container *name*, so after
/// a restart it keeps reporting the first container's `docker_id` for the
/// new container's lines.
pub fn tag_container_id(tag: &[u8]) -> Option<&[u8]> {
    let rest = tag.strip_suffix(b".log")?;
    let at = rest.len().checked_sub(64)?;
    let (head, id) = rest.split_at(at);
    let ok = head.last() == Some(&b'-')
        && id
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    ok.then_some(id)
}

/// What the `kubernetes` filter tells about the container a record came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodMeta {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub container_id: String,
    pub node: String,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
}

impl PodMeta {
    /// The pod label `key`'s value, if it has that label.
    pub fn label(&self, key: &str) -> Option<&str> {
        Self::lookup(&self.labels, key)
    }

    /// The pod annotation `key`'s value, if it has that annotation.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        Self::lookup(&self.annotations, key)
    }

    fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
        // Last wins, as with duplicate keys in JSON.
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// afterlog's labels of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub tool: String,
    pub job: String,
    pub kind: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub container_id: String,
    pub node: String,
}

impl Labels {
    pub fn origin(&self) -> Origin {
        Origin {
            tool: self.tool.clone(),
            job: self.job.clone(),
            pod: self.pod.clone(),
            container: self.container.clone(),
        }
    }
}

struct Compiled {
    rule: Rule,
    regex: Option<Regex>,
}

impl Compiled {
    fn apply(&self, meta: &PodMeta) -> Option<String> {
        let key = self.rule.key.as_deref().unwrap_or("");
        let source = match self.rule.from {
            Source::Label => meta.label(key)?,
            Source::Annotation => meta.annotation(key)?,
            Source::Namespace => &meta.namespace,
            Source::Pod => &meta.pod,
            Source::Container => &meta.container,
            Source::Constant => "",
        };
        let mut value = source;
        if let Some(re) = &self.regex {
            let caps = re.captures(source)?;
            value = caps
                .get(1)
                .or_else(|| caps.get(0))
                .map_or("", |m| m.as_str());
        }
        if let Some(map) = &self.rule.map {
            value = map.get(value)?;
        }
        if let Some(v) = &self.rule.value {
            value = v;
        }
        // An empty result is no result: the next rule gets its turn.
        (!value.is_empty()).then(|| value.to_string())
    }
}

/// The compiled rules.
pub struct Labeller {
    tool: Vec<Compiled>,
    job: Vec<Compiled>,
    kind: Vec<Compiled>,
}

fn compile(field: &'static str, rules: &[Rule]) -> Result<Vec<Compiled>, ConfigError> {
    rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let regex = match &rule.regex {
                Some(re) => Some(Regex::new(re).map_err(|e| ConfigError::Regex {
                    field,
                    index,
                    message: e.to_string(),
                })?),
                None => None,
            };
            Ok(Compiled {
                rule: rule.clone(),
                regex,
            })
        })
        .collect()
}

fn first(rules: &[Compiled], meta: &PodMeta) -> Option<String> {
    rules.iter().find_map(|r| r.apply(meta))
}

impl Labeller {
    pub fn new(rules: &LabelRules) -> Result<Self, ConfigError> {
        Ok(Labeller {
            tool: compile("tool", &rules.tool)?,
            job: compile("job", &rules.job)?,
            kind: compile("kind", &rules.kind)?,
        })
    }

    /// The labels of a container, or `None` when no rule names its tool
    /// (such records pass through the filter unchanged).
    pub fn derive(&self, meta: &PodMeta) -> Option<Labels> {
        let tool = first(&self.tool, meta)?;
        Some(Labels {
            job: first(&self.job, meta).unwrap_or_else(|| meta.pod.clone()),
            kind: first(&self.kind, meta).unwrap_or_else(|| "other".into()),
            tool,
            namespace: meta.namespace.clone(),
            pod: meta.pod.clone(),
            container: meta.container.clone(),
            container_id: meta.container_id.clone(),
            node: meta.node.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, name: &str, labels: &[(&str, &str)]) -> PodMeta {
        PodMeta {
            namespace: ns.into(),
            pod: name.into(),
            container: "c".into(),
            container_id: "abc".into(),
            node: "n1".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: vec![],
        }
    }

    fn derive(p: &PodMeta) -> Option<(String, String, String)> {
        let l = Labeller::new(&LabelRules::default()).unwrap().derive(p)?;
        Some((l.tool, l.job, l.kind))
    }

    fn t(a: &str, b: &str, c: &str) -> Option<(String, String, String)> {
        Some((a.into(), b.into(), c.into()))
    }

    #[test]
    fn toolforge_defaults() {
        // `namespace pod label=value,… => tool job kind` (`-`: not a tool).
        let cases = [
            // A one-off job created by the jobs framework.
            "tool-foo myjob-x7k2p job-name=myjob,app.kubernetes.io/name=myjob,app.kubernetes.io/component=jobs => foo myjob job",
            // Every run of a cron job lands in the cron job's name.
            "tool-foo nightly-28889999-abcde job-name=nightly-28889999 => foo nightly cronjob",
            "tool-foo nightly-28890000-zzzzz batch.kubernetes.io/job-name=nightly-28890000 => foo nightly cronjob",
            // A continuous job: a Deployment's replicas share the job.
            "tool-foo worker-7d9f8b6c5d-x2x4z pod-template-hash=7d9f8b6c5d => foo worker continuous",
            "tool-foo worker-7d9f8b6c5d-q8rtn pod-template-hash=7d9f8b6c5d => foo worker continuous",
            // A web service.
            "tool-foo foo-5c6d7f8b9-xk2lp app.kubernetes.io/component=web,pod-template-hash=5c6d7f8b9 => foo foo webservice",
            // A build pod, in the shared build namespace.
            "image-build foo-buildpacks-pipelinerun-vx8tq-build-pod tekton.dev/pipelineRun=foo-buildpacks-pipelinerun-vx8tq => foo build build",
            // Not a tool.
            "kube-system coredns-5d78c9869d-abcde => -",
            // Explicit labels win.
            "ops x-1 afterlog.io/tool=bar,afterlog.io/job=j,afterlog.io/kind=job => bar j job",
        ];
        for case in cases {
            let (meta, want) = case.split_once(" => ").unwrap();
            let mut words = meta.split(' ');
            let (ns, name) = (words.next().unwrap(), words.next().unwrap());
            let labels: Vec<(&str, &str)> = words
                .flat_map(|w| w.split(','))
                .map(|kv| kv.split_once('=').unwrap())
                .collect();
            let want = match want.split(' ').collect::<Vec<_>>()[..] {
                [tool, job, kind] => t(tool, job, kind),
                _ => None,
            };
            assert_eq!(derive(&pod(ns, name, &labels)), want, "{case}");
        }
    }

    #[test]
    fn pod_name_fallbacks() {
        assert_eq!(derive(&pod("tool-a", "db-0", &[])), t("a", "db", "other"));
        assert_eq!(
            derive(&pod("tool-a", "plain", &[])),
            t("a", "plain", "other")
        );
    }

    #[test]
    fn bad_regex_names_its_rule() {
        let mut rules = LabelRules::default();
        rules
            .job
            .insert(1, Rule::of(Source::Pod).regex("(unclosed"));
        let e = Labeller::new(&rules).err().unwrap();
        assert!(e.to_string().starts_with("labels.job[1]: bad regex"), "{e}");
    }

    #[test]
    fn map_miss_falls_through() {
        let p = pod("tool-a", "x", &[("app.kubernetes.io/component", "weird")]);
        assert_eq!(derive(&p).unwrap().2, "other");
    }
}
