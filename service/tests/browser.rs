//! The web page in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over the W3C WebDriver protocol, with real
//! pointer and key input), against the service on 127.0.0.1 serving the
//! demo data with token auth: the page asks for the token, lists the tool's
//! jobs, shows a job's lines in order with streams told apart, and,
//! following, shows a line pushed meanwhile; it searches a job's lines and
//! steps through the matches by key, picks a cron job's run on its
//! timeline, reads the window dragged across the volume histogram, opens a
//! line's permalink at that line, and searches all the tool's jobs; and
//! shows Kubernetes events inline in their own colours, hidden or alone by
//! a toggle.
//!
//! Leaves screenshots in `target/…/web-page.png` and `web-page-events.png`
//! (`CARGO_TARGET_TMPDIR`); `docs/web-page.png` and
//! `docs/web-page-events.png` are copies of them.

mod common;

use base64::Engine;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "browser-test-token";
/// For the demo's tool that spends its quota.
const QUOTA_TOKEN: &str = "browser-test-quota-token";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(20);
/// How WebDriver names an element in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";

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

    /// The WebDriver id of the element `css` selects.
    async fn element(&self, css: &str) -> String {
        let v = self
            .driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/element", self.id),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_string()
    }

    /// A real click, as a user's pointer makes it.
    async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/element/{e}/click", self.id),
                Some(json!({})),
            )
            .await;
    }

    async fn actions(&self, actions: Value) {
        let path = format!("/session/{}/actions", self.id);
        self.driver
            .call(
                reqwest::Method::POST,
                &path,
                Some(json!({ "actions": actions })),
            )
            .await;
        self.driver.call(reqwest::Method::DELETE, &path, None).await;
    }

    /// Keys typed into whatever has the focus.
    async fn keys(&self, text: &str) {
        let strokes: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                let k = c.to_string();
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        self.actions(json!([{"type": "key", "id": "keyboard", "actions": strokes}]))
            .await;
    }

    /// A drag with the mouse across element `css`, between two points given
    /// as fractions of its width, at its middle height.
    async fn drag(&self, css: &str, from: f64, to: f64) {
        let e = self.element(css).await;
        let width = self
            .js(&format!(
                "const e = document.querySelector('{css}'); e.scrollIntoView({{block: 'center'}}); \
                 return e.getBoundingClientRect().width"
            ))
            .await
            .as_f64()
            .unwrap();
        // Offsets are from the element's centre.
        let x = |f: f64| ((f - 0.5) * width).round() as i64;
        let origin = json!({ ELEMENT: e });
        self.actions(json!([{"type": "pointer", "id": "mouse",
            "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pointerMove", "origin": origin, "x": x(from), "y": 0},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerMove", "origin": origin, "x": x((from + to) / 2.0), "y": 0, "duration": 100},
                {"type": "pointerMove", "origin": origin, "x": x(to), "y": 0, "duration": 100},
                {"type": "pointerUp", "button": 0},
            ]}]))
            .await;
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

    // Lines pushed through the API do not make the job "custom".
    s.go(&format!(
        "{}/#tool=wiki-stats&job=wiki-stats&tail=40",
        server.base
    ))
    .await;
    s.until(
        "lines again",
        "return document.querySelectorAll('#log .line').length >= 30",
    )
    .await;
    let meta = s
        .js("return document.getElementById('job-meta').textContent")
        .await;
    assert!(
        meta.as_str().unwrap().starts_with("webservice · active"),
        "{meta}"
    );
    s.close().await;
}

/// A GET of the API as the test's own client, with the token.
async fn api(server: &common::server::TestServer, path: &str) -> reqwest::Response {
    let r = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r
}

/// The records of a logs request, as ndjson gives them.
async fn records(server: &common::server::TestServer, path: &str) -> Vec<Value> {
    api(server, path)
        .await
        .text()
        .await
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The page's current match counter.
const COUNT: &str = "document.getElementById('count').textContent";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_searches_picks_runs_zooms_and_links_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::demo_server(
        dir.path(),
        &[
            ("web", TOKEN, &["cronbot", "wiki-stats"], false),
            ("quota", QUOTA_TOKEN, &["chatterbox"], false),
        ],
    )
    .await;
    let driver = Driver::start().await;
    let s = driver.session(&dir.path().join("chromium-profile")).await;
    s.go(&format!("{}/", server.base)).await;
    s.js(&format!(
        "sessionStorage.setItem('afterlog-token', '{TOKEN}')"
    ))
    .await;

    // A cron job's runs on a timeline, oldest first, as the API pages them.
    let detail: Value = api(&server, "/v1/tool/cronbot/jobs/update-stats")
        .await
        .json()
        .await
        .unwrap();
    // The job's own events (pod `@events`) are listed with its runs but
    // are no run: the timeline leaves them out.
    let runs: Vec<String> = detail["job"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pod"].as_str().unwrap().to_string())
        .filter(|p| !p.starts_with('@'))
        .collect();
    assert_eq!(runs.len(), 4);
    assert!(
        detail["job"]["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["pod"] == "@events"),
        "{detail}"
    );
    s.go(&format!("{}/#tool=cronbot&job=update-stats", server.base))
        .await;
    let shown = s
        .until(
            "the run timeline",
            "const r = [...document.querySelectorAll('#timeline .run')].map(e => e.dataset.run); \
             return r.length === 4 && r",
        )
        .await;
    assert_eq!(shown, json!(runs));
    let all_lines = s
        .until(
            "all runs' lines",
            "return !document.getElementById('status').textContent.startsWith('Loading') && \
             document.querySelectorAll('#log .line').length",
        )
        .await;

    // Picking a run, by pointer and by Enter, reads that run's lines only.
    let only_run = |pod: &str| {
        format!(
            "const l = [...document.querySelectorAll('#log .line .src')].map(e => e.textContent); \
             const b = document.querySelector('#timeline .run[data-run=\"{pod}\"]'); \
             return location.hash.includes('run={pod}') && b.getAttribute('aria-pressed') === 'true' \
                && !document.getElementById('status').textContent.startsWith('Loading') \
                && l.length > 0 && l.every(t => t.startsWith('{pod}/')) && l.length"
        )
    };
    s.click(&format!("#timeline .run[data-run=\"{}\"]", runs[1]))
        .await;
    let n = s.until("the second run's lines", &only_run(&runs[1])).await;
    let want = records(
        &server,
        &format!(
            "/v1/tool/cronbot/jobs/update-stats/logs?format=ndjson&run={}",
            runs[1]
        ),
    )
    .await;
    assert_eq!(n, json!(want.len()));
    assert!(n.as_u64().unwrap() < all_lines.as_u64().unwrap());
    s.js(&format!(
        "document.querySelector('#timeline .run[data-run=\"{}\"]').focus()",
        runs[0]
    ))
    .await;
    s.keys(ENTER).await;
    s.until("the first run's lines, by Enter", &only_run(&runs[0]))
        .await;
    // Back: the second run again, from the URL.
    s.js("history.back()").await;
    s.until("back to the second run", &only_run(&runs[1])).await;
    s.click("#timeline .all").await;
    s.until(
        "all runs again",
        &format!(
            "return !location.hash.includes('run=') && \
             document.querySelectorAll('#log .line').length === {all_lines}"
        ),
    )
    .await;

    // Search: `/` to the box, the term typed, Enter; the count, the matches
    // marked, n and N stepping through them.
    let all = records(
        &server,
        "/v1/tool/cronbot/jobs/update-stats/logs?format=ndjson&tail=1000",
    )
    .await;
    let want: Vec<&Value> = all
        .iter()
        .filter(|r| r["log"].as_str().unwrap().contains("replica lag"))
        .collect();
    assert_eq!(want.len(), 4, "one replica lag warning per run");
    s.keys("/").await;
    let focused = s.js("return document.activeElement.id").await;
    assert_eq!(focused, "q");
    s.keys(&format!("replica lag{ENTER}")).await;
    s.until(
        "the count",
        &format!("return location.hash.includes('grep=replica+lag') && {COUNT}.endsWith('4 matching lines')"),
    )
    .await;
    let marks = s
        .js("return [...document.querySelectorAll('#log .line.match')].map(e => \
             [e.querySelector('.msg').textContent, [...e.querySelectorAll('mark')].map(m => m.textContent), \
              e.classList.contains('lvl-warn')])")
        .await;
    let marks = marks.as_array().unwrap();
    assert_eq!(marks.len(), 4, "{marks:?}");
    for (m, w) in marks.iter().zip(&want) {
        assert_eq!(m[0], w["log"]);
        assert_eq!(m[1], json!(["replica lag"]));
        assert_eq!(m[2], true, "a WARNING line is tinted: {m}");
    }
    let current = "const l = [...document.querySelectorAll('#log .line.match')]; \
                   return l.findIndex(e => e.classList.contains('current'))";
    for (key, count, at) in [
        ("n", "1 of 4", 0),
        ("n", "2 of 4", 1),
        ("N", "1 of 4", 0),
        ("N", "4 of 4", 3),
    ] {
        s.keys(key).await;
        let c = s.js(&format!("return {COUNT}")).await;
        assert!(c.as_str().unwrap().starts_with(count), "{key}: {c}");
        assert_eq!(s.js(current).await, json!(at), "{key}");
    }
    // Escape: no search, all lines again.
    s.keys(ESCAPE).await;
    s.until(
        "the search cleared",
        &format!(
            "return !location.hash.includes('grep') && {COUNT} === '' && \
             document.querySelectorAll('#log .line').length === {all_lines}"
        ),
    )
    .await;

    // A line's permalink, opened afresh: the page scrolls to it and marks it.
    s.go(&format!("{}/#tool=wiki-stats&job=wiki-stats", server.base))
        .await;
    let link = s
        .until(
            "a line far down",
            "const l = document.querySelectorAll('#log .line'); \
             if (document.getElementById('status').textContent.startsWith('Loading') || l.length < 200) return null; \
             const e = l[Math.floor(l.length / 3)]; \
             return [e.id, e.querySelector('a.ts').getAttribute('href'), e.querySelector('.msg').textContent]",
        )
        .await;
    let href = link[1].as_str().unwrap();
    assert!(href.contains("&line="), "{href}");
    s.go("about:blank").await;
    s.go(&format!("{}/{href}", server.base)).await;
    let marked = s
        .until(
            "the linked line, marked and in view",
            "const t = document.querySelectorAll('.line.target'); \
             if (t.length !== 1) return null; \
             const r = t[0].getBoundingClientRect(); \
             return r.top >= 0 && r.bottom <= innerHeight && scrollY > 0 \
                && document.activeElement === t[0] && [t[0].id, t[0].querySelector('.msg').textContent]",
        )
        .await;
    assert_eq!(marked[0], link[0]);
    assert_eq!(marked[1], link[2]);

    // The volume histogram: a drag across it sets since/until (in the
    // fields and the URL) and reads that window's lines only.
    s.go(&format!("{}/#tool=wiki-stats&job=wiki-stats", server.base))
        .await;
    s.until(
        "the histogram",
        "return !document.getElementById('volume-box').hidden && \
         Number(document.getElementById('volume').dataset.buckets) > 10 && \
         !document.getElementById('status').textContent.startsWith('Loading')",
    )
    .await;
    s.drag("#volume", 0.3, 0.6).await;
    let window = s
        .until(
            "the dragged window",
            "const p = new URLSearchParams(location.hash.slice(1)); \
             return p.get('since') && p.get('until') \
                && document.getElementById('since').value === p.get('since') \
                && document.getElementById('until').value === p.get('until') \
                && !document.getElementById('zoom-out').hidden \
                && !document.getElementById('status').textContent.startsWith('Loading') \
                && [p.get('since'), p.get('until')]",
        )
        .await;
    let (since, until) = (window[0].as_str().unwrap(), window[1].as_str().unwrap());
    assert!(since < until, "{window}");
    let want = records(
        &server,
        &format!(
            "/v1/tool/wiki-stats/jobs/wiki-stats/logs?format=ndjson&tail=1000&since={since}&until={until}"
        ),
    )
    .await;
    assert!(!want.is_empty());
    let got = s
        .js("return [...document.querySelectorAll('#log .line')].map(e => e.dataset.ts)")
        .await;
    let want_ts: Vec<String> = want.iter().map(|r| r["ts"].to_string()).collect();
    assert_eq!(got, json!(want_ts));
    // Back: the whole life again.
    s.js("history.back()").await;
    s.until(
        "the window undone",
        "return !location.hash.includes('since') && document.getElementById('since').value === '' \
         && document.getElementById('zoom-out').hidden",
    )
    .await;

    // All the tool's jobs searched; a match links to its line in its job.
    s.go(&format!(
        "{}/#tool=wiki-stats&view=search&grep=Traceback",
        server.base
    ))
    .await;
    let hits = s
        .until(
            "the tool-wide matches",
            "const h = [...document.querySelectorAll('#matches li')]; \
             return h.length > 0 && h.map(e => [e.querySelector('.src').textContent, \
                [...e.querySelectorAll('mark')].map(m => m.textContent)])",
        )
        .await;
    assert_eq!(hits[0][1], json!(["Traceback"]), "{hits}");
    s.click("#matches li a.ts").await;
    s.until(
        "the match in its job",
        "const t = document.querySelector('.line.target'); \
         return location.hash.includes('job=wiki-stats') && t \
            && t.querySelector('.msg').textContent === 'Traceback (most recent call last):' \
            && t.classList.contains('lvl-error')",
    )
    .await;

    // Quota events: marked on the histogram and set apart among the lines.
    s.js(&format!(
        "sessionStorage.setItem('afterlog-token', '{QUOTA_TOKEN}')"
    ))
    .await;
    s.go(&format!("{}/#tool=chatterbox&job=firehose", server.base))
        .await;
    let label = s
        .until(
            "the quota events",
            "const v = document.getElementById('volume'); \
             return !document.getElementById('volume-box').hidden \
                && document.querySelectorAll('#log .line.event').length > 0 \
                && v.getAttribute('aria-label')",
        )
        .await;
    assert!(
        !label.as_str().unwrap().ends_with(" 0 quota events"),
        "{label}"
    );
    s.js(&format!(
        "sessionStorage.setItem('afterlog-token', '{TOKEN}')"
    ))
    .await;

    // For docs/: a web service's log searched, its histogram and runs.
    s.go(&format!(
        "{}/#tool=wiki-stats&job=wiki-stats&grep=elwiki&context=1",
        server.base
    ))
    .await;
    s.until(
        "matches for the screenshot",
        "return !document.getElementById('volume-box').hidden && \
         document.querySelectorAll('#log .line.match').length > 3 && \
         !document.getElementById('status').textContent.startsWith('Loading')",
    )
    .await;
    s.js("document.activeElement.blur()").await;
    s.keys("nn").await;
    s.js("window.scrollTo(0, 0)").await;
    let png = s.screenshot().await;
    assert_eq!(&png[1..4], b"PNG");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-page.png");
    std::fs::write(&out, png).unwrap();
    eprintln!("screenshot: {}", out.display());
    s.close().await;
}

/// Kubernetes events among a job's lines: their own classes and colours (a
/// warning apart), the Events toggle hiding them or showing them alone as
/// the API's `events=` (kept in the view's link), and the tool-wide search
/// marking an event it finds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_events_in_their_colours_and_toggles_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::file_store(dir.path());
    common::events_job(&store).await;
    let server = common::TestServer::open(store).await;
    let driver = Driver::start().await;
    let s = driver.session(&dir.path().join("chromium-profile")).await;

    s.go(&format!("{}/#tool=foo&job=evjob", server.base)).await;
    let lines = s
        .until(
            "the job's lines",
            &format!("const l = {LINES}; return l.length === 7 && l"),
        )
        .await;
    let texts: Vec<&str> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l[3].as_str().unwrap())
        .collect();
    assert_eq!(texts, common::EVENTS_JOB);
    let class = |i: usize| lines[i][1].as_str().unwrap().to_string();
    let backoff = class(5);
    assert!(
        backoff.contains("k8s-event") && backoff.contains("k8s-warning"),
        "{backoff}"
    );
    assert_eq!(lines[5][2], "evjob-1/@events");
    let created = class(3);
    assert!(
        created.contains("k8s-event") && created.contains("k8s-normal"),
        "{created}"
    );
    assert_eq!(lines[3][2], "@events/@events");
    assert!(!class(0).contains("k8s"), "{}", class(0));
    assert!(class(1).contains("stderr"), "{}", class(1));
    // Their colours are their own: not a stdout line's, a warning not a
    // normal event's.
    let colors = s
        .js("return [0, 3, 5].map(i => getComputedStyle(document.querySelectorAll('#log .line .msg')[i]).color)")
        .await;
    let c: Vec<&str> = colors
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(c[0] != c[1] && c[1] != c[2] && c[0] != c[2], "{colors}");

    // The toggle: events hidden, as events=none asks the API.
    s.click("#events").await;
    s.click("#events option[value=\"none\"]").await;
    let hidden = s
        .until(
            "events hidden",
            &format!(
                "const l = {LINES}; return l.length === 3 && location.hash.includes('events=none') && l"
            ),
        )
        .await;
    assert!(
        hidden
            .as_array()
            .unwrap()
            .iter()
            .all(|l| !l[1].as_str().unwrap().contains("k8s")),
        "{hidden}"
    );
    // Events alone.
    s.click("#events").await;
    s.click("#events option[value=\"only\"]").await;
    let only = s
        .until(
            "events alone",
            &format!("const l = {LINES}; return l.length === 4 && location.hash.includes('events=only') && l"),
        )
        .await;
    assert!(
        only.as_array()
            .unwrap()
            .iter()
            .all(|l| l[1].as_str().unwrap().contains("k8s-event")),
        "{only}"
    );
    // And back inline.
    s.click("#events").await;
    s.click("#events option[value=\"\"]").await;
    s.until(
        "events inline again",
        &format!("return {LINES}.length === 7 && !location.hash.includes('events=')"),
    )
    .await;
    // The select's list closed, for the screenshot.
    s.keys(ESCAPE).await;
    s.click("#status").await;
    let png = s.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-page-events.png");
    std::fs::write(&out, &png).unwrap();
    eprintln!("screenshot: {}", out.display());

    // The tool-wide search finds an event and marks it as one.
    s.go(&format!(
        "{}/#tool=foo&view=search&grep=FailedScheduling",
        server.base
    ))
    .await;
    let hit = s
        .until(
            "the search's match",
            "const h = [...document.querySelectorAll('#matches li')]; \
             return h.length === 1 && [h[0].className, h[0].querySelector('.src').textContent]",
        )
        .await;
    assert!(hit[0].as_str().unwrap().contains("k8s-warning"), "{hit}");
    assert_eq!(hit[1], "evjob · evjob-2/@events");
    s.close().await;
}
