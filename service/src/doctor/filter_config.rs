//! The filter config (`afterlog-filter.json`), read by the filter's own
//! code: it parses, its label and routing rules compile, and each class it
//! names has an s3 output of its own in the drop-in.

use super::drop_in::outputs::Routing;
use super::report::Line;
use afterlog_contract::routing::DEFAULT_CLASS;
use afterlog_filter::{Config, Filter};
use std::path::Path;

const FIX: &str = "fix the file (docs/admin-guide.md, the filter config; try it with \
    afterlog-filter-run --config-dir DIR): the filter runs on its built-in defaults when it starts \
    with this file, and keeps the running config when it reloads it";

/// The file's checks; `routing`: the drop-in's, when one was given.
pub fn check_file(path: &Path, routing: Option<&Routing>) -> Vec<Line> {
    let subject = format!("filter config {}", path.display());
    match std::fs::read(path) {
        Ok(text) => check(&subject, &text, routing),
        Err(e) => vec![Line::fail(
            subject,
            format!("cannot be read: {e}"),
            "give --filter-config the path of afterlog-filter.json",
        )],
    }
}

/// [`check_file`] of the file's contents.
pub fn check(subject: &str, text: &[u8], routing: Option<&Routing>) -> Vec<Line> {
    // The filter's own reading: the same errors it prints at start.
    let cfg = match Config::parse(text) {
        Ok(c) => c,
        Err(e) => return vec![Line::fail(subject, e.to_string(), FIX)],
    };
    let classes: Vec<String> = cfg
        .classes
        .iter()
        .map(|c| c.name.clone())
        .filter(|c| c != DEFAULT_CLASS)
        .collect();
    let rules = cfg.labels.tool.len() + cfg.labels.job.len() + cfg.labels.kind.len();
    let routes = cfg.routing.rules.len();
    if let Err(e) = Filter::new(cfg) {
        return vec![Line::fail(subject, e.to_string(), FIX)];
    }
    let named = if classes.is_empty() {
        "no class but default".to_string()
    } else {
        format!("classes {}", classes.join(", "))
    };
    let mut lines = vec![Line::pass(
        subject,
        format!("parses, and its rules compile ({rules} label rules, {routes} routes; {named})"),
    )];
    let Some(routing) = routing else {
        lines.push(Line::skip(
            format!("{subject} vs drop-in"),
            "no --drop-in given: whether each class has an s3 output is not checked",
        ));
        return lines;
    };
    let mut missing = Vec::new();
    for c in &classes {
        if !routing.own.contains_key(c) {
            missing.push(c);
        }
    }
    if missing.is_empty() {
        lines.push(Line::pass(
            subject,
            if classes.is_empty() {
                "names no class that needs an s3 output of its own".to_string()
            } else {
                format!(
                    "every class it names has an s3 output in the drop-in ({})",
                    classes.join(", ")
                )
            },
        ));
    }
    let catch_all = routing
        .catch_all
        .as_ref()
        .map_or("no output".to_string(), |(l, _)| l.clone());
    for c in missing {
        lines.push(Line::fail(
            subject,
            format!(
                "class {c} has no s3 output of its own in the drop-in: its records are stored with \
                 `default` (through {catch_all}), under default's retention"
            ),
            format!(
                "add an s3 output for {c} to the drop-in and {c} to the catch-all's look-ahead, \
                 before routing records to it (docs/routing.md, adding a class end to end)"
            ),
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::drop_in::outputs::routing;
    use super::super::drop_in::pipeline::{Format, parse};
    use super::super::report::Status;
    use super::*;

    const SHIPPED: &[u8] = include_bytes!("../../../fluent-bit/afterlog-filter.json");
    const YAML: &str = include_str!("../../../fluent-bit/afterlog.yaml");

    fn statuses(lines: &[Line]) -> Vec<Status> {
        lines.iter().map(|l| l.status).collect()
    }

    #[test]
    fn the_shipped_config_passes_with_the_shipped_drop_in() {
        let r = routing(&parse(YAML, Format::Yaml).unwrap());
        let lines = check("f", SHIPPED, Some(&r));
        assert_eq!(statuses(&lines), [Status::Pass, Status::Pass], "{lines:?}");
        assert!(
            lines[0].detail.contains("classes long-retention"),
            "{lines:?}"
        );
        let alone = check("f", SHIPPED, None);
        assert_eq!(statuses(&alone), [Status::Pass, Status::Skip]);
    }

    #[test]
    fn a_bad_regex_fails_with_the_filters_message() {
        let text = br#"{"labels": {"tool": [{"from": "namespace", "regex": "^tool-(.+$"}]}}"#;
        let lines = check("f", text, None);
        assert_eq!(statuses(&lines), [Status::Fail]);
        assert!(
            lines[0].detail.starts_with("labels.tool[0]: bad regex:"),
            "{lines:?}"
        );
        let text = br#"{"routes": [{"match": {"pod": {"regex": "("}}, "action": "drop"}]}"#;
        let lines = check("f", text, None);
        assert!(
            lines[0].detail.starts_with("routes[0]: bad regex:"),
            "{lines:?}"
        );
        let lines = check("f", b"{\"line_limit\": 1}", None);
        assert!(
            lines[0].detail.contains("unknown field `line_limit`"),
            "{lines:?}"
        );
    }

    #[test]
    fn a_class_without_an_output_fails() {
        let r = routing(&parse(YAML, Format::Yaml).unwrap());
        let text = br#"{"classes": [{"name": "long-retention"}, {"name": "audit"}],
                        "routes": [{"match": {"namespace": "x"}, "action": "class", "class": "audit"}]}"#;
        let lines = check("f", text, Some(&r));
        assert_eq!(statuses(&lines), [Status::Pass, Status::Fail], "{lines:?}");
        assert!(
            lines[1]
                .detail
                .starts_with("class audit has no s3 output of its own"),
            "{lines:?}"
        );
    }
}
