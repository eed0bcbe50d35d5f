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
    /// The first server's VmHWM after start, KiB.
    pub start_hwm: u64,
    pub full: FullReads,
    pub tails: Tails,
}

/// One full read of the big job: seconds, the server's CPU seconds, lines.
pub struct FullRead(pub f64, pub f64, pub u64);

/// Full reads of the big job on one server.
pub struct FullReads {
    pub runs: Vec<FullRead>,
    /// The lines each must give.
    pub expect: u64,
    /// The server's VmHWM after them, KiB.
    pub hwm: u64,
    pub cost: StoreCost,
}

impl FullReads {
    pub fn secs(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.0).collect()
    }

    pub fn median_secs(&self) -> f64 {
        median(&self.secs())
    }

    pub fn median_cpu(&self) -> f64 {
        median(&self.runs.iter().map(|r| r.1).collect::<Vec<_>>())
    }

    /// Lines of the first read.
    pub fn lines(&self) -> u64 {
        self.runs.first().map_or(0, |r| r.2)
    }

    pub fn mismatch(&self) -> bool {
        self.runs.iter().any(|r| r.2 != self.expect)
    }
}

/// `tail=100` of the big and the small job on a fresh server: ms of each
/// (after a warm-up) and what the store served per tail.
pub struct Tails {
    pub big: (Vec<f64>, StoreCost),
    pub small: (Vec<f64>, StoreCost),
    /// The server's VmHWM after them, KiB.
    pub hwm: u64,
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
    let full = full_reads(a, &server, (expect, whence))?;
    let full_s = full.median_secs();
    let full_rss = memory(pid)?.1;
    println!(
        "full job over HTTP{tag}: {:.2} s median ({} s) → {:.0} MiB/s, {:.2}× zcat; server VmHWM {:.1} MiB (VmRSS {:.1} MiB); store per read: {}",
        full_s,
        fmt_runs(&full.secs()),
        mbs(bytes, full_s),
        zcat_s / full_s,
        mib(full.hwm),
        mib(full_rss),
        full.cost.long()
    );
    // Tails, on a fresh server so that its peak is the tails' own.
    drop(server);
    let server = Server::start(dir, &["--insecure-no-auth"], "afterlog-serve.log")?;
    let tails = tails(&server)?;
    let (big_ms, small_ms) = (median(&tails.big.0), median(&tails.small.0));
    println!(
        "\ntail=100{tag}: big job {big_ms:.1} ms, small job {small_ms:.1} ms (median of 11) → {:.1}×",
        big_ms / small_ms
    );
    for (what, (ms, cost)) in [("big:  ", &tails.big), ("small:", &tails.small)] {
        println!(
            "  {what} {} ms; store per tail: {}",
            fmt_runs(ms),
            cost.long()
        );
    }
    println!(
        "  VmHWM of a fresh server after the 24 tails: {:.1} MiB",
        mib(tails.hwm)
    );
    Ok(Served {
        start_hwm,
        full,
        tails,
    })
}

/// `--runs` full reads of the big job, each of which must give `expect`
/// lines (`whence` says where that number comes from).
fn full_reads(a: &Args, server: &Server, (expect, whence): (u64, &str)) -> Result<FullReads> {
    let pid = server.pid();
    let (runs, cost) = counted(&server.addr, a.runs, || {
        (0..a.runs)
            .map(|i| {
                let (cpu0, me0) = (cpu_secs(pid)?, self_cpu());
                let t = Instant::now();
                let r = http::get(&server.addr, &logs_path(BIG_JOB, ""))?;
                let secs = t.elapsed().as_secs_f64();
                let (cpu, me) = (cpu_secs(pid)? - cpu0, self_cpu() - me0);
                ensure!(
                    r.status == 200,
                    "full read: HTTP {}: {}",
                    r.status,
                    r.start_text()
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
                    println!(
                        "  !!!!! MISMATCH: received {} lines, expected {expect} ({whence}) !!!!!",
                        r.lines
                    );
                }
                Ok(FullRead(secs, cpu, r.lines))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    Ok(FullReads {
        runs,
        expect,
        hwm: memory(pid)?.0,
        cost,
    })
}

/// 11 `tail=100` of each job after a warm-up one.
fn tails(server: &Server) -> Result<Tails> {
    let tail = |job: &str| -> Result<f64> {
        let t = Instant::now();
        let r = http::get(&server.addr, &logs_path(job, "&tail=100"))?;
        let secs = t.elapsed().as_secs_f64();
        ensure!(
            r.status == 200,
            "tail of {job}: HTTP {}: {}",
            r.status,
            r.start_text()
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
    Ok(Tails {
        big: tails(BIG_JOB)?,
        small: tails(SMALL_JOB)?,
        hwm: memory(server.pid())?.0,
    })
}
