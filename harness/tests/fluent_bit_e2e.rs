//! End to end through the real Fluent Bit 5.1.1: CRI log files → `tail`
//! (multiline cri) → `kubernetes` (pods preloaded from `.meta` files) → the
//! release afterlog filter `.wasm` → `stdout` json_lines, checked against
//! the output contract (docs/design.md §2).
//!
//! Needs the filter built first:
//! `cargo build --release --target wasm32-wasip1 -p afterlog-filter`, then
//! `cargo test -p afterlog-harness --test fluent_bit_e2e`.
//! `AFTERLOG_FLUENT_BIT` / `AFTERLOG_FILTER_WASM` override the binaries.

use afterlog_contract::record::{self as field, event, label};
use afterlog_harness::expect::{Expect, field_names, record_fields};
use afterlog_harness::fluent_bit::{
    DEFAULT_TIMEOUT, Pipeline, Sink, WasmStage, compile_aot, require_filter_wasm,
};
use afterlog_sim::cri::Stream;
use afterlog_sim::k8s::Pod;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The filter's config for these runs, in its JSON schema
/// (`plugin/src/config.rs`): tool `noisy` gets a tiny byte budget, every
/// other tool keeps the default. The one place to adjust if the schema moves.
fn filter_config() -> Value {
    json!({"quota": {"tools": {"noisy": {"bytes": NOISY_QUOTA_BYTES, "window_seconds": 3600}}}})
}
/// The file name the filter looks for in its accessible directories.
const FILTER_CONFIG_FILE: &str = afterlog_filter::config::FILE_NAME;
const NOISY_QUOTA_BYTES: u64 = 2000;
/// The filter's default line limit (`line_limit_bytes`).
const LINE_LIMIT: usize = 16 * 1024;
/// containerd cuts lines at 16 KiB into `P` parts.
const CRI_PART: usize = 16 * 1024;

/// Set to keep the run's directory (logs, config, Fluent Bit's output).
const KEEP_ENV: &str = "AFTERLOG_KEEP_TMP";

/// 2026-11-25T15:00:00Z in ns.
const T0: u64 = 1_795_618_800 * 1_000_000_000;

/// One logical line written to a container log.
#[derive(Clone, Debug)]
struct Written {
    pod: String,
    container: String,
    ts: u64,
    off: u64,
    stream: Stream,
    /// The `log` the output must carry (after Fluent Bit's decoding).
    log: String,
}

impl Written {
    fn stdout(pod: &Pod, container: &str, ts: u64, off: u64, log: &str) -> Written {
        Written {
            pod: pod.name.clone(),
            container: container.into(),
            ts,
            off,
            stream: Stream::Stdout,
            log: log.into(),
        }
    }
}

#[allow(dead_code)] // held for its Drop
enum Keep {
    Temp(tempfile::TempDir),
    Kept(std::path::PathBuf),
}

struct Scenario {
    _dir: Keep,
    pipeline: Pipeline,
    work: std::path::PathBuf,
    pods: Vec<(Pod, Option<Expect>)>,
    lines: Vec<Written>,
    long_line: Written,
    noisy: Vec<Written>,
}

fn setup(wasm: &Path) -> Scenario {
    let dir = tempfile::Builder::new()
        .prefix("afterlog-e2e-")
        .tempdir()
        .unwrap();
    if std::env::var_os(KEEP_ENV).is_some() {
        eprintln!("keeping {}", dir.path().display());
    }
    let logs = dir.path().join("logs");
    let meta = dir.path().join("meta");
    let conf = dir.path().join("filter-conf");
    let work = dir.path().join("work");
    for d in [&logs, &meta, &conf, &work] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(
        conf.join(FILTER_CONFIG_FILE),
        serde_json::to_vec_pretty(&filter_config()).unwrap(),
    )
    .unwrap();

    let job = Pod::new("tool-foo", "myjob-x7k2p")
        .label("app.kubernetes.io/managed-by", "toolforge-jobs-framework")
        .label("app.kubernetes.io/name", "myjob")
        .label("app.kubernetes.io/created-by", "foo")
        .label(
            "batch.kubernetes.io/controller-uid",
            "6b1e5c1a-0000-4000-8000-000000000001",
        )
        .label("batch.kubernetes.io/job-name", "myjob")
        .label("controller-uid", "6b1e5c1a-0000-4000-8000-000000000001")
        .label("job-name", "myjob")
        .label("toolforge", "tool")
        .container("job");
    let cron = Pod::new("tool-foo", "mycron-28889999-k7p2q")
        .label("batch.kubernetes.io/job-name", "mycron-28889999")
        .label("job-name", "mycron-28889999")
        .label("toolforge", "tool")
        .node("node-2")
        .container("job");
    let web = Pod::new("tool-bar", "web-7d9f8b6c5d-x2x4z")
        .label("app", "web")
        .label("pod-template-hash", "7d9f8b6c5d")
        .label("toolforge", "tool")
        .container("webservice")
        .container("sidecar");
    let system = Pod::new("kube-system", "coredns-5d78c9869d-q2x8m")
        .label("k8s-app", "kube-dns")
        .label("pod-template-hash", "5d78c9869d")
        .container("coredns");
    let noisy_pod = Pod::new("tool-noisy", "spam-4xz7b")
        .label("job-name", "spam")
        .label("app.kubernetes.io/name", "spam")
        .container("main");

    let pods = vec![
        (job.clone(), Some(Expect::new("foo", "myjob", "job"))),
        (cron.clone(), Some(Expect::new("foo", "mycron", "cronjob"))),
        (web.clone(), Some(Expect::new("bar", "web", "continuous"))),
        (system.clone(), None),
        (noisy_pod.clone(), Some(Expect::new("noisy", "spam", "job"))),
    ];
    for (p, _) in &pods {
        p.write_meta(&meta).unwrap();
    }

    let mut lines = Vec::new();
    let mut tick = 0u64;
    let mut next_ts = || {
        tick += 1;
        // Mix whole seconds, short and full nanosecond fractions.
        T0 + tick * 1_000_000_000 + [0, 500_000_000, 123_456_789, 2][(tick % 4) as usize]
    };
    let plain = |pod: &Pod,
                 container: &str,
                 n: usize,
                 lines: &mut Vec<Written>,
                 ts: &mut dyn FnMut() -> u64| {
        let mut log = pod.log(&logs, container).unwrap();
        for i in 0..n {
            let stream = if i % 3 == 2 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            let t = ts();
            let text = format!(
                "{} {} line {i} at {t}: some ordinary output / with a path",
                pod.name, container
            );
            let off = log.line(t, stream, &text).unwrap();
            lines.push(Written {
                pod: pod.name.clone(),
                container: container.into(),
                ts: t,
                off,
                stream,
                log: text,
            });
        }
    };

    // One-off job: plain lines, a line cut into P parts, unicode, odd bytes.
    plain(&job, "job", 5, &mut lines, &mut next_ts);
    {
        let mut log = job.log(&logs, "job").unwrap();
        let t = next_ts();
        log.partial(t, Stream::Stderr, "partial one, ").unwrap();
        log.partial(t + 1, Stream::Stderr, "partial two, ").unwrap();
        let off = log.line(t + 2, Stream::Stderr, "partial three").unwrap();
        lines.push(Written {
            pod: job.name.clone(),
            container: "job".into(),
            ts: t, // the joined record keeps the first part's time
            off,
            stream: Stream::Stderr,
            log: "partial one, partial two, partial three".into(),
        });
        for text in [
            "unicode: café ünïcödé 日本語 😀 \u{2028} \"quoted\" back\\slash\ttab",
            "emoji only 🎉🎉🎉",
            "control \u{1} bell \u{7} del \u{7f}",
            "{\"json\": \"inside\", \"n\": 1}",
            "",
        ] {
            let t = next_ts();
            let off = log.line(t, Stream::Stdout, text).unwrap();
            lines.push(Written::stdout(&job, "job", t, off, text));
        }
        // An invalid byte: Fluent Bit maps 0xff to U+E0FF before the filter
        // sees it (docs/fluent-bit-facts.md).
        let t = next_ts();
        let off = log
            .line_bytes(t, Stream::Stdout, b"invalid \xff byte")
            .unwrap();
        lines.push(Written::stdout(
            &job,
            "job",
            t,
            off,
            "invalid \u{e0ff} byte",
        ));
    }
    plain(&job, "job", 3, &mut lines, &mut next_ts);

    // Cron run: plain lines around a long line containerd split in parts.
    plain(&cron, "job", 4, &mut lines, &mut next_ts);
    let long_line = {
        let mut log = cron.log(&logs, "job").unwrap();
        let text: String = format!("long line {}", "abc€ü-".repeat(2500)); // ~25 KB
        assert!(text.len() > LINE_LIMIT + 1000);
        let t = next_ts();
        let off = log.split_line(t, Stream::Stdout, &text, CRI_PART).unwrap();
        Written {
            pod: cron.name.clone(),
            container: "job".into(),
            ts: t,
            off,
            stream: Stream::Stdout,
            log: text,
        }
    };
    plain(&cron, "job", 4, &mut lines, &mut next_ts);

    // Deployment with two containers, and a pod outside any tool.
    plain(&web, "webservice", 6, &mut lines, &mut next_ts);
    plain(&web, "sidecar", 3, &mut lines, &mut next_ts);
    plain(&system, "coredns", 4, &mut lines, &mut next_ts);

    // The noisy tool writes ~40 × 150 bytes against a 2000-byte budget.
    let mut noisy = Vec::new();
    {
        let mut log = noisy_pod.log(&logs, "main").unwrap();
        for i in 0..40 {
            let text = format!("noisy line {i:02} {}", "n".repeat(100));
            let t = next_ts();
            let off = log.line(t, Stream::Stdout, &text).unwrap();
            noisy.push(Written {
                pod: noisy_pod.name.clone(),
                container: "main".into(),
                ts: t,
                off,
                stream: Stream::Stdout,
                log: text,
            });
        }
    }

    let pipeline = Pipeline::new(&logs, &meta)
        .wasm(WasmStage::new(wasm).accessible(&conf))
        .sink(Sink::StdoutJsonLines);
    let dir = if std::env::var_os(KEEP_ENV).is_some() {
        Keep::Kept(dir.keep())
    } else {
        Keep::Temp(dir)
    };
    Scenario {
        _dir: dir,
        pipeline,
        work,
        pods,
        lines,
        long_line,
        noisy,
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string {k:?} in {v}"))
}

fn u(v: &Value, k: &str) -> u64 {
    v.get(k)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no integer {k:?} in {v}"))
}

/// Checks an ordinary labelled record against what was written.
fn check_labelled(rec: &Value, w: &Written, pod: &Pod, e: &Expect) {
    let keys = field_names(rec);
    // `date` is added by the stdout output.
    let mut want = record_fields();
    want.insert("date");
    assert_eq!(keys, want, "fields of {rec}");
    assert_eq!(u(rec, field::TS), w.ts, "ts of {rec}");
    assert_eq!(u(rec, field::OFF), w.off, "off of {rec}");
    assert_eq!(s(rec, field::STREAM), w.stream.as_str(), "stream of {rec}");
    assert_eq!(
        rec[field::AFTERLOG],
        e.labels(
            &pod.namespace,
            &pod.name,
            &pod.node,
            &w.container,
            pod.container_id(&w.container)
        ),
        "labels of {rec}"
    );
}

#[test]
fn real_fluent_bit_runs_the_filter() {
    run_and_check(&require_filter_wasm());
}

/// The same through WAMR's AOT compiler: the `.aot` Fluent Bit runs as
/// native code must behave exactly like the interpreted `.wasm`.
#[test]
fn real_fluent_bit_runs_the_aot_filter() {
    let wasm = require_filter_wasm();
    let dir = tempfile::Builder::new()
        .prefix("afterlog-aot-")
        .tempdir()
        .unwrap();
    let aot = dir.path().join("afterlog_filter.aot");
    compile_aot(&wasm, &aot).unwrap();
    run_and_check(&aot);
}

fn run_and_check(module: &Path) {
    let sc = setup(module);
    let run = sc.pipeline.run(&sc.work, DEFAULT_TIMEOUT).unwrap();
    run.check().unwrap();
    let records = run.records().unwrap();
    let problems: Vec<&str> = run
        .problems()
        .into_iter()
        .filter(|l| !l.contains("[filter:kubernetes"))
        .collect();
    assert!(
        problems.is_empty(),
        "Fluent Bit complained:\n{}",
        problems.join("\n")
    );
    // WAMR (which prints on stdout) recognises the module as a WASI reactor
    // by its `_initialize` export.
    assert!(
        !run.stdout
            .contains("should be either a command or a reactor"),
        "WAMR did not see the reactor's _initialize:\n{}",
        run.stdout
    );

    let pod_of = |name: &str| -> &(Pod, Option<Expect>) {
        sc.pods
            .iter()
            .find(|(p, _)| p.name == name)
            .unwrap_or_else(|| panic!("unknown pod {name}"))
    };

    // Sort the output by pod/container and by line text.
    let mut seen: BTreeMap<(String, String, String), Vec<&Value>> = BTreeMap::new();
    let mut long_out = Vec::new();
    let mut noisy_out = Vec::new();
    for rec in &records {
        let (pod, container) = match rec.get(field::AFTERLOG) {
            Some(a) => (
                s(a, label::POD).to_string(),
                s(a, label::CONTAINER).to_string(),
            ),
            None => {
                let k = rec.get("kubernetes").unwrap_or_else(|| {
                    panic!("record with neither afterlog nor kubernetes: {rec}")
                });
                (
                    s(k, "pod_name").to_string(),
                    s(k, "container_name").to_string(),
                )
            }
        };
        if pod == sc.long_line.pod && s(rec, field::LOG).starts_with("long line ") {
            long_out.push(rec);
        } else if pod == sc.noisy[0].pod {
            noisy_out.push(rec);
        } else {
            seen.entry((pod, container, s(rec, field::LOG).to_string()))
                .or_default()
                .push(rec);
        }
    }

    // Every ordinary line arrives exactly once, with the right fields.
    for w in &sc.lines {
        let key = (w.pod.clone(), w.container.clone(), w.log.clone());
        let got = seen.remove(&key).unwrap_or_default();
        assert_eq!(
            got.len(),
            1,
            "line {:?} of {}/{} arrived {} times",
            w.log,
            w.pod,
            w.container,
            got.len()
        );
        let rec = got[0];
        let (pod, expect) = pod_of(&w.pod);
        match expect {
            Some(e) => check_labelled(rec, w, pod, e),
            None => {
                // Not a tool: passed through untouched.
                assert!(rec.get(field::AFTERLOG).is_none(), "{rec}");
                assert_eq!(s(rec, "time"), afterlog_sim::cri::cri_time(w.ts));
                assert_eq!(s(rec, field::STREAM), w.stream.as_str());
                assert_eq!(s(rec, "_p"), "F");
                assert_eq!(u(rec, field::OFF), w.off);
                let k = &rec["kubernetes"];
                assert_eq!(s(k, "namespace_name"), "kube-system");
                assert_eq!(s(k, "docker_id"), pod.container_id(&w.container));
                assert_eq!(k["labels"]["k8s-app"], "kube-dns");
            }
        }
    }
    assert!(
        seen.is_empty(),
        "records nobody wrote: {:?}",
        seen.keys().collect::<Vec<_>>()
    );

    // The long line: cut at a char boundary within the limit, with the marker.
    assert_eq!(
        long_out.len(),
        1,
        "long line arrived {} times",
        long_out.len()
    );
    let rec = long_out[0];
    let w = &sc.long_line;
    let (pod, e) = pod_of(&w.pod);
    check_labelled(rec, w, pod, e.as_ref().unwrap());
    let log = s(rec, field::LOG);
    let marker_at = log
        .rfind("…[truncated ")
        .unwrap_or_else(|| panic!("no truncation marker in {:.100}…", log));
    let cut_bytes: usize = log[marker_at..]
        .trim_start_matches("…[truncated ")
        .trim_end_matches(" bytes]")
        .parse()
        .unwrap_or_else(|_| panic!("bad marker {:?}", &log[marker_at..]));
    assert_eq!(&log[marker_at..], field::truncation_marker(cut_bytes));
    assert_eq!(
        marker_at + cut_bytes,
        w.log.len(),
        "kept + cut = the whole line"
    );
    assert!(
        marker_at <= LINE_LIMIT && marker_at > LINE_LIMIT - 8,
        "kept {marker_at} bytes"
    );
    assert_eq!(&log[..marker_at], &w.log[..marker_at]);

    // The noisy tool: a prefix of its lines, then one marker, then nothing.
    let (npod, nexp) = pod_of(&sc.noisy[0].pod);
    let nexp = nexp.as_ref().unwrap();
    let marker_pos = noisy_out
        .iter()
        .position(|r| r[field::AFTERLOG].get(label::EVENT).is_some())
        .unwrap_or_else(|| panic!("no quota marker among {} noisy records", noisy_out.len()));
    assert!(marker_pos >= 1, "the budget admits some lines first");
    assert_eq!(
        marker_pos + 1,
        noisy_out.len(),
        "nothing of the noisy tool after the marker"
    );
    let admitted_bytes: usize = noisy_out[..marker_pos]
        .iter()
        .map(|r| r.to_string().len())
        .sum();
    assert!(
        admitted_bytes <= NOISY_QUOTA_BYTES as usize + 200,
        "admitted {admitted_bytes} bytes"
    );
    for (rec, w) in noisy_out[..marker_pos].iter().zip(&sc.noisy) {
        assert_eq!(
            s(rec, field::LOG),
            w.log,
            "noisy lines arrive in order, none skipped"
        );
        check_labelled(rec, w, npod, nexp);
    }
    let marker = noisy_out[marker_pos];
    let a = &marker[field::AFTERLOG];
    assert_eq!(s(a, label::EVENT), event::QUOTA_EXCEEDED, "{marker}");
    assert_eq!(s(a, label::TOOL), "noisy");
    assert_eq!(s(a, label::JOB), "spam");
    assert_eq!(u(a, event::LIMIT_BYTES), NOISY_QUOTA_BYTES);
    // The marker takes the place (time and offset) of the first refused line.
    let refused = &sc.noisy[marker_pos];
    assert_eq!(u(marker, field::TS), refused.ts);
    assert_eq!(u(marker, field::OFF), refused.off);
}

/// Kubernetes events (docs/design.md §13) through the real Fluent Bit in
/// both event formats: Event objects as `kubernetes_events` emits them,
/// read from a file by `tail` with a JSON parser, then the shipped drop-in's
/// filter and `rewrite_tag` stages (its text, with the shipped filter
/// config), then `stdout`. Both formats store the same records; events of
/// namespaces that are no tool's are not routed.
#[test]
fn real_fluent_bit_labels_kubernetes_events_in_both_modes() {
    use afterlog_harness::fluent_bit::{DropIn, run_config, workspace_root, yp};
    let wasm = require_filter_wasm();
    let backoff = json!({"metadata":{"name":"myjob-28889999-abcde.17f0a1","namespace":"tool-foo","uid":"e-uid-1","resourceVersion":"101","creationTimestamp":"2026-12-05T10:00:00Z"},
        "involvedObject":{"kind":"Pod","namespace":"tool-foo","name":"myjob-28889999-abcde","uid":"p-uid","apiVersion":"v1","resourceVersion":"55","fieldPath":"spec.containers{job}"},
        "reason":"BackOff","message":"Back-off restarting failed container job in pod myjob-28889999-abcde_tool-foo(p-uid)",
        "source":{"component":"kubelet","host":"node-1"},"firstTimestamp":"2026-12-05T10:00:00Z","lastTimestamp":"2026-12-05T10:00:30Z",
        "count":3,"type":"Warning","eventTime":null,"reportingComponent":"kubelet","reportingInstance":"node-1"});
    let mut system = backoff.clone();
    system["involvedObject"]["namespace"] = json!("kube-system");
    system["metadata"]["namespace"] = json!("kube-system");
    let scaled = json!({"kind":"Event","apiVersion":"v1",
        "metadata":{"name":"worker.1","namespace":"tool-bar","uid":"e-2","creationTimestamp":"2026-12-05T10:00:00Z"},
        "involvedObject":{"kind":"Deployment","namespace":"tool-bar","name":"worker","uid":"d-uid","apiVersion":"apps/v1"},
        "reason":"ScalingReplicaSet","message":"Scaled up replica set worker-7d9f8b6c5d to 1 from 0",
        "source":{"component":"deployment-controller"},"firstTimestamp":null,"lastTimestamp":null,
        "eventTime":"2026-12-05T10:00:00.123456Z","type":"Normal","reportingComponent":"deployment-controller","reportingInstance":""});
    // The shipped drop-in's filter stages, from its wasm filter to its outputs.
    let drop_in = DropIn::shipped();
    let text = drop_in.text();
    let stages = &text[text.find("    - name: wasm\n").expect("the wasm filter")
        ..text.find("\n  outputs:\n").expect("the outputs")];
    let mut outputs = BTreeMap::new();
    for format in ["json", "msgpack"] {
        let dir = tempfile::tempdir().unwrap();
        let d = |s: &str| {
            let p = dir.path().join(s);
            fs::create_dir_all(&p).unwrap();
            p
        };
        let (events, conf, state, storage) = (d("events"), d("conf"), d("state"), d("storage"));
        let lines: Vec<String> = [&backoff, &system, &scaled]
            .iter()
            .map(|v| v.to_string())
            .collect();
        fs::write(events.join("events.ndjson"), lines.join("\n") + "\n").unwrap();
        let mut cfg: Value = serde_json::from_slice(
            &fs::read(workspace_root().join("fluent-bit/afterlog-filter.json")).unwrap(),
        )
        .unwrap();
        cfg["state_file"] = json!(state.join("afterlog-quota.state"));
        fs::write(conf.join(FILTER_CONFIG_FILE), cfg.to_string()).unwrap();
        let stages = stages
            .replace("${AFTERLOG_WASM}", &wasm.to_string_lossy())
            .replace("${AFTERLOG_CONF_DIR}", &conf.to_string_lossy())
            .replace("${AFTERLOG_STATE_DIR}", &state.to_string_lossy())
            .replace("event_format: msgpack", &format!("event_format: {format}"));
        assert!(stages.contains(&format!("event_format: {format}")));
        let yaml = format!(
            "service:
  flush: 1
  grace: 2
  log_level: info
  http_server: off
  storage.path: {storage}
parsers:
  - name: k8s_event
    format: json
pipeline:
  inputs:
    - name: tail
      tag: 'afterlog-src.k8s_events'
      path: {path}
      parser: k8s_event
      read_from_head: true
      exit_on_eof: true
  filters:
{stages}
  outputs:
    - name: stdout
      match: '*'
      format: json_lines
      json_date_key: false
",
            storage = yp(&storage),
            path = yp(&events.join("*.ndjson")),
        );
        let config = dir.path().join("fluent-bit.yaml");
        fs::write(&config, yaml).unwrap();
        let run = run_config(&config, dir.path(), DEFAULT_TIMEOUT).unwrap();
        run.check().unwrap();
        let records: Vec<Value> = run
            .records()
            .unwrap()
            .into_iter()
            .map(|v| {
                if format == "msgpack" {
                    afterlog_contract::nf::decode_record(v).unwrap()
                } else {
                    v
                }
            })
            .collect();
        assert_eq!(records.len(), 3, "{format}: {records:?}\n{}", run.stderr);
        let routed: Vec<&Value> = records
            .iter()
            .filter(|r| r.get(field::AFTERLOG).is_some())
            .collect();
        assert_eq!(routed.len(), 2, "{format}: {records:?}");
        let pod = routed
            .iter()
            .find(|r| r["afterlog"]["tool"] == "foo")
            .unwrap();
        assert_eq!(pod["stream"], "event");
        assert_eq!(
            pod["log"],
            "Warning BackOff (3×): Back-off restarting failed container job in pod myjob-28889999-abcde_tool-foo(p-uid)"
        );
        assert_eq!(pod["ts"], json!(1_796_464_830_000_000_000u64));
        assert_eq!(pod["off"], 3);
        assert_eq!(
            pod["afterlog"]["route"],
            "default.foo.myjob.myjob-28889999-abcde._40events"
        );
        let deployment = routed
            .iter()
            .find(|r| r["afterlog"]["tool"] == "bar")
            .unwrap();
        assert_eq!(
            deployment["afterlog"]["route"],
            "default.bar.worker._40events._40events"
        );
        assert_eq!(deployment["ts"], json!(1_796_464_800_123_456_000u64));
        assert_eq!(
            deployment["log"],
            "Normal ScalingReplicaSet Deployment/worker: Scaled up replica set worker-7d9f8b6c5d to 1 from 0"
        );
        // Not a tool's: as it came, not routed.
        assert!(records.contains(&system), "{format}: {records:?}");
        assert!(run.problems().is_empty(), "{format}: {:?}", run.problems());
        outputs.insert(format, routed.into_iter().cloned().collect::<Vec<_>>());
    }
    assert_eq!(outputs["json"], outputs["msgpack"]);
}
