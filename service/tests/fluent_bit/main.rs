//! End to end, all real: CRI log files → the real Fluent Bit 5.1.1 with the
//! drop-in `fluent-bit/afterlog.yaml` (its own `tail`, `kubernetes` filter fed
//! from `kube_meta_preload_cache_dir`, the afterlog wasm filter with the
//! sample `afterlog-filter.json`, `rewrite_tag`, `s3` output) → `s3s-fs` on
//! 127.0.0.1 → the `afterlog serve` binary, asked over HTTP for every job.
//!
//! The drop-in is used as shipped but for what points it at this test: the
//! log path (and so the tag prefix), the kubernetes filter's metadata source,
//! and `upload_timeout` (5m → a few seconds, in both s3 outputs), each
//! replaced exactly where expected in a copy. The filter config is the sample with a small quota for the noisy
//! tool and its state file in the run's state directory.
//!
//! The scenario:
//! 1. lines of a two-container job, a cron run, a web service, a tool that
//!    writes past its quota, partial (`P`) lines, a `kube-system` pod and a
//!    tool's pod opted out by its label; the service must serve each job,
//!    every line once and in order, and nothing of the two others;
//!    the cron job's next run is labelled into the `long-retention` class:
//!    the drop-in's second output stores it under `long-retention/`, and
//!    the service (`--class long-retention=…`) serves the job's two runs,
//!    from two classes, as one log;
//! 2. the web service's container restarts (a new container id, a new file),
//!    the next cron run writes its last line and its log file is deleted at
//!    once; then Fluent Bit is killed (SIGKILL) as soon as the first of these
//!    uploads lands, while the others wait in its buffers;
//! 3. Fluent Bit starts again on the same state (tail positions, filesystem
//!    chunks, the s3 output's buffer, quota state); more lines; the service
//!    must again serve every line exactly once, in order — nothing lost by
//!    the kill, nothing duplicated by the re-sent buffers;
//! 4. lines buffered at a graceful stop (SIGTERM) are uploaded on the way out;
//! 5. the compactor merges everything; the service serves the same;
//! 6. the tool asks to delete the secret a cron run leaked: the service
//!    hides it at once, the compactor removes it a day later, and no stored
//!    byte holds it any more.
//!
//! Needs the filter (`scripts/build-filter`), `s3s-fs`
//! (`cargo install s3s-fs --version 0.14.1 --features binary`) and
//! `../shared/bin/fluent-bit` (or `FLUENT_BIT`). `AFTERLOG_KEEP_TMP=1` keeps
//! the run's directory.

#[path = "../common/mod.rs"]
mod common;

mod bucket;
mod config;
mod service;
mod world;

use afterlog_compactor::{Compactor, Config as CompactorConfig};
use afterlog_contract::layout;
use afterlog_contract::record as field;
use afterlog_harness::fluent_bit::{Node, main_config, require_filter_wasm, wait_buffered};
use afterlog_sim::cri::Stream;
use afterlog_testkit::{Proxy, S3Server};
use bucket::{all_raw_keys, check_bucket, count_files, list_keys};
use config::{Mode, drop_in, filter_config};
use serde_json::{Value, json};
use service::{Service, logged_uploads, problems, wait_served};
use std::collections::BTreeSet;
use std::fs;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use world::{LEAKED, LONG, Logs, Pods, tick, write_phase1};

const BUCKET: &str = "afterlog";
/// The drop-in's `upload_timeout` for this run.
const UPLOAD_TIMEOUT_SECS: u64 = 6;
/// The longest the service may take to show a phase's lines.
const SERVE_DEADLINE: Duration = Duration::from_secs(90);
/// The longest lines may take to reach the s3 output's buffer.
const BUFFER_DEADLINE: Duration = Duration::from_secs(20);
/// The longest Fluent Bit may take to upload and exit after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(30);
/// The noisy tool's budget (bytes of output records per window).
const NOISY_QUOTA: u64 = 4096;
const KEEP_ENV: &str = "AFTERLOG_KEEP_TMP";
const NS: u64 = 1_000_000_000;
const UPLOADED: &str = "Successfully uploaded object ";
const TOKEN: &str = "e2e-secret-token";

fn in_three_hours() -> u64 {
    (now_secs() + 3 * 3600) * NS
}

fn in_five_hours() -> u64 {
    (now_secs() + 5 * 3600) * NS
}

/// Past the default `delete_after_hours` (24).
fn in_25_hours() -> u64 {
    (now_secs() + 25 * 3600) * NS
}

fn in_27_hours() -> u64 {
    (now_secs() + 27 * 3600) * NS
}

/// The strings of the array `v`, or each element's `key` string.
fn strings<'a>(v: &'a Value, key: Option<&str>) -> Vec<&'a str> {
    let arr = v.as_array().unwrap_or_else(|| panic!("not an array: {v}"));
    arr.iter()
        .map(|x| key.map_or(x, |k| &x[k]).as_str().unwrap())
        .collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[test]
fn fluent_bit_to_the_service_survives_a_kill() {
    scenario(Mode::Json);
}

/// The same with `event_format: msgpack`: the filter answers in NF1, the
/// s3 output stores that as JSON, and the service serves the very records
/// of the JSON mode (every check below is the same).
#[test]
fn the_msgpack_mode_stores_what_the_json_mode_does() {
    scenario(Mode::Msgpack);
}

fn scenario(mode: Mode) {
    let started = Instant::now();
    let wasm = require_filter_wasm();
    let tmp = tempfile::Builder::new()
        .prefix(&format!("afterlog-e2e-{mode:?}-"))
        .tempdir()
        .unwrap();
    let root = if std::env::var_os(KEEP_ENV).is_some() {
        let kept = tmp.keep();
        eprintln!("keeping {}", kept.display());
        kept
    } else {
        tmp.path().to_path_buf()
    };
    let d = Node::new(&root);
    let server = S3Server::start(&[BUCKET]);
    let endpoint = server.endpoint();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The bucket, and the long-retention class's store within it.
    let store = server.store(&format!("s3://{BUCKET}"));
    let long_store = server.store(&format!("s3://{BUCKET}/{LONG}"));

    let pods = Pods::new();
    for (p, _) in [
        &pods.job,
        &pods.cron,
        &pods.cron2,
        &pods.web,
        &pods.noisy,
        &pods.system,
        &pods.opted_out,
    ] {
        p.write_meta(&d.meta).unwrap();
    }
    fs::write(d.conf.join("afterlog-filter.json"), filter_config(&d.state)).unwrap();
    let drop_in_path = d.work.join("afterlog.yaml");
    fs::write(&drop_in_path, drop_in(&d.logs, &d.meta, mode)).unwrap();
    fs::write(
        d.work.join("fluent-bit.yaml"),
        main_config(&d.storage, &drop_in_path, Some(&d.logs)),
    )
    .unwrap();

    let mut logs = Logs {
        dir: d.logs.clone(),
        lines: Vec::new(),
        phase: 1,
    };
    write_phase1(&mut logs, &pods, now_secs() - 600);

    let svc = Service::start(&d.work, &endpoint, 1);
    let upstream: SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(upstream);
    let config = d.work.join("fluent-bit.yaml");
    let mut fb = d.start_fluent_bit(&config, &wasm, BUCKET, &proxy.endpoint(), 1);

    // ---- phase 1: everything written is served
    rt.block_on(wait_served(&svc, &logs, Some(&mut fb), "phase 1"));
    let jobs = rt.block_on(svc.json("/v1/tool/foo/jobs"));
    let names = strings(&jobs["jobs"], Some("job"));
    assert_eq!(names, ["my.job", "mycron"], "{jobs}");
    let (status, body) = rt.block_on(svc.get("/v1/tool/kube-system/jobs"));
    assert_eq!(status, 403, "a tool the token is not for: {body}");
    let node_phase1 = fb.stdout();

    // ---- phase 2: a restart, a deleted file, then SIGKILL at the first upload
    use Stream::{Stderr, Stdout};
    logs.phase = 2;
    let base2 = now_secs() - 60;
    let t = |i| tick(base2, i);
    let raw_before = rt.block_on(all_raw_keys(store.as_ref())).len();
    logs.line(
        &pods.cron2,
        "job",
        t(1),
        Stdout,
        "mycron run 28890000 line 0",
    );
    logs.line(
        &pods.cron2,
        "job",
        t(2),
        Stderr,
        "mycron run 28890000 line 1",
    );
    // Tail has the file open once its lines are in the s3 output's buffer.
    wait_buffered(
        &mut fb,
        &d.state,
        "mycron run 28890000 line 1",
        BUFFER_DEADLINE,
    );
    logs.line(
        &pods.cron2,
        "job",
        t(3),
        Stdout,
        "mycron run 28890000 last line",
    );
    let cron2_file = d.logs.join(pods.cron2.0.log_file_name("job"));
    fs::remove_file(&cron2_file).unwrap();

    logs.line(
        &pods.web2,
        "webservice",
        t(4),
        Stdout,
        "web: restarted, listening",
    );
    logs.line(
        &pods.job,
        "job",
        t(4),
        Stdout,
        "phase 2: my.job keeps going",
    );
    logs.line(
        &pods.job,
        "sidecar",
        t(5),
        Stdout,
        "phase 2: sidecar still up",
    );
    logs.line(
        &pods.system,
        "coredns",
        t(5),
        Stdout,
        "coredns: phase 2 query",
    );
    logs.line(
        &pods.web2,
        "webservice",
        t(6),
        Stderr,
        "web: GET /health 200",
    );
    let phase2: Vec<String> = logs
        .lines
        .iter()
        .filter(|w| w.phase == 2 && w.expect.is_some())
        .map(|w| w.log.clone())
        .collect();
    for text in &phase2 {
        wait_buffered(&mut fb, &d.state, text, BUFFER_DEADLINE);
    }
    // All of phase 2 waits in the s3 output's buffer; the next upload is
    // stored but its answer withheld, and Fluent Bit dies waiting for it.
    proxy.withhold_next_response();
    let waiting = Instant::now();
    while proxy.withheld() == 0 {
        fb.check_running();
        assert!(
            waiting.elapsed() < SERVE_DEADLINE,
            "no phase 2 upload in {SERVE_DEADLINE:?}\n{}",
            fb.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    fb.kill();
    let raw_at_kill = rt.block_on(all_raw_keys(store.as_ref())).len();
    assert!(
        raw_at_kill > raw_before,
        "the withheld upload is in the bucket"
    );
    eprintln!(
        "killed in an upload {:?} into phase 2: {} new objects in the bucket, {} files in the s3 buffer",
        waiting.elapsed(),
        raw_at_kill - raw_before,
        count_files(&d.state.join("s3")),
    );
    let first_run_stderr = fb.stderr();

    // ---- phase 3: the same node state, a new Fluent Bit, more lines
    logs.phase = 3;
    let mut fb = d.start_fluent_bit(&config, &wasm, BUCKET, &proxy.endpoint(), 2);
    let base3 = now_secs() - 30;
    let t = |i| tick(base3, i);
    logs.line(&pods.job, "job", t(1), Stdout, "phase 3: after the restart");
    logs.line(
        &pods.web2,
        "webservice",
        t(2),
        Stdout,
        "web: GET / 200 again",
    );
    logs.line(&pods.job, "sidecar", t(3), Stderr, "phase 3: sidecar done");
    rt.block_on(wait_served(&svc, &logs, Some(&mut fb), "after the kill"));

    // A graceful stop with lines still in the buffers: Fluent Bit uploads
    // them on its way out.
    logs.phase = 4;
    logs.line(&pods.web2, "webservice", t(4), Stdout, "web: shutting down");
    logs.line(&pods.job, "job", t(5), Stdout, "phase 4: last words");
    for text in ["web: shutting down", "phase 4: last words"] {
        wait_buffered(&mut fb, &d.state, text, BUFFER_DEADLINE);
    }
    let status = fb.stop(STOP_DEADLINE);
    assert!(
        status.success(),
        "fluent-bit: {status}\n{}",
        fb.stderr_tail()
    );
    rt.block_on(wait_served(&svc, &logs, None, "after a graceful stop"));
    let second_run_stderr = fb.stderr();
    for (run, err) in [(1, &first_run_stderr), (2, &second_run_stderr)] {
        let p = problems(err);
        assert!(
            p.is_empty(),
            "Fluent Bit run {run} complained:\n{}",
            p.join("\n")
        );
    }
    // What Fluent Bit logged as uploaded is in the bucket (a PUT that landed
    // just before the kill may have gone unlogged).
    let raw_keys: BTreeSet<String> = rt
        .block_on(all_raw_keys(store.as_ref()))
        .into_iter()
        .collect();
    let logged: BTreeSet<String> = logged_uploads(&first_run_stderr)
        .union(&logged_uploads(&second_run_stderr))
        .cloned()
        .collect();
    assert!(
        logged.is_subset(&raw_keys),
        "logged uploads missing from the bucket: {:?}",
        logged.difference(&raw_keys).collect::<Vec<_>>()
    );
    let (objects, records, distinct) = rt.block_on(check_bucket(store.as_ref(), &logs, mode));
    eprintln!(
        "bucket: {objects} objects, {records} records ({} repeated), read back once each",
        records - distinct
    );
    assert!(
        records > distinct,
        "the upload withheld at the kill is sent again after the restart"
    );

    // The cron job's runs and the restarted container's two ids.
    let cron = rt.block_on(svc.json("/v1/tool/foo/jobs/mycron"));
    let runs = strings(&cron["job"]["runs"], Some("pod"));
    assert_eq!(
        runs,
        [pods.cron.0.name.as_str(), pods.cron2.0.name.as_str()],
        "{cron}"
    );
    let web = rt.block_on(svc.json("/v1/tool/bar/jobs/web"));
    let ids = &web["job"]["runs"][0]["containers"][0]["container_ids"];
    let want_ids = json!([
        pods.web.0.container_id("webservice"),
        pods.web2.0.container_id("webservice")
    ]);
    let (mut got_ids, mut want_ids) = (strings(ids, None), strings(&want_ids, None));
    got_ids.sort();
    want_ids.sort();
    assert_eq!(got_ids, want_ids, "{web}");

    // The node's own pipeline saw every line of phase 1, none labelled.
    let mut node_logs = BTreeSet::new();
    for line in node_phase1.lines().filter(|l| l.starts_with('{')) {
        let rec: Value = serde_json::from_str(line).unwrap();
        assert!(rec.get(field::AFTERLOG).is_none(), "labelled: {line}");
        node_logs.insert(rec[field::LOG].as_str().unwrap_or_default().to_string());
    }
    for w in logs.lines.iter().filter(|w| w.phase == 1) {
        assert!(
            node_logs.contains(&w.log),
            "the node's own output lacks {:?}",
            w.log
        );
    }

    // ---- phase 4: compaction merges it all; the service serves the same.
    // Three hours on every upload has settled; two hours later the consumed
    // raw objects are past their grace period (the CLI itself is run by
    // tests/compact_demo.rs).
    let before: Vec<Vec<Value>> = Pods::JOBS
        .iter()
        .map(|(t, j)| rt.block_on(svc.records(t, j)).unwrap())
        .collect();
    // Each class's store on its own, as `afterlog compact` does.
    let compact_all = |clocks: &[fn() -> u64]| {
        for (pass, &clock) in clocks.iter().enumerate() {
            for (class, store) in [
                (afterlog_compactor::DEFAULT_CLASS, store.clone()),
                (LONG, long_store.clone()),
            ] {
                let c = Compactor {
                    store,
                    class: class.into(),
                    config: CompactorConfig::default(),
                    holder: "e2e".into(),
                    clock,
                    stop: Default::default(),
                };
                let report = rt.block_on(c.pass()).unwrap();
                eprintln!("compaction pass {pass} of class {class}: {report}");
            }
        }
    };
    compact_all(&[in_three_hours, in_five_hours]);
    let raw_left = rt.block_on(all_raw_keys(store.as_ref()));
    assert!(
        raw_left.is_empty(),
        "raw objects left after compaction: {raw_left:?}"
    );
    for s in [&store, &long_store] {
        assert!(
            !rt.block_on(list_keys(s.as_ref(), layout::CHUNKS))
                .is_empty()
        );
    }
    for ((tool, job), was) in Pods::JOBS.iter().zip(&before) {
        let now = rt.block_on(svc.records(tool, job)).unwrap();
        assert_eq!(&now, was, "{tool}/{job}: the same after compaction");
    }

    // ---- phase 5: the tool deletes the secret its cron run leaked (by a
    // part of the line that is not the secret: the request is kept).
    let cron = Pods::JOBS
        .iter()
        .position(|j| *j == ("foo", "mycron"))
        .unwrap();
    let leaks = |r: &Value| r["log"].as_str().unwrap_or("").contains(LEAKED);
    assert_eq!(before[cron].iter().filter(|r| leaks(r)).count(), 1);
    let pod = pods.cron.0.name.clone();
    let ask = json!({"run": pod, "grep": ["password="]});
    let (status, body) = rt.block_on(svc.post("/v1/tool/foo/jobs/mycron/deletions", &ask));
    assert_eq!(status, 201, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(created["deletion"]["affected"]["lines"], 1, "{body}");
    let id = created["deletion"]["id"].as_str().unwrap().to_string();
    let left: Vec<Value> = before[cron].iter().filter(|r| !leaks(r)).cloned().collect();
    assert_eq!(rt.block_on(svc.records("foo", "mycron")).unwrap(), left);
    // Due a day later (the default); applied once the objects that held
    // it are past their grace period.
    compact_all(&[in_25_hours, in_27_hours]);
    let status = rt.block_on(svc.json(&format!("/v1/tool/foo/jobs/mycron/deletions/{id}")));
    assert_eq!(status["deletion"]["state"], "applied", "{status}");
    assert_eq!(rt.block_on(svc.records("foo", "mycron")).unwrap(), left);
    for ((tool, job), was) in Pods::JOBS.iter().zip(&before) {
        if (*tool, *job) != ("foo", "mycron") {
            let now = rt.block_on(svc.records(tool, job)).unwrap();
            assert_eq!(&now, was, "{tool}/{job}: untouched by the deletion");
        }
    }
    // Every stored byte, gunzipped: the secret is nowhere.
    let mut scanned = 0;
    for key in rt.block_on(list_keys(store.as_ref(), "")) {
        let body = rt.block_on(bucket::get(store.as_ref(), &key));
        let text = if key.ends_with(".gz") {
            bucket::gunzip(&body).unwrap_or_else(|e| panic!("{key}: {e}"))
        } else {
            String::from_utf8_lossy(&body).into_owned()
        };
        assert!(!text.contains(LEAKED), "{key} still holds the secret");
        scanned += 1;
    }
    eprintln!("secret deleted: {scanned} stored objects hold no trace of it");
    drop(svc);
    eprintln!(
        "{} lines written, served exactly once through a kill and a compaction, in {:?}",
        logs.lines.len(),
        started.elapsed()
    );
}
