//! The web page in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over the W3C WebDriver protocol), against the
//! service on 127.0.0.1 serving the demo data with token auth: the page
//! asks for the token, lists the tool's jobs, shows a job's lines in order
//! with streams told apart, and, following, shows a line pushed meanwhile.
//!
//! Leaves a screenshot in `target/…/web-page.png` (`CARGO_TARGET_TMPDIR`);
//! `docs/web-page.png` is a copy of it.

mod common;

use base64::Engine;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "browser-test-token";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(20);

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: `apt-get install chromium chromium-driver` (scripts/test does)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = d.http.get(format!("{}/status", d.base)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return d;
            }
            assert!(start.elapsed() < WAIT, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let v: Value = r.send().await.unwrap().json().await.unwrap();
        assert!(
            v["value"].get("error").is_none(),
            "WebDriver {path}: {}",
            v["value"]
        );
        v["value"].clone()
    }

    async fn session(&self, profile: &std::path::Path) -> Session<'_> {
        // The flags the machine's notes give for a closed network.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,900",
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args.iter().map(|s| s.to_string())
                    .chain([format!("--user-data-dir={}", profile.display())])
                    .collect::<Vec<_>>(),
            },
        }}});
        let v = self
            .call(reqwest::Method::POST, "/session", Some(caps))
            .await;
        Session {
            driver: self,
            id: v["sessionId"].as_str().unwrap().to_string(),
        }
    }
}

struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    async fn go(&self, url: &str) {
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/url", self.id),
                Some(json!({"url": url})),
            )
            .await;
    }

    async fn js(&self, script: &str) -> Value {
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/execute/sync", self.id),
                Some(json!({"script": script, "args": []})),
            )
            .await
    }

    /// Runs `script` until it returns something truthy.
    async fn until(&self, what: &str, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script).await;
            if !(v.is_null() || v == false || v == json!([]) || v == "") {
                return v;
            }
            if start.elapsed() > WAIT {
                let state = self
                    .js("return [document.getElementById('banner').textContent, document.getElementById('status').textContent, location.href]")
                    .await;
                panic!("{what}: not within {WAIT:?}; banner, status, url: {state}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self) -> Vec<u8> {
        let v = self
            .driver
            .call(
                reqwest::Method::GET,
                &format!("/session/{}/screenshot", self.id),
                None,
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    }

    async fn close(self) {
        self.driver
            .call(
                reqwest::Method::DELETE,
                &format!("/session/{}", self.id),
                None,
            )
            .await;
    }
}

/// Lines on the page: (data-ts, class, source, text).
const LINES: &str = "[...document.querySelectorAll('#log .line')].map(e => \
    [e.dataset.ts, e.className, e.querySelector('.src').textContent, e.querySelector('.msg').textContent])";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_jobs_shows_lines_and_follows() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::demo_server(
        dir.path(),
        &[("web", TOKEN, &["cronbot", "wiki-stats"], false)],
    )
    .await;
    let http = reqwest::Client::new();

    let driver = Driver::start().await;
    let s = driver.session(&dir.path().join("chromium-profile")).await;

    // Without a token the API says 401 and the page asks for one.
    s.go(&format!("{}/#tool=wiki-stats", server.base)).await;
    let banner = s
        .until(
            "the page asks for a token",
            "const b = document.getElementById('banner'); \
             return !document.getElementById('token-form').hidden && b.textContent",
        )
        .await;
    assert!(banner.as_str().unwrap().contains("401"), "{banner}");
    s.js(&format!(
        "document.getElementById('token').value = '{TOKEN}'; \
         document.getElementById('token-form').requestSubmit();"
    ))
    .await;

    // The tool's jobs.
    let jobs = s
        .until(
            "the job list",
            "return [...document.querySelectorAll('#jobs li[data-job]')].map(e => e.dataset.job)",
        )
        .await;
    assert_eq!(jobs, json!(["build", "wiki-stats"]));

    // A job: a web service with two replicas, one restarted: its lines in
    // order, as the API serves them, stderr marked.
    s.js("document.querySelector('#jobs li[data-job=\"wiki-stats\"] a').click()")
        .await;
    let want = http
        .get(server.url("/v1/tool/wiki-stats/jobs/wiki-stats/logs?format=ndjson&tail=1000"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let want: Vec<Value> = want
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let lines = s
        .until(
            "all lines of wiki-stats",
            &format!("const l = {LINES}; return l.length === {} && l", want.len()),
        )
        .await;
    let lines = lines.as_array().unwrap();
    assert!(!lines.is_empty());
    let mut last = 0u64;
    for (got, w) in lines.iter().zip(&want) {
        let ts: u64 = got[0].as_str().unwrap().parse().unwrap();
        assert!(ts >= last, "out of order: {got}");
        last = ts;
        assert_eq!(got[3], w["log"], "{got}");
        let class = got[1].as_str().unwrap();
        assert!(class.contains(w["stream"].as_str().unwrap()), "{got}");
        assert_eq!(
            got[2].as_str().unwrap(),
            format!(
                "{}/{}",
                w["afterlog"]["pod"].as_str().unwrap(),
                w["afterlog"]["container"].as_str().unwrap()
            )
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l[1].as_str().unwrap().contains("stderr")),
        "the demo job has stderr lines"
    );
    let url = s.js("return location.href").await;
    assert!(
        url.as_str()
            .unwrap()
            .ends_with("#tool=wiki-stats&job=wiki-stats"),
        "{url}"
    );

    // A filter is part of the link.
    s.js(
        "const e = document.getElementById('stream'); e.value = 'stderr'; \
          e.dispatchEvent(new Event('change'))",
    )
    .await;
    let only_err = s
        .until(
            "only stderr",
            "const l = [...document.querySelectorAll('#log .line')]; \
             return l.length > 0 && l.every(e => e.classList.contains('stderr')) \
                && location.hash.includes('stream=stderr') && l.length",
        )
        .await;
    assert!(only_err.as_u64().unwrap() < lines.len() as u64);

    // Following: a line pushed now appears without a reload.
    s.js(
        "const e = document.getElementById('stream'); e.value = ''; \
          e.dispatchEvent(new Event('change')); \
          document.getElementById('follow').click()",
    )
    .await;
    s.until(
        "following",
        "return location.hash.includes('follow=1') && \
         document.getElementById('status').textContent.includes('following')",
    )
    .await;
    let r = http
        .post(server.url("/v1/tool/wiki-stats/jobs/wiki-stats/logs"))
        .bearer_auth(TOKEN)
        .body(json!({"log": "pushed while the page follows", "stream": "stderr"}).to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    s.until(
        "the pushed line",
        "const l = [...document.querySelectorAll('#log .line')]; \
         const last = l[l.length - 1]; \
         return last && last.querySelector('.msg').textContent === 'pushed while the page follows' \
            && last.classList.contains('stderr')",
    )
    .await;

    // A tool the token is not for: the server's reason, on the page.
    s.go(&format!("{}/#tool=chatterbox", server.base)).await;
    let banner = s
        .until(
            "the refusal",
            "return document.getElementById('banner').textContent",
        )
        .await;
    assert!(banner.as_str().unwrap().contains("403"), "{banner}");

    // For docs/: the job, followed.
    s.go(&format!(
        "{}/#tool=wiki-stats&job=wiki-stats&tail=40",
        server.base
    ))
    .await;
    s.until(
        "lines for the screenshot",
        "return document.querySelectorAll('#log .line').length >= 30",
    )
    .await;
    // Lines pushed through the API do not make the job "custom".
    let meta = s
        .js("return document.getElementById('job-meta').textContent")
        .await;
    assert!(
        meta.as_str().unwrap().starts_with("webservice · active"),
        "{meta}"
    );
    let png = s.screenshot().await;
    assert_eq!(&png[1..4], b"PNG");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-page.png");
    std::fs::write(&out, png).unwrap();
    eprintln!("screenshot: {}", out.display());
    s.close().await;
}
