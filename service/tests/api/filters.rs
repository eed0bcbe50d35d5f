//! Line filters (`grep`, `regex`, `ignore_case`, `invert`, `context`) on
//! every read, with the other selections, against a naive reference: the
//! stored records filtered in memory. And the tool-wide search.

use crate::common::*;
use afterlog_testkit::{T0, file_store};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::{Client, StatusCode};
use serde_json::Value;

/// Texts with what the byte test must see through: escapes, non-ASCII,
/// case.
const WORDS: &[&str] = &[
    "ERROR disk full",
    "error: retry",
    "warn slow",
    "ok",
    "say \"hi\"",
    "tab\there",
    "café au lait",
    "Kelvin \u{212a}",
    "path C:\\tmp",
    "done",
];

#[derive(Debug, Clone)]
struct Stored {
    ts: u64,
    pod: &'static str,
    container: &'static str,
    stream: &'static str,
    log: String,
}

/// The job's records, in merge order, each at its own time.
fn records() -> Vec<Stored> {
    let mut x: u64 = 7;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    (0..240u64)
        .map(|i| {
            let (pod, container) = [("g-1", "main"), ("g-1", "side"), ("g-2", "main")][next() % 3];
            Stored {
                ts: i * 1000 + 1,
                pod,
                container,
                stream: if next() % 4 == 0 { "stderr" } else { "stdout" },
                log: format!("{} #{i}", WORDS[next() % WORDS.len()]),
            }
        })
        .collect()
}

async fn store_job(store: &afterlog_reader::Store, recs: &[Stored]) {
    for (pod, container) in [("g-1", "main"), ("g-1", "side"), ("g-2", "main")] {
        let o = origin("foo", "grepjob", pod, container);
        let mine: Vec<String> = recs
            .iter()
            .filter(|r| r.pod == pod && r.container == container)
            .map(|r| record(&o, r.ts, r.ts, r.stream, &r.log))
            .collect();
        for (n, chunk) in mine.chunks(37).enumerate() {
            upload(store, &o, n as u64, &format!("u{n}"), chunk).await;
        }
    }
}

#[derive(Debug, Clone)]
struct Query {
    grep: Vec<&'static str>,
    regex: Option<&'static str>,
    ignore_case: bool,
    invert: bool,
    context: usize,
    stream: Option<&'static str>,
    since: Option<u64>,
    until: Option<u64>,
    head: Option<usize>,
    tail: Option<usize>,
}

fn arb_query() -> impl Strategy<Value = Query> {
    (
        prop::sample::subsequence(
            vec!["error", "disk", "é", "\"hi\"", "\t", "\\tmp", "k"],
            0..=2,
        ),
        prop::option::of(prop::sample::select(vec![
            "^ERROR",
            r"#\d*7$",
            "(warn|ok) ",
            "K",
            r"\p{Greek}|lait",
        ])),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(0usize), 1usize..3],
        prop::option::of(prop::sample::select(vec!["stdout", "stderr"])),
        prop::option::of(0u64..240_000),
        prop::option::of(0u64..240_000),
        prop_oneof![
            Just((None, None)),
            (1usize..30).prop_map(|n| (Some(n), None)),
            (1usize..30).prop_map(|n| (None, Some(n))),
        ],
    )
        .prop_map(
            |(grep, regex, ignore_case, invert, context, stream, since, until, (head, tail))| {
                let filtered = !grep.is_empty() || regex.is_some();
                Query {
                    grep,
                    regex,
                    ignore_case: ignore_case && filtered,
                    invert: invert && filtered && context == 0,
                    context: if filtered { context } else { 0 },
                    stream,
                    since,
                    until: until.filter(|u| since.is_none_or(|s| s < *u)),
                    head,
                    tail,
                }
            },
        )
}

impl Query {
    fn url(&self, base: &str) -> String {
        let mut q = vec!["limit=10000".to_string()];
        let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        q.extend(self.grep.iter().map(|g| format!("grep={}", enc(g))));
        if let Some(r) = self.regex {
            q.push(format!("regex={}", enc(r)));
        }
        if self.ignore_case {
            q.push("ignore_case=true".into());
        }
        if self.invert {
            q.push("invert=true".into());
        }
        if self.context > 0 {
            q.push(format!("context={}", self.context));
        }
        if let Some(s) = self.stream {
            q.push(format!("stream={s}"));
        }
        if let Some(s) = self.since {
            q.push(format!("since={}", T0 + s));
        }
        if let Some(u) = self.until {
            q.push(format!("until={}", T0 + u));
        }
        if let Some(n) = self.head {
            q.push(format!("head={n}"));
        }
        if let Some(n) = self.tail {
            q.push(format!("tail={n}"));
        }
        format!("{base}?{}", q.join("&"))
    }

    /// The naive answer: `(log, context, break_before)` of each line.
    fn reference(&self, all: &[Stored]) -> Vec<(String, bool, bool)> {
        let window: Vec<&Stored> = all
            .iter()
            .filter(|r| self.stream.is_none_or(|s| s == r.stream))
            .filter(|r| self.since.is_none_or(|s| r.ts >= s))
            .filter(|r| self.until.is_none_or(|u| r.ts < u))
            .collect();
        let filtered = !self.grep.is_empty() || self.regex.is_some();
        let fold = |s: &str| {
            if self.ignore_case {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        let is_match = |log: &str| {
            if !filtered {
                return true;
            }
            let grep = self.grep.iter().all(|g| fold(log).contains(&fold(g)));
            let regex = self.regex.is_none_or(|re| {
                regex::RegexBuilder::new(re)
                    .case_insensitive(self.ignore_case)
                    .build()
                    .unwrap()
                    .is_match(log)
            });
            (grep && regex) != self.invert
        };
        let mut matches: Vec<usize> = (0..window.len())
            .filter(|&i| is_match(&window[i].log))
            .collect();
        if let Some(n) = self.head {
            matches.truncate(n);
        }
        if let Some(n) = self.tail {
            matches.drain(..matches.len().saturating_sub(n));
        }
        let c = self.context;
        let shown: Vec<usize> = (0..window.len())
            .filter(|&i| matches.iter().any(|&m| i + c >= m && i <= m + c))
            .collect();
        shown
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                (
                    window[i].log.clone(),
                    c > 0 && !matches.contains(&i),
                    c > 0 && k > 0 && shown[k - 1] + 1 != i,
                )
            })
            .collect()
    }
}

fn answer(v: &Value) -> Vec<(String, bool, bool)> {
    v["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["log"].as_str().unwrap().to_string(),
                l["context"].as_bool().unwrap_or(false),
                l["break_before"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

#[test]
fn every_filter_combination_agrees_with_a_naive_reference() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let all = records();
    let (server, c) = rt.block_on(async {
        let store = file_store(dir.path());
        store_job(&store, &all).await;
        (TestServer::open(store).await, Client::new())
    });
    let base = server.url("/v1/tool/foo/jobs/grepjob/logs");
    let mut runner = TestRunner::new(Config {
        cases: 160,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&arb_query(), |q| {
            let (st, v) = rt.block_on(get_json(&c, &q.url(&base), ""));
            prop_assert_eq!(st, StatusCode::OK, "{}", v);
            prop_assert_eq!(answer(&v), q.reference(&all), "{}", q.url(""));
            // The streamed formats select the same lines.
            if q.context == 0 {
                let url = q.url(&base).replace("?limit=10000", "?format=ndjson");
                let (st, body) = rt.block_on(get_text(&c, &url, ""));
                prop_assert_eq!(st, StatusCode::OK, "{}", body);
                let n = body.lines().filter(|l| l.contains("\"log\"")).count();
                prop_assert_eq!(n, q.reference(&all).len());
            }
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn text_marks_context_groups_and_bad_filters_are_400() {
    let dir = tempfile::tempdir().unwrap();
    let all = records();
    let store = file_store(dir.path());
    store_job(&store, &all).await;
    let s = TestServer::open(store).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/grepjob/logs");
    let body = text_ok(&c, &format!("{logs}?format=text&grep=caf&context=1"), "").await;
    assert!(body.lines().any(|l| l == "--"), "{body}");
    assert!(body.contains("café au lait"));
    // JSON pages with context, concatenated: the lines of one page.
    let whole: Vec<(String, bool)> = {
        let (_, v) = get_json(&c, &format!("{logs}?grep=caf&context=2&limit=10000"), "").await;
        answer(&v).into_iter().map(|(l, c, _)| (l, c)).collect()
    };
    let mut paged = Vec::new();
    let mut next = format!("{logs}?grep=caf&context=2&limit=5");
    loop {
        let (st, v) = get_json(&c, &next, "").await;
        assert_eq!(st, StatusCode::OK, "{v}");
        paged.extend(answer(&v).into_iter().map(|(l, c, _)| (l, c)));
        match v["next_cursor"].as_str() {
            Some(cur) => next = format!("{logs}?grep=caf&context=2&limit=5&cursor={cur}"),
            None => break,
        }
    }
    assert!(whole.len() > 10);
    assert_eq!(paged, whole);
    for (q, says) in [
        ("regex=(", "regex"),
        ("invert=true", "grep or regex"),
        ("context=2", "grep or regex"),
        ("grep=a&context=101", "at most 100"),
        ("grep=a&context=1&format=text&follow=true", "follow"),
    ] {
        let (st, v) = get_json(&c, &format!("{logs}?{q}"), "").await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {v}");
        assert!(v.to_string().contains(says), "{q}: {v}");
    }
}

#[tokio::test]
async fn search_finds_matches_across_jobs_in_order_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let all = records();
    let store = file_store(dir.path());
    store_job(&store, &all).await;
    // A second job with a few matches of its own, at times between.
    let o = origin("foo", "other", "o-1", "main");
    let lines: Vec<String> = (0..5u64)
        .map(|i| {
            record(
                &o,
                i * 50_000 + 500,
                i,
                "stdout",
                &format!("ERROR other {i}"),
            )
        })
        .collect();
    upload(&store, &o, 0, "u", &lines).await;
    let s = TestServer::open(store).await;
    let c = Client::new();
    let url = s.url("/v1/tool/foo/search");
    let mut want: Vec<(u64, String)> = all
        .iter()
        .filter(|r| r.log.contains("ERROR"))
        .map(|r| (r.ts, r.log.clone()))
        .chain((0..5u64).map(|i| (i * 50_000 + 500, format!("ERROR other {i}"))))
        .collect();
    want.sort();
    let got = |v: &Value| -> Vec<(u64, String)> {
        v["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["ts"].as_u64().unwrap() - T0,
                    m["log"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    // Oldest first, in pages.
    let mut pages = Vec::new();
    let mut next = format!("{url}?grep=ERROR&order=oldest&limit=7");
    loop {
        let (st, v) = get_json(&c, &next, "").await;
        assert_eq!(st, StatusCode::OK, "{v}");
        pages.extend(got(&v));
        match v["next_cursor"].as_str() {
            Some(cur) => next = format!("{url}?grep=ERROR&order=oldest&limit=7&cursor={cur}"),
            None => break,
        }
    }
    assert_eq!(pages, want);
    // Newest first, in pages: the same matches, the other way round.
    let mut pages = Vec::new();
    let mut next = format!("{url}?grep=ERROR&limit=4");
    loop {
        let (st, v) = get_json(&c, &next, "").await;
        assert_eq!(st, StatusCode::OK, "{v}");
        pages.extend(got(&v));
        match v["next_cursor"].as_str() {
            Some(cur) => next = format!("{url}?grep=ERROR&limit=4&cursor={cur}"),
            None => break,
        }
    }
    pages.reverse();
    assert_eq!(pages, want);
    // Newest first, limited; one job; the window.
    let (_, v) = get_json(&c, &format!("{url}?grep=ERROR&limit=3"), "").await;
    let mut newest = want.clone();
    newest.reverse();
    assert_eq!(got(&v), newest[..3]);
    assert_eq!(v["matches"][0]["job"], "grepjob");
    let (_, v) = get_json(&c, &format!("{url}?regex=other%20%5B13%5D&job=other"), "").await;
    assert_eq!(got(&v).len(), 2, "{v}");
    assert_eq!(v["matches"][0]["run"], "o-1");
    let (_, v) = get_json(
        &c,
        &format!(
            "{url}?grep=ERROR&since={}&until={}",
            T0 + 100_000,
            T0 + 150_000
        ),
        "",
    )
    .await;
    let window: Vec<_> = newest
        .iter()
        .filter(|(t, _)| (100_000..150_000).contains(t))
        .cloned()
        .collect();
    assert_eq!(got(&v), window);
    // Many matches at one time (pushed lines without a time): pages in
    // either order hand each out once.
    let o = origin("foo", "same", "s-1", "main");
    let same: Vec<String> = (0..25u64)
        .map(|i| record(&o, 70_000, i, "stdout", &format!("SAMETS {i:02}")))
        .collect();
    upload(&s.store, &o, 0, "u", &same).await;
    for order in ["oldest", "newest"] {
        let mut seen = Vec::new();
        let base = format!("{url}?grep=SAMETS&order={order}&limit=7");
        let mut next = base.clone();
        loop {
            let (st, v) = get_json(&c, &next, "").await;
            assert_eq!(st, StatusCode::OK, "{v}");
            seen.extend(got(&v).into_iter().map(|(_, l)| l));
            match v["next_cursor"].as_str() {
                Some(cur) => next = format!("{base}&cursor={cur}"),
                None => break,
            }
        }
        seen.sort();
        let want: Vec<String> = (0..25).map(|i| format!("SAMETS {i:02}")).collect();
        assert_eq!(seen, want, "{order}");
    }
    // Streamed forms.
    let body = text_ok(
        &c,
        &format!("{url}?grep=other&format=text&order=oldest"),
        "",
    )
    .await;
    assert!(
        body.lines()
            .next()
            .unwrap()
            .ends_with("other/o-1/main: ERROR other 0"),
        "{body}"
    );
    let body = text_ok(&c, &format!("{url}?grep=other&format=ndjson"), "").await;
    assert_eq!(body.lines().count(), 5);
    // No filter, a bad order: 400.
    for q in ["", "?grep=x&order=up", "?grep=x&limit=0"] {
        let (st, _) = get_json(&c, &format!("{url}{q}"), "").await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}");
    }
}
