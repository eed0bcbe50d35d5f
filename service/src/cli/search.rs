//! `search`: the lines of a tool's jobs that match, newest or oldest first,
//! one per line as `time job/run/container: log`, matches painted.

use super::event_color;
use super::highlight::Highlighter;
use super::ndjson::{Lines, Stdout, is_envelope, read_lines};
use super::voice::{Level, Told, Voice, stdout_color};
use crate::args::client::SearchArgs;
use crate::client::{Client, ClientError};
use crate::wire::SearchMatch;
use afterlog_contract::query::Format;
use anyhow::anyhow;
use reqwest::StatusCode;

/// The query of a `search` request.
fn query(a: &SearchArgs) -> Vec<(&'static str, String)> {
    let mut q: Vec<(&str, String)> = vec![("format", Format::Ndjson.to_string())];
    q.extend(a.filter().query());
    for (k, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            q.push((k, v.clone()));
        }
    }
    q.extend(a.jobs.iter().map(|j| ("job", j.clone())));
    if let Some(e) = a.events {
        q.push(("events", e.to_string()));
    }
    q.push(("order", a.order.as_str().into()));
    q.push(("limit", a.limit.to_string()));
    q
}

/// `time job/run/container: log`, the API's own text form.
fn render(m: &SearchMatch, paint: Option<&Highlighter>) -> String {
    let log = match paint {
        Some(h) => h.paint(&m.log),
        None => m.log.clone(),
    };
    let text = format!("{} {}/{}/{}: {log}\n", m.time, m.job, m.run, m.container);
    match (&m.k8s_event, paint) {
        // Painting on: a Kubernetes event in its colour.
        (Some(e), Some(_)) => {
            event_color::paint_line(&text, event_color::color_of(e["type"].as_str()))
        }
        _ => text,
    }
}

/// A 404 that is not the server's answer about a tool or job but its
/// router's: a server from before `search` existed.
fn no_such_endpoint(e: &ClientError) -> bool {
    match e {
        ClientError::Status {
            status, messages, ..
        } if *status == StatusCode::NOT_FOUND => messages
            .error
            .iter()
            .all(|m| m.starts_with("no such endpoint")),
        _ => false,
    }
}

pub async fn run_search(a: SearchArgs, voice: Voice) -> anyhow::Result<()> {
    let c = Client::for_args(&a.client())?;
    let url = c.url(&["search"], &query(&a));
    let resp = match c.send(reqwest::Method::GET, url.clone(), None).await {
        Ok(r) => r,
        Err(e) if no_such_endpoint(&e) => {
            voice.say(
                Level::Error,
                &format!(
                    "{} has no search (GET /v1/tool/{{tool}}/search answered 404): \
                     the server is older than this afterlog; `afterlog logs -e …` \
                     searches one job",
                    c.target.server
                ),
            );
            return Err(anyhow!(Told));
        }
        Err(e) => {
            voice.client_error(&e);
            return Err(anyhow!(Told));
        }
    };
    let paint = match stdout_color(a.client.color) {
        true => Highlighter::new(&a.filter()).ok().flatten(),
        false => None,
    };
    let mut out = Matches {
        stdout: Stdout::lock(),
        paint,
        left: a.limit as usize,
        voice,
    };
    let read = read_lines(resp, &url, &mut out).await;
    out.stdout.flush()?;
    voice.told(read).map(|_| ())
}

/// Where the matches go.
struct Matches {
    stdout: Stdout,
    paint: Option<Highlighter>,
    /// Matches still to print: the server sends at most `limit`, and the
    /// client never prints more whatever it sends.
    left: usize,
    voice: Voice,
}

impl Lines for Matches {
    fn line(&mut self, line: &[u8]) -> std::io::Result<bool> {
        if is_envelope(line, &self.voice) {
            return Ok(true);
        }
        let m = match serde_json::from_slice::<SearchMatch>(line) {
            Ok(m) => m,
            Err(e) => {
                self.voice
                    .say(Level::Warning, &format!("a match the CLI cannot read: {e}"));
                return Ok(true);
            }
        };
        let text = render(&m, self.paint.as_ref());
        self.left -= 1;
        Ok(self.stdout.write(&[text.as_bytes()])? && self.left > 0)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stdout.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::highlight::{END, START};
    use crate::wire::Messages;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        search: SearchArgs,
    }

    fn parse(args: &[&str]) -> Result<SearchArgs, clap::Error> {
        Cmd::try_parse_from(["search"].iter().chain(args)).map(|c| c.search)
    }

    #[test]
    fn the_request_has_the_apis_parameters() {
        let a = parse(&[
            "bot", "-e", "timeout", "-i", "--job", "a", "--job", "b", "--since", "2h", "--order",
            "oldest", "--limit", "7",
        ])
        .unwrap();
        assert_eq!(a.client().tool.as_deref(), Some("bot"));
        let want: Vec<(&str, String)> = vec![
            ("format", "ndjson".into()),
            ("grep", "timeout".into()),
            ("ignore_case", "true".into()),
            ("since", "2h".into()),
            ("job", "a".into()),
            ("job", "b".into()),
            ("order", "oldest".into()),
            ("limit", "7".into()),
        ];
        assert_eq!(query(&a), want);
        let d = parse(&["--regex", "x"]).unwrap();
        assert_eq!(d.client().tool, None, "then --tool, env, config");
        assert_eq!(
            query(&d)[2..],
            [("order", "newest".into()), ("limit", "100".into())]
        );
    }

    #[test]
    fn a_pattern_is_required_and_the_limit_bounded() {
        for bad in [
            &["bot"][..],
            &["bot", "-i"],
            &["bot", "-e", "x", "--limit", "0"],
            &["bot", "-e", "x", "--limit", "10001"],
            &["bot", "-e", "x", "--order", "random"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn matches_print_as_the_apis_text() {
        let m = SearchMatch {
            job: "update-stats".into(),
            run: "update-stats-1-abc".into(),
            container: "main".into(),
            stream: "stdout".into(),
            time: "2030-01-01T00:00:00.000000001Z".into(),
            ts: 1_893_456_000_000_000_001,
            log: "a timeout, then another timeout".into(),
            k8s_event: None,
        };
        assert_eq!(
            render(&m, None),
            "2030-01-01T00:00:00.000000001Z update-stats/update-stats-1-abc/main: a timeout, then another timeout\n"
        );
        let h = Highlighter::new(&parse(&["-e", "timeout"]).unwrap().filter())
            .unwrap()
            .unwrap();
        assert!(render(&m, Some(&h)).ends_with(&format!(
            ": a {START}timeout{END}, then another {START}timeout{END}\n"
        )));
    }

    #[test]
    fn only_the_routers_404_means_no_search() {
        let not_found = |error: &[&str]| ClientError::Status {
            status: StatusCode::NOT_FOUND,
            message: String::new(),
            messages: Messages::errors(error.iter().map(|s| s.to_string()).collect()),
            retry_after: None,
        };
        assert!(no_such_endpoint(&not_found(&[
            "no such endpoint; see /openapi.json"
        ])));
        assert!(no_such_endpoint(&not_found(&[])), "a proxy's bare 404");
        assert!(!no_such_endpoint(&not_found(&[
            "no jobs stored for tool \"x\""
        ])));
    }
}
