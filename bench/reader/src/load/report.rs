//! The markdown table `bench-load` ends with, for docs/benchmarks.md.

use super::Args;
use super::digest::Reference;
use super::follows::FollowsSummary;
use super::reads::Reads;
use super::samples::metric;
use super::small::{Latency, fmt_ms};
use crate::figures::{md_row, percentiles, ratio};
use crate::server::mib;

/// The server's `VmRSS` (and peak) over the run, KiB.
pub struct Rss {
    pub start: u64,
    /// Before the load, after the solo read: idle.
    pub pre: u64,
    /// The highest sampled during the load.
    pub load_peak: u64,
    pub post: u64,
    pub post_hwm: u64,
    /// `--settle-secs` after the load.
    pub settled: u64,
}

/// Everything the table shows.
pub struct Figures<'a> {
    pub a: &'a Args,
    pub refr: &'a Reference,
    pub rss: Rss,
    pub reads: &'a Reads,
    pub follows: &'a FollowsSummary,
    pub idle: Latency,
    /// The small requests while the reads ran.
    pub during: Latency,
    /// The most MiB in use, running and queued sampled during the load.
    pub admission_max: (f64, f64, f64),
    /// `/v1/metrics` right after the load.
    pub after_metrics: &'a str,
}

/// `| what | figure | goal |`.
fn row(what: &str, figure: impl std::fmt::Display, goal: &str) {
    println!("{}", md_row(&[what, &figure.to_string(), goal]));
}

pub fn print(f: &Figures) {
    let (a, rss, reads) = (f.a, &f.rss, f.reads);
    let idle_ratio = |kib: u64| ratio(kib as f64, rss.pre as f64);
    let m = |name: &str| metric(f.after_metrics, name);
    println!("| what | figure | goal |");
    println!("|---|---:|---|");
    row(
        "server peak RSS (`VmHWM`)",
        format!("**{:.1} MiB**", mib(rss.post_hwm)),
        &format!("≤ {} MiB (budget)", a.budget_mib),
    );
    row(
        "`VmRSS` sampled every 100 ms, highest during the load",
        format!("{:.1} MiB", mib(rss.load_peak)),
        "",
    );
    row(
        "`VmRSS` idle: after start / before the load (after the solo read)",
        format!("{:.1} / {:.1} MiB", mib(rss.start), mib(rss.pre)),
        "",
    );
    row(
        "`VmRSS` right after the load",
        format!(
            "{:.1} MiB ({:.1}× idle)",
            mib(rss.post),
            idle_ratio(rss.post)
        ),
        "",
    );
    row(
        &format!("`VmRSS` {} s after the load", a.settle_secs),
        format!(
            "**{:.1} MiB ({:.1}× idle)**",
            mib(rss.settled),
            idle_ratio(rss.settled)
        ),
        "≤ 2× idle",
    );
    row(
        &format!(
            "full reads complete and identical to one alone ({} lines)",
            f.refr.lines
        ),
        format!("**{} of {}**", reads.complete, a.readers),
        "all",
    );
    row(
        "reads refused (429) at least once / then succeeded / gave up",
        format!(
            "{} / {} / {}",
            reads.refused_once, reads.retried_ok, reads.gave_up
        ),
        "",
    );
    row(
        "429s to reads: budget / caller cap",
        format!(
            "{} / {}",
            reads.refused_for("budget"),
            reads.refused_for("caller")
        ),
        "caller cap: 0",
    );
    row(
        "full read, body only / with waits and retries, p50",
        format!(
            "{:.1} s / {:.1} s",
            percentiles(&reads.body_ms).0 / 1000.0,
            percentiles(&reads.total_ms).0 / 1000.0
        ),
        "",
    );
    row(
        "follows admitted / whole stored part identical when cut",
        format!(
            "{} / {} of {}",
            f.follows.admitted, f.follows.whole, a.follows
        ),
        "",
    );
    row("small requests idle, p50 / p99 / max", fmt_ms(f.idle.p), "");
    row(
        "small requests while the reads run, p50 / p99 / max",
        fmt_ms(f.during.p),
        "",
    );
    row(
        "small p99 under load / idle",
        format!("**{:.1}×**", ratio(f.during.p.1, f.idle.p.1)),
        "≤ 10×",
    );
    row(
        "small requests failed, idle / under load",
        format!("{} / {}", f.idle.failed, f.during.failed),
        "0",
    );
    let (in_use, running, queued) = f.admission_max;
    row(
        "admission during the load: most MiB in use / running / queued",
        format!("{in_use:.0} / {running:.0} / {queued:.0}"),
        "",
    );
    row(
        "`afterlog_admission_refused_total`, budget / caller",
        format!(
            "{:.0} / {:.0}",
            m("afterlog_admission_refused_total{reason=\"budget\"}"),
            m("afterlog_admission_refused_total{reason=\"caller\"}")
        ),
        "",
    );
    row(
        "admission right after the load: MiB in use / running",
        format!(
            "{:.0} / {:.0}",
            m("afterlog_admission_in_use_mib"),
            m("afterlog_admission_running")
        ),
        "0 / 0",
    );
}
