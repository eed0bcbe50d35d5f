//! `afterlog serve` over the bucket, and what it must serve.

use crate::world::{LONG, Logs, Pods, Written};
use crate::{BUCKET, SERVE_DEADLINE, TOKEN, UPLOADED};
use afterlog_contract::record::{self as field, event, label};
use afterlog_harness::fluent_bit::Proc;
use afterlog_testkit::{KEY, REGION, SECRET};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `afterlog serve` over the bucket, token auth, no background compaction.
pub struct Service {
    _proc: Proc,
    base: String,
    http: reqwest::Client,
}

impl Service {
    pub fn start(dir: &Path, endpoint: &str, run: usize) -> Service {
        let tokens = dir.join("tokens.json");
        let entry = json!({"tokens": [{"name": "e2e", "sha256": afterlog::auth::hash_token(TOKEN),
            "tools": ["foo", "bar", "noisy-tool"]}]});
        fs::write(&tokens, entry.to_string()).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_afterlog"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--auth", "token"])
            .arg("--tokens")
            .arg(&tokens)
            .args([
                "--store",
                &format!("s3://{BUCKET}"),
                "--class",
                &format!("{LONG}=s3://{BUCKET}/{LONG}"),
                "--s3-endpoint",
                endpoint,
            ])
            .args(["--s3-region", REGION, "--compact-every-minutes", "0"])
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info");
        let mut proc = Proc::spawn("afterlog", cmd, dir, run);
        let start = Instant::now();
        let addr = loop {
            proc.check_running();
            let err = strip_ansi(&proc.stderr());
            if let Some(at) = err.find("addr=") {
                let rest = &err[at + 5..];
                break rest.split_whitespace().next().unwrap().to_string();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "afterlog serve did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Service {
            _proc: proc,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    pub async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// The job's records as the service streams them (ndjson); `Err` with
    /// the reason when it is not a clean 200.
    pub async fn records(&self, tool: &str, job: &str) -> Result<Vec<Value>, String> {
        // Names in the scenario are URL-safe as they are.
        let path = format!("/v1/tool/{tool}/jobs/{job}/logs?format=ndjson");
        let (status, body) = self.get(&path).await;
        if status != 200 {
            return Err(format!("GET {path}: {status} {body}"));
        }
        let mut out = Vec::new();
        for line in body.lines() {
            let v: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
            if v.get("messages").is_some() {
                return Err(format!("GET {path}: {line}"));
            }
            out.push(v);
        }
        Ok(out)
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What the service must return for a job: `Ok` when it does, else why not.
fn compare(tool: &str, job: &str, got: &[Value], logs: &Logs) -> Result<(), String> {
    let want = logs.tool_lines(tool, job);
    if tool == "noisy-tool" {
        return compare_noisy(got, &want);
    }
    let row = |v: &Value| {
        let a = &v[field::AFTERLOG];
        (
            v[field::TS].as_u64().unwrap_or(0),
            a[label::CONTAINER_ID].as_str().unwrap_or("").to_string(),
            v[field::OFF].as_u64().unwrap_or(0),
            v[field::STREAM].as_str().unwrap_or("").to_string(),
            v[field::LOG].as_str().unwrap_or("").to_string(),
        )
    };
    let got_rows: Vec<_> = got.iter().map(row).collect();
    let want_rows: Vec<_> = want
        .iter()
        .map(|w| {
            (
                w.ts,
                w.container_id.clone(),
                w.off,
                w.stream.as_str().to_string(),
                w.log.clone(),
            )
        })
        .collect();
    if got_rows != want_rows {
        let missing: Vec<_> = want_rows.iter().filter(|r| !got_rows.contains(r)).collect();
        let extra: Vec<_> = got_rows.iter().filter(|r| !want_rows.contains(r)).collect();
        return Err(format!(
            "{tool}/{job}: {} records, want {}; missing {missing:?}; unexpected {extra:?}; \
             in order: {}",
            got_rows.len(),
            want_rows.len(),
            got_rows
                .windows(2)
                .all(|w| (w[0].0, &w[0].1, w[0].2) <= (w[1].0, &w[1].1, w[1].2))
        ));
    }
    for (v, w) in got.iter().zip(&want) {
        if v[field::AFTERLOG] != w.labels() {
            return Err(format!("{tool}/{job}: labels of {v} (want {})", w.labels()));
        }
    }
    Ok(())
}

/// A tool over quota: a prefix of its lines, then the marker, nothing more.
fn compare_noisy(got: &[Value], want: &[&Written]) -> Result<(), String> {
    let Some((marker, kept)) = got.split_last() else {
        return Err("noisy-tool/spam: nothing yet".into());
    };
    let a = &marker[field::AFTERLOG];
    if a[label::EVENT] != event::QUOTA_EXCEEDED {
        return Err(format!(
            "noisy-tool/spam: last record is not the marker: {marker}"
        ));
    }
    if a[label::TOOL] != "noisy-tool" || a[label::JOB] != "spam" {
        return Err(format!("noisy-tool/spam: marker labels: {marker}"));
    }
    if kept.is_empty() || kept.len() >= want.len() {
        return Err(format!(
            "noisy-tool/spam: {} lines kept of {}",
            kept.len(),
            want.len()
        ));
    }
    for (v, w) in kept.iter().zip(want) {
        if v[field::LOG] != w.log.as_str() || v[field::AFTERLOG] != w.labels() {
            return Err(format!("noisy-tool/spam: {v} is not {w:?}"));
        }
    }
    Ok(())
}

/// Polls the service until every job is served exactly as written.
pub async fn wait_served(svc: &Service, logs: &Logs, mut fb: Option<&mut Proc>, what: &str) {
    let start = Instant::now();
    loop {
        if let Some(fb) = fb.as_deref_mut() {
            fb.check_running();
        }
        let mut problems = Vec::new();
        for (tool, job) in Pods::JOBS {
            match svc.records(tool, job).await {
                Ok(got) => {
                    if let Err(e) = compare(tool, job, &got, logs) {
                        problems.push(e);
                    }
                }
                Err(e) => problems.push(e),
            }
        }
        if problems.is_empty() {
            eprintln!("{what}: served as written after {:?}", start.elapsed());
            return;
        }
        assert!(
            start.elapsed() < SERVE_DEADLINE,
            "{what}: after {SERVE_DEADLINE:?} the service still differs:\n{}\n\
             --- fluent-bit stderr (tail) ---\n{}",
            problems.join("\n"),
            fb.as_deref().map(Proc::stderr_tail).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `[error]` and `[ warn]` lines of Fluent Bit, minus the kubernetes
/// filter's complaints about having no service account.
pub fn problems(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("[error]") || l.contains("[ warn]") || l.contains("[afterlog filter]")
        })
        .filter(|l| {
            // The scenario deletes a log file right after its last line:
            // tail may then fail to stat it (`tail_file.c … errno=2`), after
            // having read it to the end (the test checks the last line).
            let deleted_file = l.contains("in_tail/tail_file.c") && l.contains("errno=2");
            !(deleted_file
                || l.contains("[tls]")
                || l.contains("serviceaccount")
                || l.contains("[filter:kubernetes")
                || l.contains("[imds]")
                || l.contains("service will shutdown"))
        })
        .collect()
}

/// The keys Fluent Bit says it uploaded.
pub fn logged_uploads(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .filter_map(|l| l.find(UPLOADED).map(|at| &l[at + UPLOADED.len()..]))
        .map(|k| k.trim().trim_start_matches('/').to_string())
        .collect()
}
