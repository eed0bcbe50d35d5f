//! Kubernetes events end to end (docs/design.md §13): the real Fluent Bit
//! 5.1.1 running the shipped collector config `fluent-bit/afterlog-events.yaml`
//! (only its API server, token and directories pointed at the test)
//! against a fake Kubernetes API on loopback, through the release filter
//! `.wasm`, into s3s-fs; read back with the reader.
//!
//! Each recorded event must land in its tool, job and run (or under the
//! job as `@events`), once, across a watch that ends, a 410 Gone in both of
//! the API's forms, a restart, and two collectors at once; a count that
//! goes up is a new line; kube-system's events are not stored.
//!
//! Needs the filter built first (`cargo build --release --target
//! wasm32-wasip1 -p afterlog-filter`) and s3s-fs (scripts/test installs it).

use afterlog_contract::nf;
use afterlog_contract::record::{self as field, k8s_event, label};
use afterlog_contract::time::parse_rfc3339_nanos;
use afterlog_harness::fluent_bit::{
    Proc, fluent_bit_path, replace_lines, require_filter_wasm, wait_buffered, workspace_root, yp,
};
use afterlog_reader::{Selection, StoreConfig, open, read_job};
use afterlog_testkit::kube_api::{Gone, KubeApi, Verb};
use afterlog_testkit::{KEY, KubeEvents, REGION, S3Server, SECRET};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TOKEN: &str = "test-service-account-token";
const BUCKET: &str = "afterlog";
/// How long a step may take before the test fails.
const STEP: Duration = Duration::from_secs(30);

/// The shipped collector config, pointed at the fake API (plain HTTP, the
/// token in a file).
fn collector_config(api: &str, token_file: &Path) -> String {
    let src = workspace_root()
        .join("fluent-bit")
        .join("afterlog-events.yaml");
    let text = fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    replace_lines(
        &text,
        "kube_url:",
        &[
            format!("kube_url: {api}"),
            "tls: off".into(),
            format!("kube_token_file: {}", yp(token_file)),
        ],
        1,
    )
}

/// The sample filter config with its quota state in `state`.
fn filter_config(state: &Path) -> String {
    let src = workspace_root()
        .join("fluent-bit")
        .join("afterlog-filter.json");
    let mut v: Value = serde_json::from_slice(&fs::read(&src).unwrap()).unwrap();
    v["state_file"] = json!(state.join("afterlog-quota.state"));
    v.to_string()
}

/// One collector's pod: its config, filter config and state volume.
struct Collector {
    config: PathBuf,
    conf: PathBuf,
    state: PathBuf,
    work: PathBuf,
}

impl Collector {
    fn new(root: &Path, name: &str, api: &KubeApi, token_file: &Path) -> Collector {
        let dir = root.join(name);
        let c = Collector {
            config: dir.join("afterlog-events.yaml"),
            conf: dir.join("conf"),
            state: dir.join("state"),
            work: dir.join("work"),
        };
        for d in [&c.conf, &c.state, &c.work] {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(&c.config, collector_config(&api.url(), token_file)).unwrap();
        fs::write(c.conf.join("afterlog-filter.json"), filter_config(&c.state)).unwrap();
        c
    }

    /// The input given a `db` on its volume (the shipped config has none).
    fn with_db(self) -> Collector {
        let text = fs::read_to_string(&self.config).unwrap();
        let db = format!("db: {}", yp(&self.state.join("afterlog-events.db")));
        let text = replace_lines(
            &text,
            "kube_retention_time:",
            &[db, "kube_retention_time: 1h".into()],
            1,
        );
        fs::write(&self.config, text).unwrap();
        self
    }

    fn start(&self, wasm: &Path, s3: &S3Server, run: usize) -> Proc {
        let mut cmd = Command::new(fluent_bit_path().unwrap());
        cmd.arg("-c").arg(&self.config);
        let p = |p: &Path| p.to_string_lossy().into_owned();
        for (k, v) in [
            ("AFTERLOG_WASM", p(wasm)),
            ("AFTERLOG_CONF_DIR", p(&self.conf)),
            ("AFTERLOG_STATE_DIR", p(&self.state)),
            ("AFTERLOG_BUCKET", BUCKET.to_string()),
            ("AFTERLOG_S3_ENDPOINT", s3.endpoint()),
            ("AFTERLOG_S3_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
        ] {
            cmd.env(k, v);
        }
        Proc::spawn("fluent-bit", cmd, &self.work, run)
    }
}

/// Waits until `done` holds, or fails with Fluent Bit's last words.
fn wait_for(what: &str, fbs: &mut [&mut Proc], mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        for fb in fbs.iter_mut() {
            fb.check_running();
        }
        assert!(
            start.elapsed() < STEP,
            "{what}: not within {STEP:?}\n--- stderr (tail) ---\n{}",
            fbs.first().map(|f| f.stderr_tail()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn uid(e: &Value) -> &str {
    e["metadata"]["uid"].as_str().unwrap()
}

/// Where §13 files an event: (tool, job, pod or `@events`).
fn place(e: &Value) -> (String, String, String) {
    let o = &e["involvedObject"];
    let ns = o["namespace"].as_str().unwrap();
    let tool = ns.strip_prefix("tool-").unwrap().to_string();
    let name = o["name"].as_str().unwrap();
    let (job, pod) = match (o["kind"].as_str().unwrap(), name) {
        ("Pod", _) => (name.split('-').next().unwrap(), name),
        (_, n) => (n.split('-').next().unwrap(), "@events"),
    };
    (tool, job.to_string(), pod.to_string())
}

/// One stored event line, as read: where it was filed and what it says.
#[derive(Debug)]
struct Stored {
    pod: String,
    container: String,
    ts: u64,
    uid: String,
    count: u64,
    rec: Value,
}

/// Every event line the reader returns for each (tool, job).
async fn read_events(store_dir: &Path, jobs: &[(String, String)]) -> BTreeMap<String, Vec<Stored>> {
    let store = open(&StoreConfig::new(format!("file://{}", store_dir.display()))).unwrap();
    let mut out = BTreeMap::new();
    for (tool, job) in jobs {
        let log = read_job(store.clone(), tool, job, Selection::default())
            .await
            .unwrap_or_else(|e| panic!("{tool}/{job}: {e}"));
        // An upload of events is in list and watch order, not time order;
        // the reader places it by its earliest record (docs/design.md §13,
        // "Placing"), so nothing comes out of order.
        assert!(log.warnings.is_empty(), "{tool}/{job}: {:?}", log.warnings);
        let lines = log
            .records
            .iter()
            .map(|r| {
                let raw: Value = serde_json::from_slice(&r.line).unwrap();
                let rec = if nf::is_nf_line(&r.line) {
                    nf::decode_record(raw).unwrap()
                } else {
                    raw
                };
                let ev = &rec[k8s_event::FIELD];
                Stored {
                    pod: r.pod.clone(),
                    container: r.container.clone(),
                    ts: r.ts,
                    uid: ev[k8s_event::UID].as_str().unwrap_or_default().to_string(),
                    count: rec[field::OFF].as_u64().unwrap_or_default(),
                    rec,
                }
            })
            .collect();
        out.insert(format!("{tool}/{job}"), lines);
    }
    out
}

/// Every file's bytes under `dir`, for what must not be there.
fn all_bytes(dir: &Path, out: &mut Vec<u8>) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            all_bytes(&p, out);
        } else {
            out.extend(fs::read(&p).unwrap_or_default());
        }
    }
}

fn gunzip_all(dir: &Path) -> String {
    let mut text = String::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            text.push_str(&gunzip_all(&p));
        } else if p.extension().is_some_and(|x| x == "gz") {
            let body = fs::read(&p).unwrap();
            let (bytes, err) = afterlog_reader::gunzip(&body);
            assert!(err.is_none(), "{}: {err:?}", p.display());
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

#[test]
fn kubernetes_events_are_stored_once_in_their_jobs() {
    let wasm = require_filter_wasm();
    let tmp = tempfile::Builder::new()
        .prefix("afterlog-kube-events-")
        .tempdir()
        .unwrap();
    if std::env::var_os("AFTERLOG_KEEP_TMP").is_some() {
        eprintln!("keeping {}", tmp.path().display());
    }
    let token_file = tmp.path().join("token");
    fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let s3 = S3Server::start(&[BUCKET]);
    let api = KubeApi::start(TOKEN);
    let fx = KubeEvents::now();
    let (listed, watched) = fx.events.split_at(fx.events.len() / 2);

    // Listed: half the events and one of kube-system's, there before the
    // collector starts.
    for e in listed.iter().chain(&fx.kube_system[..1]) {
        api.put(e.clone());
    }
    let a = Collector::new(tmp.path(), "a", &api, &token_file);
    let mut fb = a.start(&wasm, &s3, 1);
    wait_for("the first watch", &mut [&mut fb], || {
        api.count(Verb::Watch, 200) == 1
    });
    assert_eq!(api.count(Verb::List, 200), 1);
    // Watched: the rest.
    for e in watched.iter().chain(&fx.kube_system[1..]) {
        api.put(e.clone());
    }
    let last = uid(watched.last().unwrap());
    wait_buffered(&mut fb, &a.state, last, STEP);

    // (a) The watch ends: Fluent Bit lists again and watches on; what it
    // emitted before it does not emit again. Then the BackOff happens a
    // fourth time: the same object, its count raised.
    api.end_watches();
    wait_for("a list after the watch ended", &mut [&mut fb], || {
        api.count(Verb::List, 200) == 2 && api.count(Verb::Watch, 200) == 2
    });
    api.put(fx.backoff_again.clone());
    let again = fx.backoff_again["lastTimestamp"].as_str().unwrap();
    wait_buffered(&mut fb, &a.state, again, STEP);

    // (b) 410 Gone, as a watch event and as the HTTP status: both make it
    // list again.
    api.expire_next_watches(Gone::ErrorEvent, 1);
    api.end_watches();
    wait_for("a list after the ERROR 410 event", &mut [&mut fb], || {
        api.count(Verb::List, 200) == 4 && api.count(Verb::Watch, 200) == 4
    });
    api.expire_next_watches(Gone::Http410, 1);
    api.end_watches();
    wait_for("a list after HTTP 410", &mut [&mut fb], || {
        api.count(Verb::Watch, 410) == 1 && api.count(Verb::Watch, 200) == 5
    });
    fb.stop(Duration::from_secs(60));
    // The server notices a closed watch only when it next writes to it.
    api.end_watches();

    // Everything was uploaded at the stop: nothing of it is left buffered.
    let mut left = Vec::new();
    all_bytes(&a.state, &mut left);
    assert!(
        !String::from_utf8_lossy(&left).contains(last),
        "buffered after the stop"
    );

    // (c) A restart (the shipped config keeps no db): it emits every
    // event the API still holds once more.
    let lists = api.count(Verb::List, 200);
    let mut fb = a.start(&wasm, &s3, 2);
    wait_for("the restart's list", &mut [&mut fb], || {
        api.count(Verb::List, 200) == lists + 1 && api.open_watches() == 1
    });
    wait_buffered(&mut fb, &a.state, last, STEP);
    fb.stop(Duration::from_secs(60));
    api.end_watches();

    // (d) Two collectors at once, each with its own volume.
    let b = Collector::new(tmp.path(), "b", &api, &token_file);
    let c = Collector::new(tmp.path(), "c", &api, &token_file);
    let (mut fb_b, mut fb_c) = (b.start(&wasm, &s3, 1), c.start(&wasm, &s3, 1));
    wait_for("both collectors watch", &mut [&mut fb_b, &mut fb_c], || {
        api.open_watches() == 2
    });
    wait_buffered(&mut fb_b, &b.state, last, STEP);
    wait_buffered(&mut fb_c, &c.state, last, STEP);
    fb_b.stop(Duration::from_secs(60));
    fb_c.stop(Duration::from_secs(60));
    assert!(
        api.requests()
            .iter()
            .all(|r| r.param("watch").is_none() || r.param("timeoutSeconds").is_some()),
        "every watch asks for a timeout"
    );

    // Read back: every event once, where §13 files it.
    let store_dir = s3.bucket_dir(BUCKET);
    let mut jobs: Vec<(String, String)> = fx
        .events
        .iter()
        .map(|e| {
            let (t, j, _) = place(e);
            (t, j)
        })
        .collect();
    jobs.sort();
    jobs.dedup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let read = rt.block_on(read_events(&store_dir, &jobs));
    // The copies a restart and a second collector stored carry one
    // identity (§4: uid, ts, count, stream), so a read returns each once
    // (that copies were stored is checked on the raw objects below).
    let mut stored: BTreeMap<String, Vec<Stored>> = BTreeMap::new();
    for (job, lines) in read {
        let mut once: BTreeMap<(String, u64, u64), Stored> = BTreeMap::new();
        for l in lines {
            let key = (l.uid.clone(), l.ts, l.count);
            assert!(
                !once.contains_key(&key),
                "{job}: a read returned {key:?} twice"
            );
            once.insert(key, l);
        }
        stored.insert(job, once.into_values().collect());
    }
    // The occurrences: each event as first seen, and the BackOff's fourth.
    let mut want: Vec<&Value> = fx.events.iter().collect();
    want.push(&fx.backoff_again);
    for e in &want {
        let (tool, job, pod) = place(e);
        let lines = &stored[&format!("{tool}/{job}")];
        let count = e["series"]["count"]
            .as_u64()
            .or(e["count"].as_u64())
            .unwrap_or(1);
        let found: Vec<&Stored> = lines
            .iter()
            .filter(|s| s.uid == uid(e) && s.count == count)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{tool}/{job}: {} {} (×{count}) stored once, the job's: {lines:#?}",
            e["reason"],
            e["involvedObject"]["name"]
        );
        let s = found[0];
        assert_eq!(s.pod, pod, "{}", s.rec);
        assert_eq!(s.container, k8s_event::CONTAINER, "{}", s.rec);
        assert_eq!(s.rec[field::STREAM], k8s_event::STREAM, "{}", s.rec);
        assert_eq!(s.rec[field::AFTERLOG][label::CONTAINER_ID], uid(e));
        assert_eq!(s.rec[k8s_event::FIELD][k8s_event::REASON], e["reason"]);
        assert_eq!(s.rec[k8s_event::FIELD][k8s_event::MESSAGE], e["message"]);
        // The latest occurrence's time, to the fraction the event has.
        let last = e["series"]["lastObservedTime"]
            .as_str()
            .or(e["lastTimestamp"].as_str())
            .unwrap();
        assert_eq!(
            s.ts,
            parse_rfc3339_nanos(last.as_bytes()).unwrap(),
            "{}",
            s.rec
        );
    }
    // Nothing else: each job holds exactly these occurrences.
    for (job, lines) in &stored {
        let n = want
            .iter()
            .filter(|e| {
                let (t, j, _) = place(e);
                format!("{t}/{j}") == *job
            })
            .count();
        assert_eq!(lines.len(), n, "{job}: {lines:#?}");
    }
    // The count going up is a second line of the same event.
    let backoff = &stored["foo/mycron"];
    let counts: Vec<u64> = backoff
        .iter()
        .filter(|s| s.uid == uid(&fx.backoff_again))
        .map(|s| s.count)
        .collect();
    assert_eq!(counts, [3, 4]);
    // Every listed event was uploaded by the first run, the restart and
    // both collectors.
    let raw = gunzip_all(&store_dir);
    let uploads = raw.matches(uid(&fx.events[0])).count();
    assert!(uploads >= 4, "the first event was uploaded {uploads} times");
    // kube-system's and the node's events: not stored anywhere.
    let mut bytes = Vec::new();
    all_bytes(&store_dir, &mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    for e in &fx.kube_system {
        assert!(!text.contains(uid(e)), "stored: {e}");
        assert!(!raw.contains(uid(e)), "stored: {e}");
    }
}

/// Why the shipped collector has no `db`: with one, Fluent Bit emits an
/// Event object once per uid. A restart then stores nothing twice, but the
/// BackOff's fourth occurrence (the same object, its count raised) is lost.
/// Should a Fluent Bit release change this, this test says so.
#[test]
fn with_a_db_an_event_object_is_emitted_once_ever() {
    let wasm = require_filter_wasm();
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("token");
    fs::write(&token_file, TOKEN).unwrap();
    let s3 = S3Server::start(&[BUCKET]);
    let api = KubeApi::start(TOKEN);
    let fx = KubeEvents::now();
    for e in &fx.events {
        api.put(e.clone());
    }
    let a = Collector::new(tmp.path(), "a", &api, &token_file).with_db();
    let mut fb = a.start(&wasm, &s3, 1);
    wait_for("the watch", &mut [&mut fb], || api.open_watches() == 1);
    let last = uid(fx.events.last().unwrap());
    wait_buffered(&mut fb, &a.state, last, STEP);
    api.put(fx.backoff_again.clone());
    // The watch carries it (the server sent it); the input drops it.
    let sent = api.requests().len();
    std::thread::sleep(Duration::from_secs(3));
    fb.stop(Duration::from_secs(60));
    api.end_watches();
    let mut fb = a.start(&wasm, &s3, 2);
    wait_for("the restart's watch", &mut [&mut fb], || {
        api.requests().len() >= sent + 2 && api.open_watches() == 1
    });
    std::thread::sleep(Duration::from_secs(2));
    fb.stop(Duration::from_secs(60));

    let raw = gunzip_all(&s3.bucket_dir(BUCKET));
    let lines_of = |e: &Value| raw.lines().filter(|l| l.contains(uid(e))).count();
    assert_eq!(lines_of(&fx.events[0]), 1, "the restart emitted it again");
    assert_eq!(
        lines_of(&fx.backoff_again),
        1,
        "the BackOff's count 4 was stored: the db no longer drops it"
    );
}

/// The plugin entries of a YAML config by alias: their setting lines,
/// without comments and without `match`/`match_regex` (the collector's
/// tag is its own).
fn entries(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Vec<String> = Vec::new();
    let mut flush = |current: &mut Vec<String>| {
        let alias = current
            .iter()
            .find_map(|l| l.strip_prefix("alias: "))
            .map(str::to_string);
        if let Some(a) = alias {
            out.insert(a, std::mem::take(current));
        }
        current.clear();
    };
    for line in text.lines() {
        let body = line.trim();
        if body.starts_with("- name:") {
            flush(&mut current);
            current.push(body.trim_start_matches("- ").to_string());
        } else if !body.is_empty()
            && !body.starts_with('#')
            && line.starts_with("      ")
            && !body.starts_with("match")
        {
            current.push(body.to_string());
        } else if !line.starts_with("      ") {
            flush(&mut current);
        }
    }
    flush(&mut current);
    out
}

#[test]
fn the_collector_filters_and_stores_as_the_drop_in_does() {
    let read = |f: &str| fs::read_to_string(workspace_root().join("fluent-bit").join(f)).unwrap();
    let (events, drop_in) = (
        entries(&read("afterlog-events.yaml")),
        entries(&read("afterlog.yaml")),
    );
    for alias in [
        "afterlog_filter",
        "afterlog_route",
        "afterlog_s3",
        "afterlog_s3_long_retention",
    ] {
        assert!(
            events.contains_key(alias),
            "afterlog-events.yaml has no {alias}"
        );
        assert_eq!(
            events[alias], drop_in[alias],
            "{alias}: afterlog-events.yaml differs from the drop-in"
        );
    }
    // The outputs' matches are the drop-in's too: they take the re-tagged
    // records, whichever input they came from.
    let text = read("afterlog-events.yaml");
    assert!(text.contains("match_regex: '^afterlog\\.(?!long-retention\\.)'"));
    assert!(text.contains("match: 'afterlog.long-retention.*'"));
    assert!(
        !text.contains("\n      db:"),
        "a db drops repeated occurrences"
    );
}
