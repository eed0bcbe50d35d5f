//! Whole-process CPU cost of the afterlog filter inside the real Fluent Bit.
//!
//! Generates CRI log files for several pods of several tools (and two
//! non-tool pods), then runs tail → kubernetes → X → counter to completion
//! (`exit_on_eof`) for each X and reports the CPU seconds (user + sys of
//! the Fluent Bit process, from `wait4`), median of the runs:
//!
//! - `none`: no filter between kubernetes and the output (the pipeline's floor);
//! - `passthrough`: a wasm module returning its input (the JSON mode's floor);
//! - `constant-msgpack`: a wasm module answering a tiny constant map in the
//!   msgpack mode (that mode's floor);
//! - `afterlog-wasm`: the release filter, interpreted by WAMR;
//! - `afterlog-aot`: the same compiled with `flb-wamrc` (native code);
//! - `afterlog-wasm-msgpack`, `afterlog-aot-msgpack`: both in the msgpack mode;
//! - `lua`: `bench/afterlog-like.lua`, the same labelling and quota in Lua.
//!
//! ```text
//! cargo build --release --target wasm32-wasip1 -p afterlog-filter
//! cargo run --release -p afterlog-harness --bin bench-pipeline -- [--lines N] [--runs N] [--only a,b] [--keep]
//! ```

use afterlog_harness::fluent_bit::{
    BUILD_FILTER, DEFAULT_TIMEOUT, Pipeline, Run, Sink, Stage, WasmStage, compile_aot,
    filter_wasm_path, target_dir, workspace_root,
};
use afterlog_sim::Rng;
use afterlog_sim::cri::{Stream, floor_char_boundary};
use afterlog_sim::k8s::{Pod, uid};
use afterlog_testkit::stats::median;
use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const VARIANTS: [&str; 8] = [
    "none",
    "passthrough",
    "constant-msgpack",
    "afterlog-wasm",
    "afterlog-aot",
    "afterlog-wasm-msgpack",
    "afterlog-aot-msgpack",
    "lua",
];

/// Whole-process CPU cost of the afterlog filter inside the real Fluent Bit.
#[derive(Parser)]
#[command(name = "bench-pipeline")]
struct Args {
    /// CRI lines to generate.
    #[arg(long, default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(1..))]
    lines: u64,
    /// Runs of each variant (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// The variants to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = VARIANTS.map(String::from),
          value_parser = clap::builder::PossibleValuesParser::new(VARIANTS))]
    only: Vec<String>,
    /// Seconds a run may take.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Keep the generated files and run directories.
    #[arg(long)]
    keep: bool,
}

/// Ten-ish labels as Toolforge's jobs framework and webservice set them.
fn toolforge_pod(tool: &str, name: &str, kind: &str, job: &str) -> Pod {
    let ns = format!("tool-{tool}");
    let uid = uid(name);
    let p = Pod::new(&ns, name)
        .label("app.kubernetes.io/created-by", tool)
        .label(
            "app.kubernetes.io/managed-by",
            if kind == "webservice" {
                "webservice"
            } else {
                "toolforge-jobs-framework"
            },
        )
        .label("app.kubernetes.io/name", job)
        .label("app.kubernetes.io/version", "2")
        .label("toolforge", "tool")
        .label("toolforge.org/mount-storage", "all");
    match kind {
        "job" => p
            .label("app.kubernetes.io/component", "jobs")
            .label("batch.kubernetes.io/controller-uid", &uid)
            .label("batch.kubernetes.io/job-name", job)
            .label("controller-uid", &uid)
            .label("job-name", job),
        "cronjob" => {
            let run = format!("{job}-29412345");
            p.label("app.kubernetes.io/component", "cronjobs")
                .label("batch.kubernetes.io/controller-uid", &uid)
                .label("batch.kubernetes.io/job-name", &run)
                .label("controller-uid", &uid)
                .label("job-name", &run)
        }
        "continuous" => p
            .label("app.kubernetes.io/component", "deployments")
            .label("pod-template-hash", "7d9f8b6c5d")
            .label("toolforge.org/restart", "always")
            .label("toolforge.org/replicas", "1"),
        _ => p
            .label("app.kubernetes.io/component", "web")
            .label("pod-template-hash", "5c8d6f7b9")
            .label("toolforge.org/webservice-type", "python3.11")
            .label("toolforge.org/webservice", "true"),
    }
}

/// (pod, container) pairs with a relative weight of lines.
fn pods() -> Vec<(Pod, &'static str, usize)> {
    let mut v = Vec::new();
    let specs: [(&str, &str, &str, &str, usize); 12] = [
        ("alpha", "import-x7k2p", "job", "import", 3),
        ("alpha", "cleanup-29412345-q2x8m", "cronjob", "cleanup", 1),
        ("alpha", "web-7d9f8b6c5d-x2x4z", "continuous", "web", 4),
        ("beta", "bot-7d9f8b6c5d-h8s2k", "continuous", "bot", 5),
        ("beta", "stats-29412345-k7p2q", "cronjob", "stats", 2),
        ("gamma", "gamma-5c8d6f7b9-w9zrt", "webservice", "gamma", 6),
        ("gamma", "reindex-b5n4t", "job", "reindex", 2),
        (
            "delta",
            "crawler-7d9f8b6c5d-p2l6v",
            "continuous",
            "crawler",
            4,
        ),
        (
            "epsilon",
            "epsilon-5c8d6f7b9-m4c7x",
            "webservice",
            "epsilon",
            3,
        ),
        ("epsilon", "digest-29412345-r6d9f", "cronjob", "digest", 1),
        ("zeta", "backfill-s8t5q", "job", "backfill", 3),
        ("zeta", "zeta-5c8d6f7b9-n2v7b", "webservice", "zeta", 2),
    ];
    for (tool, name, kind, job, weight) in specs {
        let container = if kind == "webservice" {
            "webservice"
        } else {
            "job"
        };
        v.push((
            toolforge_pod(tool, name, kind, job).container(container),
            container,
            weight,
        ));
    }
    // Multi-container pod and non-tool pods.
    let web = v[2].0.clone().container("sidecar");
    v[2].0 = web.clone();
    v.push((web, "sidecar", 1));
    let dns = Pod::new("kube-system", "coredns-5d78c9869d-q2x8m")
        .label("k8s-app", "kube-dns")
        .label("pod-template-hash", "5d78c9869d")
        .container("coredns");
    v.push((dns, "coredns", 2));
    let ingress = Pod::new("ingress-nginx", "ingress-nginx-controller-6b9d7c4f5-t8w2z")
        .label("app.kubernetes.io/component", "controller")
        .label("app.kubernetes.io/instance", "ingress-nginx")
        .label("app.kubernetes.io/name", "ingress-nginx")
        .label("app.kubernetes.io/part-of", "ingress-nginx")
        .label("app.kubernetes.io/version", "1.10.0")
        .label("pod-template-hash", "6b9d7c4f5")
        .container("controller");
    v.push((ingress, "controller", 3));
    v
}

const WORDS: [&str; 24] = [
    "GET",
    "/api/v1/items",
    "200",
    "took",
    "ms",
    "user=",
    "INFO",
    "WARNING",
    "request",
    "processed",
    "cache",
    "miss",
    "for",
    "key",
    "résumé",
    "naïve",
    "über",
    "connection",
    "reset",
    "by",
    "peer",
    "{\"event\":",
    "\"ok\"}",
    "path=/data/project/tool",
];

/// Writes `lines` CRI lines of 250–550 bytes over the pods; returns the
/// number of records Fluent Bit will produce and the bytes written.
fn generate(log_dir: &Path, meta_dir: &Path, lines: usize) -> Result<(usize, u64)> {
    let pods = pods();
    let total_weight: usize = pods.iter().map(|p| p.2).sum();
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut bytes = 0u64;
    let mut records = 0usize;
    let mut seen_meta = std::collections::BTreeSet::new();
    for (pod, _, _) in &pods {
        if seen_meta.insert(pod.name.clone()) {
            pod.write_meta(meta_dir)?;
        }
    }
    // 2026-11-25T15:00:00Z; all lines fall within one quota window.
    let t0: u64 = 1_795_618_800 * 1_000_000_000;
    for (i, (pod, container, weight)) in pods.iter().enumerate() {
        let n = if i + 1 == pods.len() {
            lines - records
        } else {
            lines * weight / total_weight
        };
        let mut log = pod.log(log_dir, container)?;
        let step = 3_000_000_000_000 / n.max(1) as u64; // spread over 50 minutes
        let mut text = String::with_capacity(600);
        for j in 0..n {
            let target = 250 + rng.below(301) as usize;
            text.clear();
            text.push_str(&format!("{} ", j));
            for _ in 0..200 {
                if text.len() >= target {
                    break;
                }
                text.push_str(rng.pick(&WORDS));
                text.push(' ');
            }
            let cut = floor_char_boundary(&text, target);
            text.truncate(cut);
            let stream = if rng.below(10) == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            log.line(t0 + j as u64 * step + rng.below(1000), stream, &text)?;
        }
        log.flush()?;
        bytes += log.offset();
        records += n;
    }
    Ok((records, bytes))
}

fn build_passthrough() -> Result<PathBuf> {
    let manifest = workspace_root().join("bench/passthrough/Cargo.toml");
    let target = target_dir().join("bench/passthrough");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .context("building bench/passthrough")?;
    ensure!(status.success(), "building bench/passthrough failed");
    Ok(target.join("wasm32-wasip1/release/afterlog_passthrough.wasm"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let timeout = Duration::from_secs(args.timeout);
    let bench_dir = target_dir().join("bench");
    std::fs::create_dir_all(&bench_dir)?;

    // Modules.
    let wants = |v: &str| args.only.iter().any(|o| o == v);
    let filter_wasm = filter_wasm_path();
    let afterlog = [
        "afterlog-wasm",
        "afterlog-aot",
        "afterlog-wasm-msgpack",
        "afterlog-aot-msgpack",
    ];
    if afterlog.iter().any(|v| wants(v)) && !filter_wasm.is_file() {
        bail!(
            "{} is missing: build it with `{BUILD_FILTER}`",
            filter_wasm.display()
        );
    }
    let passthrough = if wants("passthrough") || wants("constant-msgpack") {
        Some(build_passthrough()?)
    } else {
        None
    };
    let aot = bench_dir.join("afterlog_filter.aot");
    if wants("afterlog-aot") || wants("afterlog-aot-msgpack") {
        eprintln!("compiling {} → {}", filter_wasm.display(), aot.display());
        compile_aot(&filter_wasm, &aot)?;
    }
    let lua = workspace_root().join("bench/afterlog-like.lua");

    // Data.
    let tmp = tempfile::Builder::new()
        .prefix("afterlog-bench-")
        .tempdir()?;
    let root = tmp.path().to_path_buf();
    if args.keep {
        let _ = tmp.keep();
        eprintln!("keeping {}", root.display());
    }
    let (logs, meta) = (root.join("logs"), root.join("meta"));
    eprintln!("generating {} lines in {}", args.lines, logs.display());
    let (records, bytes) = generate(&logs, &meta, args.lines as usize)?;
    eprintln!(
        "{records} lines, {:.1} MB in {} files",
        bytes as f64 / 1e6,
        std::fs::read_dir(&logs)?.count()
    );

    let stage_for = |variant: &str, run_dir: &Path| -> Result<Stage> {
        let conf = run_dir.join("filter-conf");
        std::fs::create_dir_all(&conf)?;
        Ok(match variant {
            "none" => Stage::None,
            "passthrough" => Stage::Wasm(
                WasmStage::new(passthrough.as_deref().context("no passthrough module")?)
                    .function("passthrough"),
            ),
            "constant-msgpack" => Stage::Wasm(
                WasmStage::new(passthrough.as_deref().context("no passthrough module")?)
                    .function("constant_map")
                    .msgpack(),
            ),
            // A fresh state directory per run: quota state must not carry over.
            "afterlog-wasm" => Stage::Wasm(WasmStage::new(&filter_wasm).accessible(&conf)),
            "afterlog-aot" => Stage::Wasm(WasmStage::new(&aot).accessible(&conf)),
            "afterlog-wasm-msgpack" => {
                Stage::Wasm(WasmStage::new(&filter_wasm).accessible(&conf).msgpack())
            }
            "afterlog-aot-msgpack" => Stage::Wasm(WasmStage::new(&aot).accessible(&conf).msgpack()),
            "lua" => Stage::Lua {
                script: lua.clone(),
                call: "afterlog".into(),
            },
            other => bail!("unknown variant {other}"),
        })
    };

    // Runs, interleaved so that load changes on the machine hit every variant alike.
    let mut cpu: Vec<(String, Vec<f64>, Vec<u64>)> = args
        .only
        .iter()
        .map(|v| (v.clone(), Vec::new(), Vec::new()))
        .collect();
    for r in 0..args.runs {
        for (variant, times, counts) in cpu.iter_mut() {
            let run_dir = root.join(format!("run-{variant}-{r}"));
            let pipeline = Pipeline::new(&logs, &meta)
                .stage(stage_for(variant, &run_dir)?)
                .sink(Sink::Counter);
            let run: Run = pipeline.run(&run_dir, timeout.max(DEFAULT_TIMEOUT))?;
            run.check()?;
            let n = run.counter_total();
            eprintln!(
                "run {}/{} {variant:>14}: cpu {:7.2} s (user {:.2} sys {:.2}) wall {:6.2} s, {n} records",
                r + 1,
                args.runs,
                run.cpu().as_secs_f64(),
                run.user.as_secs_f64(),
                run.sys.as_secs_f64(),
                run.wall.as_secs_f64()
            );
            times.push(run.cpu().as_secs_f64());
            counts.push(n);
        }
    }

    // Table.
    let med: Vec<(String, f64, Vec<f64>, Vec<u64>)> = cpu
        .into_iter()
        .map(|(v, mut t, c)| {
            let m = median(&t);
            t.sort_by(f64::total_cmp);
            (v, m, t, c)
        })
        .collect();
    let get = |name: &str| med.iter().find(|m| m.0 == name).map(|m| m.1);
    let (floor, lua_cpu, none) = (get("passthrough"), get("lua"), get("none"));
    println!();
    println!(
        "{} lines ({:.1} MB) per run; CPU = user+sys of the fluent-bit process; median of {}",
        records,
        bytes as f64 / 1e6,
        args.runs
    );
    println!();
    println!(
        "| variant | CPU s (median) | all runs | records out | µs/line over `none` | × pass-through | × lua |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|");
    let ratio =
        |x: f64, base: Option<f64>| base.map_or("–".to_string(), |b| format!("{:.2}", x / b));
    for (v, m, all, counts) in &med {
        let runs: Vec<String> = all.iter().map(|t| format!("{t:.2}")).collect();
        let over = none.map_or("–".to_string(), |n| {
            format!("{:.2}", (m - n) * 1e6 / records as f64)
        });
        let counts: std::collections::BTreeSet<u64> = counts.iter().copied().collect();
        let counts: Vec<String> = counts.iter().map(u64::to_string).collect();
        println!(
            "| {v} | {m:.2} | {} | {} | {over} | {} | {} |",
            runs.join(" "),
            counts.join("/"),
            ratio(*m, floor),
            ratio(*m, lua_cpu)
        );
    }
    Ok(())
}
