//! A deletion request's body checked, without I/O: each field as a read
//! checks its parameter of the same name (400 naming it), and the time
//! window closed at the request's own time.

use crate::api::extract::check_name;
use crate::api::logs::request::{Run, line_match, window};
use crate::reply::ApiError;
use crate::wire::DeletionBody;
use afterlog_contract::query::Stream;
use afterlog_reader::deletion::Selected;

/// Largest body a deletion request takes: a few names and patterns.
pub const MAX_BODY: usize = 64 * 1024;

/// A checked request: what it selects, with `until` set, and the run to
/// resolve if it named `latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// `run` is left out when it is [`Run::Latest`]; the handler fills it
    /// in from the job's runs.
    pub selected: Selected,
    pub run: Option<Run>,
    pub dry_run: bool,
}

/// Parses a body: one JSON object, its fields those of [`DeletionBody`].
pub fn parse(body: &[u8]) -> Result<DeletionBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "empty body: send a JSON object such as {\"grep\": \"token=abc\"} ({} selects the whole job up to now)",
        ));
    }
    // serde would also take an array of the fields in order.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request("body: expected a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("body: {e}")))
}

impl DeletionBody {
    /// Checks the fields against each other; `now_ns` anchors ages and
    /// closes the window.
    pub fn check(self, now_ns: u64) -> Result<Checked, ApiError> {
        if let Some(r) = &self.run {
            check_name("run", r)?;
        }
        if let Some(c) = &self.container {
            check_name("container", c)?;
        }
        let stream = self
            .stream
            .as_deref()
            .map(|s| {
                s.parse::<Stream>()
                    .map_err(|e| ApiError::bad_request(e.to_string()))
            })
            .transpose()?;
        let (since, until) = window(self.since.as_deref(), self.until.as_deref(), now_ns)?;
        // A request never reaches lines written after it.
        let until = until.map_or(now_ns, |u| u.min(now_ns));
        if since.is_some_and(|s| s >= until) {
            return Err(ApiError::bad_request(
                "since is not before now: a deletion selects only lines already written",
            ));
        }
        if self.regex.as_deref() == Some("") {
            return Err(ApiError::bad_request(
                "regex: empty; leave it out to select lines by the other fields",
            ));
        }
        let grep = self.grep.map(|g| g.into_vec()).unwrap_or_default();
        // The read's own check: the same reasons, naming grep or regex.
        line_match(&grep, self.regex.as_deref(), self.ignore_case, None)?;
        let run = self.run.map(|r| match r.as_str() {
            "latest" => Run::Latest,
            _ => Run::Pod(r),
        });
        let selected = Selected {
            run: match &run {
                Some(Run::Pod(p)) => Some(p.clone()),
                _ => None,
            },
            container: self.container,
            stream: stream.map(|s| s.to_string()),
            since,
            until: Some(until),
            grep,
            regex: self.regex,
            ignore_case: self.ignore_case.unwrap_or(false),
        };
        Ok(Checked {
            selected,
            run,
            dry_run: self.dry_run.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    const NOW: u64 = 1_795_618_800_000_000_000;

    fn check(body: &str) -> Result<Checked, String> {
        parse(body.as_bytes())
            .and_then(|b| b.check(NOW))
            .map_err(|e| {
                assert_eq!(e.status, StatusCode::BAD_REQUEST);
                e.message
            })
    }

    #[test]
    fn an_empty_object_selects_the_whole_job_up_to_now() {
        let c = check("{}").unwrap();
        assert_eq!(
            c.selected,
            Selected {
                until: Some(NOW),
                ..Selected::default()
            }
        );
        assert!(!c.dry_run && c.run.is_none());
        let c = check(r#"{"until": null, "grep": null, "dry_run": true}"#).unwrap();
        assert!(c.dry_run && c.selected.until == Some(NOW));
    }

    #[test]
    fn fields_are_read_like_a_reads_parameters() {
        let c = check(
            r#"{"run": "pod-1", "container": "main", "stream": "stderr", "since": "2h",
                "until": "2026-11-25T14:00:00Z", "grep": "token=", "regex": "[0-9a-f]{8}",
                "ignore_case": true}"#,
        )
        .unwrap();
        let s = c.selected;
        assert_eq!(s.run.as_deref(), Some("pod-1"));
        assert_eq!(c.run, Some(Run::Pod("pod-1".into())));
        assert_eq!(
            (s.container.as_deref(), s.stream.as_deref()),
            (Some("main"), Some("stderr"))
        );
        assert_eq!(s.since, Some(NOW - 2 * 3_600_000_000_000));
        assert_eq!(s.until, Some(NOW - 3_600_000_000_000));
        assert_eq!(s.grep, vec!["token=".to_string()]);
        assert!(s.ignore_case);
        assert!(s.selection().is_ok());
        let many = check(r#"{"grep": ["a", "b"]}"#).unwrap();
        assert_eq!(many.selected.grep, vec!["a".to_string(), "b".to_string()]);
        let latest = check(r#"{"run": "latest"}"#).unwrap();
        assert_eq!((latest.run, latest.selected.run), (Some(Run::Latest), None));
    }

    #[test]
    fn until_never_passes_the_request() {
        let c = check(r#"{"until": "2100-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(c.selected.until, Some(NOW));
        let e = check(r#"{"since": "2100-01-01T00:00:00Z"}"#).unwrap_err();
        assert!(e.contains("since is not before now"), "{e}");
    }

    #[test]
    fn mistakes_name_the_field() {
        for (body, want) in [
            ("", "empty body"),
            ("[]", "body:"),
            (r#"{"pod": "x"}"#, "unknown field `pod`"),
            (r#"{"grep": 3}"#, "body:"),
            (r#"{"run": ".."}"#, "invalid run name"),
            (r#"{"container": ""}"#, "invalid container name"),
            (r#"{"stream": "both"}"#, "stream"),
            (r#"{"since": "yesterday"}"#, "since=\"yesterday\""),
            (r#"{"until": "1x"}"#, "until=\"1x\""),
            (
                r#"{"since": "1h", "until": "2h"}"#,
                "since must be before until",
            ),
            (r#"{"grep": ""}"#, "grep: an empty term"),
            (r#"{"grep": ["a", ""]}"#, "grep: an empty term"),
            (r#"{"regex": ""}"#, "regex: empty"),
            (r#"{"regex": "("}"#, "regex:"),
            (r#"{"ignore_case": true}"#, "ignore_case"),
            (r#"{"dry_run": "yes"}"#, "body:"),
        ] {
            let e = check(body).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
    }
}
