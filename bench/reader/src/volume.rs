//! `bench-volume`: `GET …/jobs/{job}/volume` of a compacted job over HTTP,
//! a month in hourly steps: the index's per-minute counts, no chunk read.

use crate::scale::data::write_continuous;
use crate::scale::{CONTINUOUS_JOB, TOOL, now_ns};
use crate::server::Server;
use crate::{http, server};
use afterlog_reader::{StoreConfig, open};
use anyhow::{Context, Result, ensure};
use std::time::Instant;

#[derive(Debug, clap::Parser)]
#[command(about = "The volume of a compacted job over HTTP")]
pub struct Args {
    /// Days of the job's history (one pod logging 20 lines a minute).
    #[arg(long, default_value_t = 30)]
    pub days: u64,
    /// The step asked for.
    #[arg(long, default_value = "1h")]
    pub step: String,
    /// Requests measured (after one warm-up).
    #[arg(long, default_value_t = 20)]
    pub reps: usize,
}

pub fn run(a: Args) -> Result<()> {
    let tmp = tempfile_dir()?;
    let dir = tmp.as_path();
    let now = now_ns();
    let t = Instant::now();
    let g = write_continuous(dir, a.days * 1440, now)?;
    println!(
        "wrote {} records in {} raw objects in {:.1} s",
        g.records,
        g.objects,
        t.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Runtime::new()?;
    let store = open(&StoreConfig::new(server::store_url(dir)))?;
    let c = crate::compact::settled_compactor(store);
    let t = Instant::now();
    let report = rt.block_on(c.pass())?;
    println!("compacted in {:.1} s: {report}", t.elapsed().as_secs_f64());
    // The consumed raw objects stay listed (their grace period has not
    // passed): the listing is part of the cost measured.
    let cleanup = rt.block_on(c.pass())?;
    println!("cleanup: {cleanup}");

    let s = Server::start(dir, &["--insecure-no-auth"], "serve.log")?;
    let path = format!(
        "/v1/tool/{TOOL}/jobs/{CONTINUOUS_JOB}/volume?since={}d&step={}",
        a.days + 1,
        a.step
    );
    let (status, body) = http::fetch(&s.addr, &path)?;
    ensure!(
        status == 200,
        "{path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    let lines: u64 = v["buckets"]
        .as_array()
        .context("no buckets")?
        .iter()
        .map(|b| b["stdout_lines"].as_u64().unwrap_or(0) + b["stderr_lines"].as_u64().unwrap_or(0))
        .sum();
    ensure!(
        lines == g.records,
        "the volume counts {lines} lines, {} were written",
        g.records
    );
    let before = http::store_counters(&s.addr)?;
    let mut ms = Vec::with_capacity(a.reps);
    for _ in 0..a.reps {
        let t = Instant::now();
        let (status, _) = http::fetch(&s.addr, &path)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        ensure!(status == 200, "{path}: {status}");
    }
    let after = http::store_counters(&s.addr)?;
    let cost = http::delta(&before, &after);
    ms.sort_by(f64::total_cmp);
    println!(
        "volume of {} days, step {}: {} buckets, {lines} lines; median {:.1} ms, max {:.1} ms over {} requests; store per request: {}",
        a.days,
        a.step,
        v["buckets"].as_array().map_or(0, Vec::len),
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        a.reps,
        per_request(&cost, a.reps),
    );
    Ok(())
}

/// The store's requests (by op) and fetched bytes, per request.
fn per_request(d: &http::Delta, reps: usize) -> String {
    let n = reps.max(1) as f64;
    let ops = d.requests.as_ref().map_or_else(
        || "not counted".to_string(),
        |(total, by_op)| {
            let ops: Vec<String> = by_op
                .iter()
                .map(|(op, v)| format!("{op} {}", v / n))
                .collect();
            format!("{} requests ({})", total / n, ops.join(", "))
        },
    );
    format!(
        "{ops}, {:.0} KiB fetched",
        d.bytes.unwrap_or(0.0) / n / 1024.0
    )
}

/// A scratch directory removed on drop.
fn tempfile_dir() -> Result<Scratch> {
    let p = std::env::temp_dir().join(format!("bench-volume-{}", std::process::id()));
    std::fs::create_dir_all(&p)?;
    Ok(Scratch(p))
}

struct Scratch(std::path::PathBuf);

impl Scratch {
    fn as_path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
