//! Label rules: how the filter derives `tool`, `job` and `kind` from a pod's
//! Kubernetes metadata. Rules are data (the filter's JSON config); for each
//! field they are tried in order and the first that yields a value wins.
//!
//! A rule reads one source (a pod label or annotation, the namespace, the pod
//! name, the container name, or a constant), then optionally
//! - `regex`: must match; the first capture group (or the whole match) is the value;
//! - `map`: the value is looked up; a value not in the map makes the rule yield nothing;
//! - `value`: replaces whatever matched (e.g. "this label exists → kind cronjob").

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Label,
    Annotation,
    Namespace,
    Pod,
    Container,
    Constant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub from: Source,
    /// The label or annotation key, for `label` and `annotation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RuleError {
    #[error("rule needs \"key\" with from={0:?}")]
    MissingKey(Source),
    #[error("rule has \"key\" but from={0:?} takes none")]
    UnexpectedKey(Source),
    #[error("rule with from=constant needs \"value\"")]
    MissingValue,
}

impl Rule {
    /// Structural checks; the regex itself is compiled by the filter.
    pub fn check(&self) -> Result<(), RuleError> {
        match (self.from, &self.key) {
            (Source::Label | Source::Annotation, None) => Err(RuleError::MissingKey(self.from)),
            (Source::Label | Source::Annotation, Some(_)) => Ok(()),
            (_, Some(_)) => Err(RuleError::UnexpectedKey(self.from)),
            (Source::Constant, None) if self.value.is_none() => Err(RuleError::MissingValue),
            _ => Ok(()),
        }
    }

    fn new(from: Source) -> Self {
        Rule {
            from,
            key: None,
            regex: None,
            map: None,
            value: None,
        }
    }
    /// A rule reading pod label `key`.
    pub fn label(key: &str) -> Self {
        Rule {
            key: Some(key.into()),
            ..Self::new(Source::Label)
        }
    }
    /// A rule reading `from` (not a label or annotation).
    pub fn of(from: Source) -> Self {
        Self::new(from)
    }
    /// A rule always yielding `value`.
    pub fn constant(value: &str) -> Self {
        Rule {
            value: Some(value.into()),
            ..Self::new(Source::Constant)
        }
    }
    pub fn regex(mut self, re: &str) -> Self {
        self.regex = Some(re.into());
        self
    }
    pub fn value(mut self, v: &str) -> Self {
        self.value = Some(v.into());
        self
    }
    pub fn map(mut self, pairs: &[(&str, &str)]) -> Self {
        self.map = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self
    }
}

/// The rules for each derived field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelRules {
    #[serde(default = "default_tool")]
    pub tool: Vec<Rule>,
    #[serde(default = "default_job")]
    pub job: Vec<Rule>,
    #[serde(default = "default_kind")]
    pub kind: Vec<Rule>,
}

impl Default for LabelRules {
    fn default() -> Self {
        LabelRules {
            tool: default_tool(),
            job: default_job(),
            kind: default_kind(),
        }
    }
}

/// Explicit per-pod overrides an admin or tool can set on any pod.
pub const LABEL_TOOL: &str = "afterlog.io/tool";
pub const LABEL_JOB: &str = "afterlog.io/job";
pub const LABEL_KIND: &str = "afterlog.io/kind";

/// A CronJob's Job is named `<cronjob>-<scheduled minute since the epoch>`.
const CRON_RUN: &str = "^(.+)-[0-9]{8,}$";
/// Kubernetes' generated-name alphabet (no vowels, no 0/1/3, to avoid words).
const GEN: &str = "[bcdfghjklmnpqrstvwxz2456789]";

/// Tool: explicit label, then `tool-<name>` namespaces (Toolforge), then a
/// build pod's `tekton.dev/pipelineRun` (`<tool>-buildpacks-pipelinerun-<id>`).
pub fn default_tool() -> Vec<Rule> {
    vec![
        Rule::label(LABEL_TOOL),
        Rule::of(Source::Namespace).regex("^tool-(.+)$"),
        Rule::label("tekton.dev/pipelineRun").regex("^(.+)-buildpacks-pipelinerun-[a-z0-9]+$"),
    ]
}

/// Job: explicit label; builds under `build`; Toolforge's
/// `app.kubernetes.io/name`; a Job's `job-name` with a cron run suffix
/// stripped; then the pod name with the suffixes of CronJob, ReplicaSet,
/// Job and StatefulSet pods stripped; the pod name as a last resort.
pub fn default_job() -> Vec<Rule> {
    let pod = |re: String| Rule::of(Source::Pod).regex(&re);
    vec![
        Rule::label(LABEL_JOB),
        Rule::label("tekton.dev/pipelineRun").value("build"),
        Rule::label("app.kubernetes.io/name"),
        Rule::label("job-name").regex(CRON_RUN),
        Rule::label("job-name"),
        Rule::label("batch.kubernetes.io/job-name").regex(CRON_RUN),
        Rule::label("batch.kubernetes.io/job-name"),
        pod(format!("^(.+)-[0-9]{{8,}}-{GEN}{{5}}$")),
        pod(format!("^(.+)-{GEN}{{6,10}}-{GEN}{{5}}$")),
        pod(format!("^(.+)-{GEN}{{5}}$")),
        pod("^(.+)-[0-9]+$".into()),
        Rule::of(Source::Pod),
    ]
}

/// Kind: explicit label; Toolforge's component label; build, cron run, job,
/// ReplicaSet pod (continuous), else `other`.
pub fn default_kind() -> Vec<Rule> {
    vec![
        Rule::label(LABEL_KIND),
        Rule::label("app.kubernetes.io/component").map(&[
            ("jobs", "job"),
            ("cronjobs", "cronjob"),
            ("deployments", "continuous"),
            ("web", "webservice"),
            ("webservice", "webservice"),
        ]),
        Rule::label("app.kubernetes.io/managed-by").map(&[("webservice", "webservice")]),
        Rule::label("tekton.dev/pipelineRun").value("build"),
        Rule::label("job-name").regex(CRON_RUN).value("cronjob"),
        Rule::label("batch.kubernetes.io/job-name")
            .regex(CRON_RUN)
            .value("cronjob"),
        Rule::label("job-name").value("job"),
        Rule::label("batch.kubernetes.io/job-name").value("job"),
        Rule::label("pod-template-hash").value("continuous"),
        Rule::constant("other"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_well_formed() {
        let d = LabelRules::default();
        for r in d.tool.iter().chain(&d.job).chain(&d.kind) {
            r.check().unwrap();
        }
    }

    #[test]
    fn json_shape() {
        let r: Rule =
            serde_json::from_str(r#"{"from":"label","key":"job-name","regex":"^(.+)-\\d+$"}"#)
                .unwrap();
        assert_eq!(r, Rule::label("job-name").regex("^(.+)-\\d+$"));
        assert!(serde_json::from_str::<Rule>(r#"{"from":"label","kye":"x"}"#).is_err());
        assert!(serde_json::from_str::<Rule>(r#"{"from":"labels"}"#).is_err());
        assert_eq!(
            Rule::of(Source::Label).check(),
            Err(RuleError::MissingKey(Source::Label))
        );
        assert_eq!(
            Rule::of(Source::Constant).check(),
            Err(RuleError::MissingValue)
        );
        let partial: LabelRules =
            serde_json::from_str(r#"{"tool":[{"from":"constant","value":"x"}]}"#).unwrap();
        assert_eq!(partial.job, default_job());
    }
}
