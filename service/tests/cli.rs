//! The `afterlog` CLI (`jobs`, `logs`, `push`, `usage`) as a user runs it,
//! against the service on 127.0.0.1 serving the demo data with token auth.
//! What it prints is checked against what the API returns for the same
//! question, so the two cannot drift apart.

mod common;

use afterlog_testkit::Proxy;
use common::{TestServer, afterlog, ok, text_ok};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TOKEN: &str = "cli-test-token";
const ADMIN: &str = "cli-admin-token";

struct Env {
    dir: tempfile::TempDir,
    server: TestServer,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let server = common::demo_server(
            dir.path(),
            &[
                ("cli", TOKEN, &["cronbot", "wiki-stats"], false),
                ("ops", ADMIN, &[], true),
            ],
        )
        .await;
        Env {
            dir,
            server,
            http: reqwest::Client::new(),
        }
    }

    /// The CLI with a clean environment, of `server` as the caller TOKEN.
    fn cmd(&self, server: &str, args: &[&str]) -> Command {
        let mut c = afterlog(self.dir.path());
        c.args(args)
            .env("AFTERLOG_SERVER", server)
            .env("AFTERLOG_TOKEN", TOKEN);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(&self.server.base, args).output().unwrap()
    }

    /// The API's answer, as text.
    async fn api(&self, path: &str) -> String {
        text_ok(&self.http, &self.server.url(path), TOKEN).await
    }

    async fn push(&self, tool: &str, job: &str, line: &str) {
        let r = self
            .http
            .post(self.server.url(&format!("/v1/tool/{tool}/jobs/{job}/logs")))
            .bearer_auth(TOKEN)
            .body(json!({"log": line}).to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "push: {}", r.status());
    }
}

fn failed(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_print_what_the_api_serves() {
    let e = Env::start().await;
    // The same question, to the CLI and to the API.
    let cases: &[(&[&str], &str)] = &[
        (&[], ""),
        (&["--tail", "3"], "&tail=3"),
        (&["--head", "2"], "&head=2"),
        (&["--run", "latest"], "&run=latest"),
        (&["--stream", "stderr"], "&stream=stderr"),
        (&["--since", "2h", "--until", "30m"], "&since=2h&until=30m"),
        (&["-e", "edits"], "&grep=edits"),
        (&["-e", "edits", "-C", "1"], "&grep=edits&context=1"),
        (
            &["--regex", "[0-9]+ EDITS", "-i"],
            "&regex=%5B0-9%5D%2B%20EDITS&ignore_case=true",
        ),
        (
            &["-e", "edits", "-v", "--tail", "3"],
            "&grep=edits&invert=true&tail=3",
        ),
    ];
    for (job, tool) in [("update-stats", "cronbot"), ("wiki-stats", "wiki-stats")] {
        for (flags, query) in cases {
            let base = ["logs", "-t", tool, job];
            let args: Vec<&str> = base.iter().chain(flags.iter()).copied().collect();
            let path = format!("/v1/tool/{tool}/jobs/{job}/logs?format=");
            // --json: the stored records, byte for byte.
            let json_args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
            let want = e.api(&format!("{path}ndjson{query}")).await;
            assert_eq!(ok(&e.run(&json_args)), want, "{json_args:?}");
            // --timestamps --prefix: the API's own text rendering.
            let text_args: Vec<&str> = args
                .iter()
                .copied()
                .chain(["--timestamps", "--prefix"])
                .collect();
            let want = e.api(&format!("{path}text{query}")).await;
            assert_eq!(ok(&e.run(&text_args)), want, "{text_args:?}");
        }
    }
    // A search across the tool: the API's matches, oldest first.
    let got = ok(&e.run(&[
        "search", "cronbot", "-e", "edits", "--order", "oldest", "--color", "never",
    ]));
    let want = e
        .api("/v1/tool/cronbot/search?grep=edits&order=oldest&format=text")
        .await;
    assert!(!want.is_empty());
    assert_eq!(got, want);
    // Plain: just the lines, as `kubectl logs` prints them.
    let plain = ok(&e.run(&["logs", "-t", "cronbot", "update-stats", "--tail", "2"]));
    let text = e
        .api("/v1/tool/cronbot/jobs/update-stats/logs?format=text&tail=2")
        .await;
    let stripped: Vec<&str> = text
        .lines()
        .map(|l| l.split_once("] ").unwrap().1)
        .collect();
    assert_eq!(plain.lines().collect::<Vec<_>>(), stripped);
    // A tool with one job needs no job name; one with several says which.
    let o = e.run(&["logs", "-t", "cronbot", "--tail", "1"]);
    assert_eq!(ok(&o).lines().count(), 1);
    let err = failed(&e.run(&["logs", "-t", "wiki-stats"]));
    assert!(
        err.contains("which job?") && err.contains("build, wiki-stats"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_usage_tables() {
    let e = Env::start().await;
    let out = ok(&e.run(&["jobs", "-t", "wiki-stats"]));
    let mut lines = out.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        ["JOB", "KIND", "STATUS", "RUNS", "LAST", "LOG", "SIZE"]
    );
    let jobs: Vec<&str> = lines
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(jobs, ["build", "wiki-stats"]);
    let api: serde_json::Value =
        serde_json::from_str(&e.api("/v1/tool/wiki-stats/jobs").await).unwrap();
    let cli: serde_json::Value =
        serde_json::from_str(&ok(&e.run(&["jobs", "-t", "wiki-stats", "--json"]))).unwrap();
    assert_eq!(cli, api);
    let usage = ok(&e.run(&["usage", "-t", "cronbot"]));
    assert!(usage.starts_with("JOB"), "{usage}");
    assert!(
        usage.contains("update-stats") && usage.contains("total"),
        "{usage}"
    );
}

#[test]
fn help_lists_the_client_commands() {
    let o = Command::new(env!("CARGO_BIN_EXE_afterlog"))
        .arg("--help")
        .output()
        .unwrap();
    let text = ok(&o);
    for c in [
        "jobs",
        "logs",
        "search",
        "push",
        "usage",
        "delete",
        "deletions",
        "serve",
        "demo",
        "compact",
        "completions",
        "man",
    ] {
        assert!(text.contains(c), "{c}: {text}");
    }
}

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_afterlog"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn completions_know_the_commands_and_their_flags() {
    for (shell, flag) in [("bash", "--grep"), ("zsh", "--grep"), ("fish", "-l grep")] {
        let script = ok(&bin(&["completions", shell]));
        assert!(
            script.contains("logs") && script.contains("search") && script.contains(flag),
            "{shell}: {script}"
        );
    }
    // Bash itself completes with the script.
    let script = ok(&bin(&["completions", "bash"]));
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{script}\nCOMP_WORDS=(afterlog logs --gr); COMP_CWORD=2; _afterlog afterlog --gr logs; \
             echo \"${{COMPREPLY[@]}}\""
        ))
        .output()
        .unwrap();
    assert_eq!(ok(&o).trim(), "--grep");
    let err = String::from_utf8(bin(&["completions", "tcsh"]).stderr).unwrap();
    assert!(err.contains("bash") && err.contains("fish"), "{err}");
}

/// A roff page's first request past the apostrophe's definition.
fn title(page: &str) -> &str {
    page.lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
        .unwrap()
}

#[test]
fn man_pages_are_roff_for_each_command() {
    let page = ok(&bin(&["man"]));
    assert!(page.starts_with('.'), "roff: {page}");
    assert!(title(&page).starts_with(".TH afterlog 1"), "{page}");
    assert!(
        page.contains("search") && page.contains("completions"),
        "{page}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let o = bin(&["man", "--out-dir", out.to_str().unwrap()]);
    ok(&o);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for want in [
        "afterlog.1",
        "afterlog-logs.1",
        "afterlog-search.1",
        "afterlog-man.1",
    ] {
        assert!(names.iter().any(|n| n == want), "{want}: {names:?}");
    }
    let logs = std::fs::read_to_string(out.join("afterlog-logs.1")).unwrap();
    assert!(title(&logs).starts_with(".TH afterlog-logs 1"), "{logs}");
    assert!(logs.contains("grep") && logs.contains("context"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_against_a_server_without_it_says_so() {
    let e = Env::start().await;
    // Every path under this prefix is the router's 404, as for a server
    // from before `search`.
    let old = format!("{}/before-search", e.server.base);
    let o = e
        .cmd(&old, &["search", "cronbot", "-e", "stats"])
        .output()
        .unwrap();
    let err = failed(&o);
    assert!(
        err.contains("has no search") && err.contains("older than this afterlog"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    // A pattern is required before anything is sent.
    let o = e.run(&["search", "cronbot"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--grep"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_give_the_servers_reason_and_fail() {
    let e = Env::start().await;
    // Not a member of the tool.
    let err = failed(&e.run(&["jobs", "-t", "chatterbox"]));
    assert!(err.starts_with("error: ") && err.contains("403"), "{err}");
    // No such job.
    let err = failed(&e.run(&["logs", "-t", "cronbot", "nope"]));
    assert!(
        err.contains("no logs stored for job \"nope\"") && err.contains("404"),
        "{err}"
    );
    // Bad input, in the server's words.
    let err = failed(&e.run(&["logs", "-t", "cronbot", "update-stats", "--since", "soon"]));
    assert!(err.contains("since") && err.contains("400"), "{err}");
    // No credentials.
    let o = e
        .cmd(&e.server.base, &["jobs", "-t", "cronbot"])
        .env_remove("AFTERLOG_TOKEN")
        .output()
        .unwrap();
    assert!(failed(&o).contains("401"));
    // Nothing listening.
    let err = failed(
        &e.cmd("http://127.0.0.1:9", &["jobs", "-t", "cronbot"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("cannot reach http://127.0.0.1:9/"), "{err}");
    // No tool anywhere: where to put one.
    let err = failed(&e.run(&["jobs"]));
    assert!(
        err.contains("no tool given") && err.contains("config.toml"),
        "{err}"
    );
    // Not a URL.
    let err = failed(
        &e.cmd("127.0.0.1:8080", &["jobs", "-t", "x"])
            .output()
            .unwrap(),
    );
    assert!(err.contains("server"), "{err}");
    // Without NO_COLOR, but not on a terminal: still no escape codes.
    let o = e
        .cmd(&e.server.base, &["jobs", "-t", "chatterbox"])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(!failed(&o).contains('\x1b'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_file_supplies_what_flags_do_not() {
    let e = Env::start().await;
    let conf = e.dir.path().join("config").join("afterlog");
    std::fs::create_dir_all(&conf).unwrap();
    let token = e.dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    std::fs::write(
        conf.join("config.toml"),
        format!(
            "server = {:?}\ntool = \"cronbot\"\ntoken_file = {:?}\n",
            e.server.base,
            token.display().to_string()
        ),
    )
    .unwrap();
    let o = e
        .cmd("unused", &["jobs"])
        .env_remove("AFTERLOG_SERVER")
        .env_remove("AFTERLOG_TOKEN")
        .output()
        .unwrap();
    assert!(ok(&o).contains("update-stats"));
    // A flag beats the file.
    let o = e
        .cmd("unused", &["jobs", "-t", "wiki-stats"])
        .env_remove("AFTERLOG_SERVER")
        .env_remove("AFTERLOG_TOKEN")
        .output()
        .unwrap();
    assert!(ok(&o).contains("build"));
    // A broken file is named.
    std::fs::write(conf.join("config.toml"), "tool = [").unwrap();
    let err = failed(&e.cmd(&e.server.base, &["jobs"]).output().unwrap());
    assert!(err.contains("config.toml"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_lines_come_back() {
    let e = Env::start().await;
    let input = e.dir.path().join("lines.txt");
    std::fs::write(&input, "deploy started\ndeploy done\n").unwrap();
    let o = e.run(&[
        "push",
        "-t",
        "cronbot",
        "deploys",
        input.to_str().unwrap(),
        "--stream",
        "stderr",
    ]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 lines pushed to cronbot/deploys"));
    let out = ok(&e.run(&["logs", "-t", "cronbot", "deploys", "--json"]));
    let recs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let logs: Vec<(&str, &str)> = recs
        .iter()
        .map(|r| (r["log"].as_str().unwrap(), r["stream"].as_str().unwrap()))
        .collect();
    assert_eq!(
        logs,
        [("deploy started", "stderr"), ("deploy done", "stderr")]
    );
    // NDJSON records from stdin.
    let mut child = e
        .cmd(
            &e.server.base,
            &["push", "-t", "cronbot", "deploys", "--json"],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"log\": \"from json\", \"ts\": \"2030-01-01T00:00:00Z\"}\n")
        .unwrap();
    ok(&child.wait_with_output().unwrap());
    let last = ok(&e.run(&[
        "logs",
        "-t",
        "cronbot",
        "deploys",
        "--tail",
        "1",
        "--timestamps",
    ]));
    assert_eq!(last, "2030-01-01T00:00:00.000000000Z from json\n");
    // Platform events are for admins; nothing in, nothing sent.
    let err = failed(&e.run(&[
        "push",
        "-t",
        "cronbot",
        "deploys",
        "--platform",
        input.to_str().unwrap(),
    ]));
    assert!(err.contains("403"), "{err}");
    let err = failed(&e.run(&["push", "-t", "cronbot", "deploys", "/dev/null"]));
    assert!(err.contains("nothing to push"), "{err}");
}

/// Lines of a child's stdout, as they come.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn expect_line(rx: &mpsc::Receiver<String>, want: &str, within: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < within {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            let done = l == want;
            seen.push(l);
            if done {
                return seen;
            }
        }
    }
    panic!("no line {want:?} within {within:?}; got {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_prints_new_lines_and_survives_a_dropped_server() {
    let e = Env::start().await;
    let proxy = Proxy::start(e.server.addr);
    let mut child = e
        .cmd(
            &proxy.endpoint(),
            &["logs", "-t", "cronbot", "update-stats", "-f", "--tail", "1"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    // The last stored line first, then what arrives.
    let first = rx.recv_timeout(Duration::from_secs(10)).expect("the tail");
    e.push("cronbot", "update-stats", "followed line A").await;
    expect_line(&rx, "followed line A", Duration::from_secs(10));

    // The server goes away (connections cut, new ones refused) and comes back.
    proxy.set_down(true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    e.push("cronbot", "update-stats", "followed line B").await;
    proxy.set_down(false);
    let after = expect_line(&rx, "followed line B", Duration::from_secs(20));
    assert!(
        !after.contains(&"followed line A".to_string()) && !after.contains(&first),
        "printed again after the reconnect: {after:?}"
    );
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trying again in"), "{err}");
}

/// A drop summary rides on a real line: JSON keeps the line and says what
/// was dropped beside it; text (API and CLI) shows both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_summaries_keep_their_line() {
    let e = Env::start().await;
    let get = |q: &'static str| {
        let http = e.http.clone();
        let url = e
            .server
            .url(&format!("/v1/tool/chatterbox/jobs/firehose/logs?{q}"));
        async move {
            let r = http.get(url).bearer_auth(ADMIN).send().await.unwrap();
            assert!(r.status().is_success());
            r.text().await.unwrap()
        }
    };
    let page: serde_json::Value = serde_json::from_str(&get("format=json").await).unwrap();
    let dropped: Vec<&serde_json::Value> = page["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["event"] == "quota_dropped")
        .collect();
    assert_eq!(dropped.len(), 1, "the demo has one summary");
    let d = dropped[0];
    assert!(!d["log"].as_str().unwrap().starts_with("[afterlog]"), "{d}");
    let words = d["event_text"].as_str().unwrap();
    assert!(
        words.starts_with("[afterlog]") && words.contains("dropped"),
        "{d}"
    );
    let text = get("format=text").await;
    let at = text.find(words).expect("the summary in the text");
    let next = text[at..].lines().nth(1).unwrap();
    assert!(next.ends_with(d["log"].as_str().unwrap()), "{next}");
    // The CLI prints the same two lines.
    let o = e
        .cmd(&e.server.base, &["logs", "-t", "chatterbox", "firehose"])
        .env("AFTERLOG_TOKEN", ADMIN)
        .output()
        .unwrap();
    let out = ok(&o);
    let mut lines = out.lines().skip_while(|l| *l != words);
    assert_eq!(lines.next(), Some(words));
    assert_eq!(lines.next(), d["log"].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_asks_first_hides_and_cancels() {
    let e = Env::start().await;
    e.push("cronbot", "leaky", "password=hunter2").await;
    e.push("cronbot", "leaky", "all is well").await;
    // Not a terminal: refused without --yes, nothing stored.
    let err = failed(&e.run(&["delete", "cronbot", "leaky", "-e", "password="]));
    assert!(err.contains("1 line") && err.contains("--yes"), "{err}");
    let listed = ok(&e.run(&["deletions", "cronbot", "leaky", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(v["deletions"], json!([]), "{listed}");
    // Asked: the id on stdout, the line gone from reads at once.
    let o = e.run(&["delete", "cronbot", "leaky", "-e", "password=", "--yes"]);
    let id = ok(&o).trim().to_string();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--cancel"),
        "{o:?}"
    );
    let logs = ok(&e.run(&["logs", "-t", "cronbot", "leaky"]));
    assert_eq!(logs, "all is well\n");
    let table = ok(&e.run(&["deletions", "cronbot"]));
    assert!(
        table.contains(&id) && table.contains("pending") && table.contains("-e \"password=\""),
        "{table}"
    );
    // Every tool's requests are for admins.
    let err = failed(&e.run(&["deletions"]));
    assert!(err.contains("403"), "{err}");
    // Cancelled: the line is back.
    let o = e.run(&["deletions", "cronbot", "leaky", "--cancel", &id]);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cancelled"),
        "{o:?}"
    );
    let logs = ok(&e.run(&["logs", "-t", "cronbot", "leaky"]));
    assert_eq!(logs, "password=hunter2\nall is well\n");
}

/// Kubernetes events: inline by default, `--events only|none` as the API's
/// `events=`, and on a terminal in their own colours — warnings bold
/// yellow, others cyan — with `--color never` (or `NO_COLOR`) plain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_show_in_their_colours_and_are_selected() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::file_store(dir.path());
    common::events_job(&store).await;
    let server = TestServer::for_tokens(
        store,
        common::write_tokens(dir.path(), &[("cli", TOKEN, &["foo"], false)]),
    )
    .await;
    let http = reqwest::Client::new();
    let run = |args: &[&str]| {
        afterlog(dir.path())
            .args(args)
            .env("AFTERLOG_SERVER", &server.base)
            .env("AFTERLOG_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    let logs = |extra: &[&str]| {
        let mut a = vec!["logs", "-t", "foo", "evjob"];
        a.extend(extra);
        ok(&run(&a))
    };
    // Plain: every line, the events among them.
    assert_eq!(
        logs(&[]).lines().collect::<Vec<_>>(),
        common::EVENTS_JOB,
        "events inline by default"
    );
    for which in ["only", "none", "include"] {
        let path = format!("/v1/tool/foo/jobs/evjob/logs?format=ndjson&events={which}");
        let want = text_ok(&http, &server.url(&path), TOKEN).await;
        assert_eq!(logs(&["--events", which, "--json"]), want, "{which}");
        let path = format!("/v1/tool/foo/jobs/evjob/logs?format=text&events={which}");
        let want = text_ok(&http, &server.url(&path), TOKEN).await;
        assert_eq!(
            logs(&["--events", which, "--timestamps", "--prefix"]),
            want,
            "{which}"
        );
    }
    assert_eq!(logs(&["--events", "none"]).lines().count(), 3);
    let bad = run(&["logs", "-t", "foo", "evjob", "--events", "all"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("include"),
        "{bad:?}"
    );

    // Colours: an event's whole line, the job's own lines untouched.
    let painted = logs(&["--color", "always", "--prefix"]);
    let rows: Vec<&str> = painted.lines().collect();
    assert_eq!(rows[0], "[evjob-1/job] starting", "{painted}");
    assert_eq!(
        rows[5],
        "\x1b[1;33m[evjob-1/@events] Warning BackOff (3×): Back-off restarting failed container job in pod evjob-1\x1b[0m",
        "{painted}"
    );
    assert_eq!(
        rows[3], "\x1b[36m[@events/@events] Normal SuccessfulCreate: Created pod: evjob-2\x1b[0m",
        "{painted}"
    );
    // A match inside an event keeps the event's colour after it.
    let matched = logs(&["--color", "always", "-e", "Scheduling"]);
    assert_eq!(
        matched,
        "\x1b[1;33mWarning Failed\x1b[1;31mScheduling\x1b[0m\x1b[1;33m: 0/3 nodes are available: 3 Insufficient memory.\x1b[0m\n"
    );
    assert!(!logs(&["--color", "never"]).contains('\x1b'));

    // Search: events found, painted, and left out on request.
    let found = ok(&run(&[
        "search", "foo", "-e", "BackOff", "--order", "oldest", "--color", "always",
    ]));
    assert_eq!(found.lines().count(), 2, "{found}");
    assert!(
        found
            .lines()
            .all(|l| l.starts_with("\x1b[1;33m") && l.contains("evjob/evjob-1/@events: ")),
        "{found}"
    );
    let none = ok(&run(&[
        "search", "foo", "-e", "BackOff", "--events", "none",
    ]));
    assert_eq!(none, "");
}
