//! The drop-in's classes against the stores given: each class the drop-in
//! stores apart needs a `--class` for serve and compact to read and
//! compact it, at the bucket and prefix its output writes.

use super::drop_in::outputs::Routing;
use super::report::Line;

/// `default_url`: `--store` as a URL; `classes`: each `--class` name and URL.
pub fn check(routing: &Routing, default_url: &str, classes: &[(String, String)]) -> Vec<Line> {
    let subject = "classes";
    let mut lines = Vec::new();
    let store = default_url.trim_end_matches('/');
    // An s3_key_format that cannot be read is the REQUIRED check's to report.
    let known_prefix = routing.catch_all_prefix.as_deref();
    let catch_prefix = known_prefix.unwrap_or("");
    // The bucket's root, which every output's prefix is relative to.
    let root = match in_bucket(store) {
        Some((root, path)) if known_prefix.is_some_and(|p| p != path) => {
            let label = routing
                .catch_all
                .as_ref()
                .map_or("the catch-all output", |c| &c.0);
            let want = if catch_prefix.is_empty() {
                root.to_string()
            } else {
                format!("{root}/{catch_prefix}")
            };
            lines.push(Line::fail(
                subject,
                format!(
                    "--store {store}, but the drop-in's {label} writes `default` at {want}:                      serve and compact would not see its records"
                ),
                format!("--store {want} (here, and for serve and compact)"),
            ));
            root.to_string()
        }
        Some((root, _)) => root.to_string(),
        // A local directory has no bucket to tell apart: its root is the store.
        None => store
            .strip_suffix(&format!("/{catch_prefix}"))
            .filter(|_| !catch_prefix.is_empty())
            .unwrap_or(store)
            .to_string(),
    };
    for (class, out) in &routing.own {
        let Some((_, url)) = classes.iter().find(|(c, _)| c == class) else {
            lines.push(Line::fail(
                subject,
                format!(
                    "the drop-in stores class {class} apart ({}), but no --class {class}=… is given: \
                     serve and compact would neither read nor expire it",
                    out.label
                ),
                format!(
                    "pass --class {class}=<its store> here and to both serve and compact \
                     (docs/admin-guide.md, several routing classes)"
                ),
            ));
            continue;
        };
        let Some(prefix) = &out.prefix else {
            // Its s3_key_format is the REQUIRED check's to report.
            continue;
        };
        let url = url.trim_end_matches('/');
        // Same bucket setting as the default's output: the class lies at
        // its prefix of the default store's bucket.
        let same_bucket = out.bucket.is_some() && out.bucket == routing.catch_all_bucket;
        let (ok, want) = if same_bucket {
            let want = if prefix.is_empty() {
                root.clone()
            } else {
                format!("{root}/{prefix}")
            };
            (url == want, want)
        } else if prefix.is_empty() {
            let root = url
                .split_once("://")
                .is_some_and(|(_, rest)| !rest.contains('/'));
            (root, "the root of its bucket".to_string())
        } else {
            (url.ends_with(&format!("/{prefix}")), format!("…/{prefix}"))
        };
        if ok {
            lines.push(Line::pass(
                subject,
                format!(
                    "--class {class}={url} is where the drop-in's {} writes",
                    out.label
                ),
            ));
        } else {
            lines.push(Line::fail(
                subject,
                format!(
                    "--class {class}={url}, but the drop-in's {} writes it at {want}: its records \
                     would not be read",
                    out.label
                ),
                format!("--class {class}={want} (here, and for serve and compact)"),
            ));
        }
    }
    for (class, url) in classes {
        if !routing.own.contains_key(class) {
            lines.push(Line::fail(
                subject,
                format!(
                    "--class {class}={url}, but the drop-in has no s3 output for class {class}: \
                     its records are stored with `default`, and this store stays empty"
                ),
                format!(
                    "give class {class} an s3 output in the drop-in (docs/routing.md, adding a class \
                     end to end), or drop the --class"
                ),
            ));
        }
    }
    lines
}

/// `s3://bucket/a/b` → `("s3://bucket", "a/b")`; `None` for a store
/// without buckets (a local directory).
fn in_bucket(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "s3" | "gs" | "az") {
        return None;
    }
    let bucket_end = scheme.len() + 3 + rest.find('/').unwrap_or(rest.len());
    Some((&url[..bucket_end], url[bucket_end..].trim_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::super::drop_in::outputs::routing;
    use super::super::drop_in::pipeline::{Format, parse};
    use super::super::report::Status;
    use super::*;

    const YAML: &str = include_str!("../../../fluent-bit/afterlog.yaml");

    fn shipped() -> Routing {
        routing(&parse(YAML, Format::Yaml).unwrap())
    }

    fn pair(c: &str, u: &str) -> Vec<(String, String)> {
        vec![(c.to_string(), u.to_string())]
    }

    #[test]
    fn the_shipped_class_at_its_prefix_passes() {
        let got = check(
            &shipped(),
            "s3://logs",
            &pair("long-retention", "s3://logs/long-retention"),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].status, Status::Pass, "{got:?}");
        let got = check(
            &shipped(),
            "file:///d/data/",
            &pair("long-retention", "file:///d/data/long-retention"),
        );
        assert_eq!(got[0].status, Status::Pass, "{got:?}");
    }

    #[test]
    fn mistakes() {
        let got = check(&shipped(), "s3://logs", &[]);
        assert_eq!(got.len(), 1);
        assert!(
            got[0]
                .detail
                .contains("no --class long-retention=… is given")
        );

        let got = check(
            &shipped(),
            "s3://logs",
            &pair("long-retention", "s3://logs/long"),
        );
        assert!(
            got[0]
                .detail
                .contains("writes it at s3://logs/long-retention"),
            "{got:?}"
        );

        // --store under a prefix the catch-all does not write at.
        let got = check(
            &shipped(),
            "s3://logs/afterlog",
            &pair("long-retention", "s3://logs/long-retention"),
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].status, Status::Fail);
        assert!(
            got[0].detail.contains("writes `default` at s3://logs"),
            "{got:?}"
        );
        // The class is still judged from the bucket's root, not --store's prefix.
        assert_eq!(got[1].status, Status::Pass, "{got:?}");

        let mut two = pair("long-retention", "s3://logs/long-retention");
        two.extend(pair("audit", "s3://logs/audit"));
        let got = check(&shipped(), "s3://logs", &two);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].status, Status::Fail);
        assert!(got[1].detail.contains("no s3 output for class audit"));
    }
}
