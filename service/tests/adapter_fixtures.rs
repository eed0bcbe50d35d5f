//! Writes the fixture store of the JavaScript adapter's tests
//! (`adapter-wasm/tests/fixtures/store/`) with the real components: the
//! real Fluent Bit with the drop-in `fluent-bit/afterlog.yaml` and the
//! filter uploads raw objects to `s3s-fs` on 127.0.0.1, and `afterlog
//! compact` writes data and meta objects. Not a check of its own (the
//! end-to-end checks are `fluent_bit.rs`): run it when the stored formats
//! change, and commit what it writes:
//!
//! ```sh
//! scripts/build-filter
//! AFTERLOG_ADAPTER_FIXTURES=$PWD/adapter-wasm/tests/fixtures/store \
//!     cargo test --profile ci -p afterlog --test adapter_fixtures -- --ignored --nocapture
//! ```
//!
//! What the store holds, tool `foo`:
//! - job `web` (a web service): containers `webservice` and `sidecar`
//!   interleaved, equal times across containers, a partial (`P`) line, a
//!   NUL byte and other escapes; `webservice` restarts (a new container id);
//! - job `my.job` (a name that needs key encoding);
//! - job `mycron`, a cron job with two runs (pods);
//! - raw objects of both event formats: phase 1 and 2 in `json`, phases 3
//!   and 4 in `msgpack` (NF1 records);
//! - one upload repeated under two keys: Fluent Bit is killed while the
//!   store has taken an upload but not answered it, and sends it again
//!   after its restart;
//! - data/ and meta/ objects of a compaction after phase 3, whose consumed
//!   raw objects are still there (within the grace period), and raw
//!   objects uploaded after it (phase 4).

mod common;

use afterlog_contract::layout;
use afterlog_contract::nf;
use afterlog_harness::fluent_bit::{
    DropIn, Node, Proc, main_config, require_filter_wasm, wait_buffered, workspace_root,
};
use afterlog_reader::Store;
use afterlog_sim::cri::Stream;
use afterlog_sim::k8s::{Pod, hex_id};
use afterlog_testkit::{Proxy, S3Server};
use flate2::read::MultiGzDecoder;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const OUT_ENV: &str = "AFTERLOG_ADAPTER_FIXTURES";
const BUCKET: &str = "afterlog";
const UPLOAD_TIMEOUT_SECS: u64 = 3;
const DEADLINE: Duration = Duration::from_secs(90);
const NS: u64 = 1_000_000_000;
/// The web service's container.
const WS: &str = "webservice";
/// Its sidecar.
const SIDE: &str = "sidecar";

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The drop-in pointed at this run's files, in `event_format`.
fn write_config(d: &Node, event_format: &str) -> PathBuf {
    let text = DropIn::shipped()
        .point_at(&d.logs, &d.meta)
        .event_format(event_format)
        .upload_timeout_secs(UPLOAD_TIMEOUT_SECS);
    let drop_in = d.work.join(format!("afterlog-{event_format}.yaml"));
    fs::write(&drop_in, text.text()).unwrap();
    let main = d.work.join(format!("fluent-bit-{event_format}.yaml"));
    fs::write(&main, main_config(&d.storage, &drop_in, None)).unwrap();
    main
}

/// Writes CRI lines; remembers their texts (to wait for them).
struct Writer {
    dir: PathBuf,
    texts: Vec<String>,
}

impl Writer {
    fn line(&mut self, pod: &Pod, container: &str, ts: u64, s: Stream, text: &str) {
        let mut log = pod.log(&self.dir, container).unwrap();
        log.line(ts, s, text).unwrap();
        log.flush().unwrap();
        self.texts.push(text.into());
    }

    /// [`Writer::line`] for each of `lines`, the `i`th second at `t(i)`.
    fn lines(&mut self, t: &dyn Fn(u64) -> u64, lines: &[(&Pod, &str, u64, Stream, &str)]) {
        for &(pod, container, i, s, text) in lines {
            self.line(pod, container, t(i), s, text);
        }
    }

    fn partial(&mut self, pod: &Pod, container: &str, ts: u64, s: Stream, parts: &[&str]) {
        let mut log = pod.log(&self.dir, container).unwrap();
        let (last, init) = parts.split_last().unwrap();
        let mut t = ts;
        for p in init {
            log.partial(t, s, p).unwrap();
            t += 1;
        }
        log.line(t, s, last).unwrap();
        log.flush().unwrap();
        self.texts.push(parts.concat());
    }

    /// Texts written since `from` that are plain enough to find in a stored
    /// object as written (no JSON escapes).
    fn plain_since(&self, from: usize) -> Vec<String> {
        self.texts[from..]
            .iter()
            .filter(|t| {
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b" :.,-".contains(&b))
            })
            .cloned()
            .collect()
    }
}

fn gunzip(body: &[u8]) -> Option<String> {
    let mut text = String::new();
    MultiGzDecoder::new(body).read_to_string(&mut text).ok()?;
    Some(text)
}

async fn list(store: &Store, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let mut keys: Vec<String> = store
        .list(Some(&StorePath::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

async fn get(store: &Store, key: &str) -> Vec<u8> {
    let g = store.get(&StorePath::from(key)).await.unwrap();
    g.bytes().await.unwrap().to_vec()
}

/// Waits until every text is in some raw object of the bucket.
async fn wait_uploaded(store: &Store, fb: &mut Proc, texts: &[String]) {
    let start = Instant::now();
    loop {
        fb.check_running();
        let mut all = String::new();
        for k in list(store, layout::RAW).await {
            all.push_str(&gunzip(&get(store, &k).await).unwrap_or_default());
        }
        let missing: Vec<&String> = texts.iter().filter(|t| !all.contains(t.as_str())).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "not uploaded in {DEADLINE:?}: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Copies every object of the bucket under `prefix` into `out`, as a
/// `file://` store holds them (one file per key).
async fn copy_out(store: &Store, prefix: &str, out: &Path) -> usize {
    let keys = list(store, prefix).await;
    for k in &keys {
        let path = out.join(k);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, get(store, k).await).unwrap();
    }
    keys.len()
}

/// Every file under `dir`, relative.
fn files(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, &rel.join(e.file_name()), out);
        } else {
            out.push(rel.join(e.file_name()));
        }
    }
}

#[test]
#[ignore = "writes the adapter's fixtures: see the file's comment"]
fn write_adapter_fixtures() {
    let out = PathBuf::from(std::env::var_os(OUT_ENV).expect("AFTERLOG_ADAPTER_FIXTURES=<dir>"));
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).unwrap();
    let wasm = require_filter_wasm();
    // Not tempdir()'s `.tmp…`: the path becomes the tail's tag, and the
    // kubernetes filter does not parse a tag with an empty part (`..`).
    let tmp = tempfile::Builder::new()
        .prefix("afterlog-fixtures-")
        .tempdir()
        .unwrap();
    // AFTERLOG_KEEP_TMP=1 keeps Fluent Bit's configs, logs and state.
    let root = &if std::env::var_os("AFTERLOG_KEEP_TMP").is_some() {
        let kept = tmp.keep();
        eprintln!("keeping {}", kept.display());
        kept
    } else {
        tmp.path().to_path_buf()
    };
    let d = Node::new(root);
    let sample = workspace_root().join("fluent-bit/afterlog-filter.json");
    let mut cfg: serde_json::Value = serde_json::from_slice(&fs::read(sample).unwrap()).unwrap();
    cfg["state_file"] = d
        .state
        .join("afterlog-quota.state")
        .to_string_lossy()
        .into();
    fs::write(d.conf.join("afterlog-filter.json"), cfg.to_string()).unwrap();

    let web = Pod::new("tool-foo", "web-7d9f8b6c5d-x2x4z")
        .label("app.kubernetes.io/name", "web")
        .label("app.kubernetes.io/component", "web")
        .label("pod-template-hash", "7d9f8b6c5d")
        .node("node-3")
        .container("webservice")
        .container("sidecar");
    let mut web2 = web.clone();
    if let Some(c) = web2.containers.iter_mut().find(|c| c.name == "webservice") {
        c.id = hex_id(&format!("{}/restart", c.id));
    }
    let job = Pod::new("tool-foo", "my.job-x7k2p")
        .label("app.kubernetes.io/managed-by", "toolforge-jobs-framework")
        .label("app.kubernetes.io/name", "my.job")
        .label("job-name", "my.job")
        .container("job");
    let cron = Pod::new("tool-foo", "mycron-28889999-k7p2q")
        .label("batch.kubernetes.io/job-name", "mycron-28889999")
        .label("job-name", "mycron-28889999")
        .node("node-2")
        .container("job");
    let cron2 = Pod::new("tool-foo", "mycron-28890000-q9z8x")
        .label("batch.kubernetes.io/job-name", "mycron-28890000")
        .label("job-name", "mycron-28890000")
        .container("job");
    for p in [&web, &job, &cron, &cron2] {
        p.write_meta(&d.meta).unwrap();
    }

    let server = S3Server::start(&[BUCKET]);
    let endpoint = server.endpoint();
    let proxy = Proxy::start(
        endpoint
            .trim_start_matches("http://")
            .parse::<SocketAddr>()
            .unwrap(),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = server.store(&format!("s3://{BUCKET}"));
    let mut w = Writer {
        dir: d.logs.clone(),
        texts: Vec::new(),
    };
    use Stream::{Stderr, Stdout};
    let t =
        |base: u64, i: u64| (base + i) * NS + [0, 500_000_000, 123_456_789, 2][(i % 4) as usize];
    let t_at = |base: u64| move |i: u64| t(base, i);

    // ---- phase 1, event_format json: uploaded.
    let json_cfg = write_config(&d, "json");
    let mut fb = d.start_fluent_bit(&json_cfg, &wasm, BUCKET, &proxy.endpoint(), 1);
    let b = now_secs() - 900;
    w.lines(
        &t_at(b),
        &[
            (&web, WS, 1, Stdout, "web: listening on 8000"),
            (&web, SIDE, 1, Stdout, "sidecar: proxy up"),
            (&job, "job", 1, Stdout, "my.job: starting"),
            (&web, WS, 2, Stderr, "web: GET / 200"),
        ],
    );
    let parts = ["partial one, ", "partial two, ", "partial three"];
    w.partial(&web, "sidecar", t(b, 3), Stderr, &parts);
    w.line(
        &web,
        "webservice",
        t(b, 4),
        Stdout,
        "unicode: café 日本 😀 \"quoted\" back\\slash\ttab, a NUL \u{0} here",
    );
    w.line(&job, "job", t(b, 5), Stderr, "my.job: warning 1");
    w.line(
        &web,
        "sidecar",
        t(b, 6),
        Stdout,
        r#"{"json": "inside", "n": 1}"#,
    );
    for i in 0..3 {
        let text = format!("mycron run 28889999 line {i}");
        w.line(&cron, "job", t(b, 2 + i), Stdout, &text);
    }
    rt.block_on(wait_uploaded(&store, &mut fb, &w.plain_since(0)));

    // ---- phase 2, json: buffered, then killed while an upload's answer
    // is withheld; that upload is stored and sent again after the restart.
    let from = w.texts.len();
    let b = now_secs() - 600;
    for i in 0..4 {
        w.line(
            &web,
            "webservice",
            t(b, i),
            Stdout,
            &format!("web: phase 2 request {i}"),
        );
        w.line(
            &web,
            "sidecar",
            t(b, i),
            Stderr,
            &format!("sidecar: phase 2 tick {i}"),
        );
    }
    w.line(&job, "job", t(b, 5), Stdout, "my.job: phase 2 step");
    for text in w.plain_since(from) {
        wait_buffered(&mut fb, &d.state, &text, DEADLINE);
    }
    proxy.withhold_next_response();
    let start = Instant::now();
    while proxy.withheld() == 0 {
        fb.check_running();
        assert!(start.elapsed() < DEADLINE, "no phase 2 upload");
        std::thread::sleep(Duration::from_millis(5));
    }
    fb.kill();

    // ---- phase 3, event_format msgpack (NF1): the container restarts.
    let msgpack_cfg = write_config(&d, "msgpack");
    let mut fb = d.start_fluent_bit(&msgpack_cfg, &wasm, BUCKET, &proxy.endpoint(), 2);
    let b = now_secs() - 300;
    w.lines(
        &t_at(b),
        &[
            (&web2, WS, 1, Stdout, "web: restarted, listening"),
            (&web2, WS, 2, Stderr, "web: NUL \u{0} and \u{1} in NF1"),
            (&web, SIDE, 2, Stdout, "sidecar: phase 3 still up"),
            (&job, "job", 3, Stdout, "my.job: phase 3 step"),
            (&cron2, "job", 3, Stdout, "mycron run 28890000 line 0"),
            (&cron2, "job", 4, Stderr, "mycron run 28890000 line 1"),
            (&web2, WS, 4, Stdout, "web: GET /health 200"),
        ],
    );
    rt.block_on(wait_uploaded(&store, &mut fb, &w.plain_since(0)));
    fb.stop(DEADLINE);

    // ---- compaction of what is there: the objects settled an hour ago
    // (by mtime); `afterlog compact` writes data/ and meta/ and keeps the
    // consumed raw objects for the grace period.
    let raw = rt.block_on(copy_out(&store, layout::RAW, &out));
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let mut all = Vec::new();
    files(&out, Path::new(""), &mut all);
    for f in &all {
        File::options()
            .write(true)
            .open(out.join(f))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }
    let status = Command::new(env!("CARGO_BIN_EXE_afterlog"))
        .args(["compact", "--store"])
        .arg(format!("file://{}", out.display()))
        .env("NO_COLOR", "1")
        .status()
        .unwrap();
    assert!(status.success(), "afterlog compact: {status}");

    // ---- phase 4, msgpack: lines after the compaction stay raw.
    let mut fb = d.start_fluent_bit(&msgpack_cfg, &wasm, BUCKET, &proxy.endpoint(), 3);
    let b = now_secs() - 60;
    w.lines(
        &t_at(b),
        &[
            (&web2, WS, 1, Stdout, "web: phase 4 after compaction"),
            (&web, SIDE, 1, Stdout, "sidecar: phase 4 after compaction"),
            (&job, "job", 2, Stdout, "my.job: done"),
        ],
    );
    rt.block_on(wait_uploaded(&store, &mut fb, &w.plain_since(0)));
    fb.stop(DEADLINE);
    // Again all of raw/: the consumed objects come back unchanged.
    let total = rt.block_on(copy_out(&store, layout::RAW, &out));
    // The compactor's lease is no reader's business.
    let _ = fs::remove_dir_all(out.join("lease"));
    let mut now = Vec::new();
    files(&out, Path::new(""), &mut now);

    // What the fixture is for.
    let (mut json, mut nf1, mut lines, mut ids) = (0, 0, Vec::new(), BTreeSet::new());
    for f in &now {
        let key = f.to_string_lossy();
        if !key.starts_with("raw/") {
            continue;
        }
        let text = gunzip(&fs::read(out.join(f)).unwrap()).unwrap();
        for l in text.lines() {
            if nf::is_nf_line(l.as_bytes()) {
                nf1 += 1;
            } else {
                json += 1;
            }
            let r = afterlog_reader::LogRecord::parse(l).unwrap();
            ids.insert(r.container_id.clone());
            lines.push((r.container_id, r.ts, r.off, r.stream));
        }
    }
    let distinct: BTreeSet<_> = lines.iter().collect();
    let data = now.iter().filter(|f| f.starts_with("data")).count();
    let metas = now.iter().filter(|f| f.starts_with("meta")).count();
    eprintln!(
        "fixtures in {}: {} raw objects ({raw} before the compaction, {} after), \
         {json} JSON and {nf1} NF1 records, {} repeated; {data} data, {metas} meta objects",
        out.display(),
        total,
        total - raw,
        lines.len() - distinct.len(),
    );
    assert!(json > 0 && nf1 > 0, "both event formats");
    assert!(lines.len() > distinct.len(), "a repeated upload");
    assert!(data > 0 && metas > 0, "a compaction");
    assert!(total > raw, "raw objects after the compaction");
    assert_eq!(
        ids.len(),
        6,
        "webservice twice, sidecar, my.job's, two cron runs': {ids:?}"
    );
}
