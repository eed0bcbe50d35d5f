//! Benchmark: records/s of the filter core natively and of the release
//! `.wasm` under wasmtime (as Fluent Bit calls it), on a realistic mix of
//! records (300–600-byte lines, ~10 pod labels, 16 containers of 5 tools).
//!
//! `cargo run --release -p afterlog-harness --bin bench-filter [-- RECORDS]`

use afterlog_filter::{Config, Filter, Output};
use afterlog_harness::host::{FilterHost, HostConfig};
use afterlog_harness::records;
use afterlog_sim::Rng;
use std::time::Instant;

fn records(n: usize) -> Vec<(u32, u32, Vec<u8>)> {
    let mut r = Rng::new(42);
    let pods: Vec<String> = (0..16)
        .map(|i| {
            let tool = format!("tool{}", i % 5);
            let job = format!("job{}", i % 7);
            format!(
                r#""kubernetes":{{"pod_name":"{job}-7d9f8b6c5d-x2x{i:02}","namespace_name":"tool-{tool}","pod_id":"6a0c6d1e-1b5e-4b8e-9d5f-{i:012}","labels":{{"app.kubernetes.io/component":"deployments","app.kubernetes.io/created-by":"{tool}","app.kubernetes.io/managed-by":"toolforge-jobs-framework","app.kubernetes.io/name":"{job}","app.kubernetes.io/version":"2","jobs.toolforge.org/emails":"none","jobs.toolforge.org/filelog":"no","pod-template-hash":"7d9f8b6c5d","toolforge":"tool","tool":"{tool}"}},"host":"tools-k8s-worker-nfs-{i}","container_name":"job","docker_id":"{:064x}","container_hash":"docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base@sha256:{:064x}","container_image":"docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest"}}"#,
                i * 7919,
                i * 104_729
            )
        })
        .collect();
    let words = [
        "INFO",
        "request",
        "served",
        "GET",
        "/api/v1/items?id=",
        "in",
        "ms",
        "user",
        "ok",
        "error:",
        "retrying",
    ];
    (0..n)
        .map(|i| {
            let want = 300 + r.below(301) as usize;
            let mut line = String::new();
            while line.len() < want {
                line.push_str(words[r.below(words.len() as u64) as usize]);
                line.push(' ');
            }
            line.truncate(want);
            let sec = 1_795_618_800 + (i / 1000) as u32;
            let rec = format!(
                r#"{{"time":"2026-11-25T15:00:00.{:09}Z","stream":"stdout","log":"{line}","off":{},{}}}"#,
                i,
                i * 420,
                pods[i % pods.len()]
            );
            (sec, (i % 1_000_000_000) as u32, rec.into_bytes())
        })
        .collect()
}

/// Records/s of the filter core natively and of the release `.wasm` under
/// wasmtime.
#[derive(clap::Parser)]
struct Args {
    /// How many records to run through each.
    #[arg(default_value_t = 300_000)]
    records: usize,
}

fn main() -> anyhow::Result<()> {
    let n = <Args as clap::Parser>::parse().records;
    let recs = records(n);
    let bytes: usize = recs.iter().map(|r| r.2.len()).sum();
    let unlimited = || {
        let mut c = Config::default();
        c.quota.bytes = u64::MAX;
        c
    };

    // Twice, the faster counts: the first pass also pays for the records'
    // first touch after they were generated.
    let mut native = 0f64;
    let mut out = 0usize;
    for _ in 0..2 {
        let mut filter = Filter::new(unlimited())?;
        let t = Instant::now();
        out = 0;
        for (s, ns, r) in &recs {
            if let Output::Record(b) = filter.process(*s, *ns, r) {
                out += b.len();
            }
        }
        native = native.max(n as f64 / t.elapsed().as_secs_f64());
    }

    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("afterlog-filter.json"),
        r#"{"quota":{"bytes":18446744073709551615}}"#,
    )?;
    let mut hc = HostConfig::release();
    hc.preopens = vec![dir.path().to_path_buf()];
    hc.fuel = false;
    let wasm_size = std::fs::metadata(&hc.wasm)?.len();
    let mut host = FilterHost::new(hc)?;
    host.call(b"t", 0, 0, &recs[0].2); // instantiate and warm up outside the clock
    // Past the filter's first seconds, when it journals every quota change
    // (see plugin/src/runtime.rs): measure the steady state.
    host.config()
        .clock
        .advance(std::time::Duration::from_secs(60));
    let t = Instant::now();
    let mut kept = 0;
    for (s, ns, r) in &recs {
        if host
            .call_len(b"kube.var.log.containers.x", *s, *ns, r)
            .is_some_and(|n| n > 0)
        {
            kept += 1;
        }
    }
    let wasm_s = t.elapsed().as_secs_f64();
    let wasm = n as f64 / wasm_s;
    anyhow::ensure!(kept == n, "the .wasm kept {kept} of {n} records");

    // The same records in the msgpack mode (`event_format: msgpack`).
    let packed: Vec<Vec<u8>> = recs
        .iter()
        .map(|(_, _, r)| Ok(records::msgpack(&serde_json::from_slice(r)?)))
        .collect::<anyhow::Result<_>>()?;
    let t = Instant::now();
    let mut kept = 0;
    for ((s, ns, _), r) in recs.iter().zip(&packed) {
        if host
            .call_len(b"kube.var.log.containers.x", *s, *ns, r)
            .is_some_and(|n| n > 0)
        {
            kept += 1;
        }
    }
    let mp_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(kept == n, "the .wasm kept {kept} of {n} msgpack records");

    // The host's own share (copy in, call, strlen, free) with a module that
    // returns its input: what any filter pays under this host.
    let echo = dir.path().join("echo.wat");
    std::fs::write(
        &echo,
        r#"(module (memory (export "memory") 1)
             (func (export "f") (param i32 i32 i32 i32 i32 i32) (result i32) local.get 4))"#,
    )?;
    let mut hc = HostConfig::new(&echo, "f");
    hc.fuel = false;
    let mut floor_host = FilterHost::new(hc)?;
    let t = Instant::now();
    for (s, ns, r) in &recs {
        floor_host.call_len(b"kube.var.log.containers.x", *s, *ns, r);
    }
    let floor_s = t.elapsed().as_secs_f64();
    let guest = n as f64 / (wasm_s - floor_s).max(1e-9);
    anyhow::ensure!(out > bytes / 2, "native output is implausibly small");

    println!("records: {n}, average input {} bytes", bytes / n);
    println!("| what | records/s | µs/record |");
    println!("|---|---:|---:|");
    println!(
        "| filter core, native | {native:.0} | {:.2} |",
        1e6 / native
    );
    println!(
        "| .wasm under wasmtime (Fluent Bit's calling convention) | {wasm:.0} | {:.2} |",
        1e6 / wasm
    );
    println!(
        "| .wasm, msgpack mode (NF1 out) | {:.0} | {:.2} |",
        n as f64 / mp_s,
        mp_s * 1e6 / n as f64
    );
    println!(
        "| host floor: an echo module under the same host | {:.0} | {:.2} |",
        n as f64 / floor_s,
        floor_s * 1e6 / n as f64
    );
    println!(
        "| .wasm minus the host floor (the filter's own work) | {guest:.0} | {:.2} |",
        1e6 / guest
    );
    println!("ratio wasm/native, whole call: {:.2}", wasm / native);
    println!(
        "ratio wasm/native, filter's own work: {:.2} (goal >= 0.5)",
        guest / native
    );
    println!(
        ".wasm size: {wasm_size} bytes ({:.0} KiB)",
        wasm_size as f64 / 1024.0
    );
    Ok(())
}
