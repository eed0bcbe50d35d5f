//! `afterlog serve` on one store: full reads of the big job, then tails of
//! both jobs, timed, with the server's memory and what the store served.

use super::Args;
use crate::figures::{MIB, fmt_runs, mbs, median};
use crate::http;
use crate::server::{Server, cpu_secs, memory, mib, self_cpu};
use crate::synth::{BIG_JOB, SMALL_JOB, TOOL};
use anyhow::{Result, ensure};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

fn logs_path(job: &str, query: &str) -> String {
    format!("/v1/tool/{TOOL}/jobs/{job}/logs?format=ndjson{query}")
}

/// What the store served per request, over a group of requests (`None`
/// where the service does not count it).
#[derive(Default)]
pub struct StoreCost {
    requests: Option<f64>,
    by_op: BTreeMap<String, f64>,
    kib: Option<f64>,
}

impl StoreCost {
    fn per_request(d: &http::Delta, n: usize) -> StoreCost {
        let n = n.max(1) as f64;
        let (requests, by_op) = match &d.requests {
            Some((total, by_op)) => (
                Some(total / n),
                by_op.iter().map(|(op, v)| (op.clone(), v / n)).collect(),
            ),
            None => (None, BTreeMap::new()),
        };
        StoreCost {
            requests,
            by_op,
            kib: d.bytes.map(|b| b / 1024.0 / n),
        }
    }

    /// `12 req, 310.2 KiB`.
    pub fn short(&self) -> String {
        let Some(r) = self.requests else {
            return "n/a".into();
        };
        let mut s = format!("{} req", fmt_count(r));
        if let Some(k) = self.kib {
            s.push_str(&format!(", {k:.1} KiB"));
        }
        s
    }

    /// [`StoreCost::short`] and the requests by op.
    fn long(&self) -> String {
        if self.by_op.is_empty() {
            return self.short();
        }
        let ops: Vec<String> = self
            .by_op
            .iter()
            .map(|(op, v)| format!("{op} {}", fmt_count(*v)))
            .collect();
        format!("{} ({})", self.short(), ops.join(", "))
    }
}

/// Whole numbers without decimals: most groups cost the same per request.
fn fmt_count(v: f64) -> String {
    if (v - v.round()).abs() < 0.005 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Runs `n` requests through `f` and reads the server's store counters
/// before and after them (outside the timed requests).
fn counted<T>(addr: &str, n: usize, f: impl FnOnce() -> Result<T>) -> Result<(T, StoreCost)> {
    let before = http::store_counters(addr).ok();
    let out = f()?;
    let after = http::store_counters(addr).ok();
    let cost = match (before, after) {
        (Some(b), Some(a)) => StoreCost::per_request(&http::delta(&b, &a), n),
        _ => StoreCost::default(),
    };
    Ok((out, cost))
}

/// What `afterlog serve` gave on one store: full reads of the big job on
/// one server, then tails of both jobs on a fresh one.
pub struct Served {
    pub start_hwm: u64,
    pub full: Vec<f64>,
    pub full_cpu: Vec<f64>,
    /// Lines of the first full read.
    pub lines: u64,
    pub full_hwm: u64,
    pub full_cost: StoreCost,
    /// ms, after a warm-up.
    pub tail_big: Vec<f64>,
    pub tail_small: Vec<f64>,
    pub tail_hwm: u64,
    pub tail_big_cost: StoreCost,
    pub tail_small_cost: StoreCost,
    pub mismatch: bool,
}

impl Served {
    pub fn full_s(&self) -> f64 {
        median(&self.full)
    }
}

/// The service's figures on the store in `dir`. Every full read must give
/// `expect` lines (`whence` says where that number comes from); `tag`
/// marks what is printed for a store other than the raw one.
pub fn serve(
    a: &Args,
    dir: &Path,
    tag: &str,
    (bytes, zcat_s): (u64, f64),
    (expect, whence): (u64, &str),
) -> Result<Served> {
    let server = Server::start(dir, &["--insecure-no-auth"], "afterlog-serve.log")?;
    let pid = server.pid();
    let (start_hwm, start_rss) = memory(pid)?;
    println!(
        "\nafterlog serve{tag} (pid {pid}, {}): VmHWM {:.1} MiB, VmRSS {:.1} MiB after start",
        server.addr,
        mib(start_hwm),
        mib(start_rss)
    );
    let mut full = Vec::new();
    let mut full_cpu = Vec::new();
    let mut lines = Vec::new();
    let mut mismatch = false;
    let ((), full_cost) = counted(&server.addr, a.runs, || {
        for i in 0..a.runs {
            let (cpu0, me0) = (cpu_secs(pid)?, self_cpu());
            let t = Instant::now();
            let r = http::get(&server.addr, &logs_path(BIG_JOB, ""))?;
            let secs = t.elapsed().as_secs_f64();
            let (cpu, me) = (cpu_secs(pid)? - cpu0, self_cpu() - me0);
            ensure!(
                r.status == 200,
                "full read: HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.small_body)
            );
            println!(
                "  full read {}: {:.2} s, {} lines, {:.1} MiB of body, server CPU {:.2} s ({:.2} cores), client CPU {:.2} s, {} out of order",
                i + 1,
                secs,
                r.lines,
                r.bytes as f64 / MIB,
                cpu,
                cpu / secs,
                me,
                r.out_of_order
            );
            if let Some(m) = &r.messages {
                println!("    messages line: {}", &m[..m.len().min(400)]);
            }
            if r.lines != expect {
                mismatch = true;
                println!(
                    "  !!!!! MISMATCH: received {} lines, expected {expect} ({whence}) !!!!!",
                    r.lines
                );
            }
            full.push(secs);
            full_cpu.push(cpu);
            lines.push(r.lines);
        }
        Ok(())
    })?;
    let full_s = median(&full);
    let (full_hwm, full_rss) = memory(pid)?;
    println!(
        "full job over HTTP{tag}: {:.2} s median ({} s) → {:.0} MiB/s, {:.2}× zcat; server VmHWM {:.1} MiB (VmRSS {:.1} MiB); store per read: {}",
        full_s,
        fmt_runs(&full),
        mbs(bytes, full_s),
        zcat_s / full_s,
        mib(full_hwm),
        mib(full_rss),
        full_cost.long()
    );

    // Tails, on a fresh server so that its peak is the tails' own.
    drop(server);
    let server = Server::start(dir, &["--insecure-no-auth"], "afterlog-serve.log")?;
    let pid = server.pid();
    let tail = |job: &str| -> Result<f64> {
        let t = Instant::now();
        let r = http::get(&server.addr, &logs_path(job, "&tail=100"))?;
        let secs = t.elapsed().as_secs_f64();
        ensure!(
            r.status == 200,
            "tail of {job}: HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.small_body)
        );
        if r.lines != 100 {
            println!("  !!!!! tail of {job}: {} lines, not 100 !!!!!", r.lines);
        }
        Ok(secs * 1000.0)
    };
    let tails = |job: &str| -> Result<(Vec<f64>, StoreCost)> {
        // The warm-up is left out of the figures.
        tail(job)?;
        counted(&server.addr, 11, || (0..11).map(|_| tail(job)).collect())
    };
    let (tail_big, tail_big_cost) = tails(BIG_JOB)?;
    let (tail_small, tail_small_cost) = tails(SMALL_JOB)?;
    let tail_hwm = memory(pid)?.0;
    let (big_ms, small_ms) = (median(&tail_big), median(&tail_small));
    println!(
        "\ntail=100{tag}: big job {big_ms:.1} ms, small job {small_ms:.1} ms (median of 11) → {:.1}×",
        big_ms / small_ms
    );
    println!(
        "  big:   {} ms; store per tail: {}",
        fmt_runs(&tail_big),
        tail_big_cost.long()
    );
    println!(
        "  small: {} ms; store per tail: {}",
        fmt_runs(&tail_small),
        tail_small_cost.long()
    );
    println!(
        "  VmHWM of a fresh server after the 24 tails: {:.1} MiB",
        mib(tail_hwm)
    );
    Ok(Served {
        start_hwm,
        full,
        full_cpu,
        lines: lines.first().copied().unwrap_or(0),
        full_hwm,
        full_cost,
        tail_big,
        tail_small,
        tail_hwm,
        tail_big_cost,
        tail_small_cost,
        mismatch,
    })
}
