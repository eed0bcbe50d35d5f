//! The Fluent Bit drop-in as deployed (`afterlog.yaml` or `afterlog.conf`):
//! every REQUIRED setting there with a value afterlog works with
//! ([`required`]), and the s3 outputs' routing of the classes consistent
//! ([`outputs`]). Read with [`pipeline`], in either format.

pub mod outputs;
pub mod pipeline;
pub mod required;

use super::report::Line;
use outputs::Routing;
use pipeline::{Format, Pipeline};
use required::Finding;
use std::path::Path;

/// The drop-in's lines, and its routing for the checks that compare
/// against it (`None` if it could not be read).
pub fn check_file(path: &Path) -> (Vec<Line>, Option<Routing>) {
    let subject = format!("drop-in {}", path.display());
    match std::fs::read_to_string(path) {
        Ok(text) => check(&subject, &text, Format::detect(path, &text)),
        Err(e) => (
            vec![Line::fail(
                subject,
                format!("cannot be read: {e}"),
                "give --drop-in the path of the deployed afterlog.yaml or afterlog.conf",
            )],
            None,
        ),
    }
}

/// `key: value` or `key value`, as the format writes a setting.
fn setting(format: Format, key: &str, value: &str) -> String {
    match format {
        Format::Yaml => format!("`{key}: {value}`"),
        Format::Classic => format!("`{key}  {value}`"),
    }
}

/// [`check_file`] of the file's text in `format`.
pub fn check(subject: &str, text: &str, format: Format) -> (Vec<Line>, Option<Routing>) {
    let p = match pipeline::parse(text, format) {
        Ok(p) => p,
        Err(e) => {
            return (
                vec![Line::fail(
                    subject,
                    format!("not a {} Fluent Bit config: {e}", format.name()),
                    "fix the file (`fluent-bit --dry-run -c <main config>` shows what Fluent Bit makes of it)",
                )],
                None,
            );
        }
    };
    let mut lines = required_lines(subject, &p, format);
    let r = outputs::routing(&p);
    lines.extend(routing_lines(subject, &r, format));
    (lines, Some(r))
}

fn required_lines(subject: &str, p: &Pipeline, format: Format) -> Vec<Line> {
    let findings = required::check(p);
    if findings.is_empty() {
        return vec![Line::pass(
            subject,
            format!(
                "all {} REQUIRED settings of its {} instances are as afterlog needs them ({} format)",
                required::checked(p),
                p.instances.len(),
                format.name()
            ),
        )];
    }
    findings
        .into_iter()
        .map(|f| match f {
            Finding::NoInstance { kind, plugin } => Line::fail(
                subject,
                format!("no `{plugin}` {}", kind.word()),
                format!(
                    "add the shipped drop-in's `{plugin}` {} (fluent-bit/afterlog.{})",
                    kind.word(),
                    if format == Format::Yaml {
                        "yaml"
                    } else {
                        "conf"
                    }
                ),
            ),
            Finding::Setting(s) => {
                let found = match &s.found {
                    None => "is not set".to_string(),
                    Some(v) => format!("is `{v}`"),
                };
                Line::fail(
                    subject,
                    format!(
                        "{}: REQUIRED {} {found}, want {}: {}",
                        s.instance, s.key, s.want, s.why
                    ),
                    format!(
                        "set {} in {} (as shipped)",
                        setting(format, &s.key, &s.shipped),
                        s.instance
                    ),
                )
            }
        })
        .collect()
}

fn routing_lines(subject: &str, r: &Routing, format: Format) -> Vec<Line> {
    if r.problems.is_empty() {
        let (label, left_out) = r.catch_all.clone().unwrap_or_default();
        let classes = if left_out.is_empty() {
            "none".to_string()
        } else {
            left_out.into_iter().collect::<Vec<_>>().join(", ")
        };
        return vec![Line::pass(
            subject,
            format!(
                "s3 outputs: {label}'s look-ahead leaves out exactly the classes with an output of their own ({classes})"
            ),
        )];
    }
    let want = outputs::wanted_lookahead(&r.own);
    let catch_all = r
        .catch_all
        .as_ref()
        .map_or("the catch-all s3 output".to_string(), |(l, _)| l.clone());
    let quoted = match format {
        Format::Yaml => format!("'{want}'"),
        Format::Classic => want.clone(),
    };
    r.problems
        .iter()
        .map(|m| {
            Line::fail(
                subject,
                format!("s3 outputs: {m}"),
                format!(
                    "give every class in the look-ahead an s3 output of its own and the other way round, \
                     e.g. {} in {catch_all} for the outputs there are (docs/routing.md, adding a class end to end)",
                    setting(format, "match_regex", &quoted)
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::report::Status;
    use super::*;

    const YAML: &str = include_str!("../../../../fluent-bit/afterlog.yaml");
    const CONF: &str = include_str!("../../../../fluent-bit/afterlog.conf");

    #[test]
    fn the_shipped_files_pass() {
        for (text, f) in [(YAML, Format::Yaml), (CONF, Format::Classic)] {
            let (lines, r) = check("d", text, f);
            assert!(lines.iter().all(|l| l.status == Status::Pass), "{lines:?}");
            assert_eq!(lines.len(), 2);
            assert!(r.unwrap().own.contains_key("long-retention"));
        }
    }

    #[test]
    fn a_removed_setting_fails_with_its_fix_in_the_files_format() {
        let text = YAML.replacen("      use_put_object: on\n", "", 1);
        let (lines, _) = check("d", &text, Format::Yaml);
        let failed: Vec<String> = lines
            .iter()
            .filter(|l| l.failed())
            .map(|l| l.to_string())
            .collect();
        assert_eq!(
            failed,
            [
                "FAIL  d: afterlog_s3: REQUIRED use_put_object is not set, want `on`: one gzip object per upload, \
              no multipart leftovers — fix: set `use_put_object: on` in afterlog_s3 (as shipped)"
            ]
        );
        let text = CONF.replace("    offset_key                    off\n", "");
        let (lines, _) = check("d", &text, Format::Classic);
        let failed: Vec<&Line> = lines.iter().filter(|l| l.failed()).collect();
        assert_eq!(failed.len(), 1, "{lines:?}");
        assert_eq!(
            failed[0].fix.as_deref(),
            Some("set `offset_key  off` in afterlog_tail (as shipped)")
        );
    }

    #[test]
    fn a_wrong_lookahead_fails_with_the_right_one() {
        let text = YAML.replace("(?!long-retention\\.)", "(?!long-retentio\\.)");
        let (lines, _) = check("d", &text, Format::Yaml);
        let failed: Vec<&Line> = lines.iter().filter(|l| l.failed()).collect();
        assert_eq!(failed.len(), 2, "{lines:?}");
        assert!(
            failed[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("`match_regex: '^afterlog\\.(?!long-retention\\.)'` in afterlog_s3"),
            "{failed:?}"
        );
    }

    #[test]
    fn an_unreadable_file_fails_once() {
        let (lines, r) = check("d", "pipeline: [", Format::Yaml);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].failed());
        assert!(r.is_none());
    }
}
