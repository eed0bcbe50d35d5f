//! The markdown tables `bench-reader` ends with, for docs/benchmarks.md.

use super::in_process::InProcessRuns;
use super::served::Served;
use super::stages::Stages;
use crate::dataset::{Compacted, Data};
use crate::figures::{MIB, mbs, md_row, median};
use crate::server::mib;
use crate::store;

/// The service's and the in-process reads' figures on one store.
pub struct Store {
    pub served: Served,
    pub inproc: InProcessRuns,
}

impl Store {
    pub fn mismatch(&self) -> bool {
        self.served.full.mismatch() || self.inproc.mismatch
    }
}

/// Everything the tables show.
pub struct Figures<'a> {
    pub d: &'a Data,
    pub runs: usize,
    pub zcat_s: f64,
    /// flate2 and miniz_oxide, median seconds.
    pub gunzip_s: (f64, f64),
    pub stages: &'a Stages,
    /// Objects and their text bytes.
    pub overlap: (usize, u64),
    /// Objects a big-job tail reads, of all.
    pub tail_plan: (usize, usize),
    pub raw: &'a Store,
    pub compacted: Option<(&'a Compacted, &'a Store)>,
}

/// `| what | median | throughput | vs zcat | goal |`, the ratio in bold
/// where there is a goal.
fn speed_row(what: &str, secs: f64, f: &Figures, goal: &str) {
    let ratio = format!("{:.2}", f.zcat_s / secs);
    let ratio = if goal.is_empty() {
        ratio
    } else {
        format!("**{ratio}**")
    };
    let speed = format!("{:.0} MiB/s", mbs(f.d.big.bytes, secs));
    println!(
        "{}",
        md_row(&[what, &format!("{secs:.2} s"), &speed, &ratio, goal])
    );
}

/// The two full reads of the big job: over HTTP and in process.
fn full_read_rows(s: &Store, f: &Figures) {
    speed_row(
        "full job, `GET …/logs?format=ndjson`",
        s.served.full.median_secs(),
        f,
        "≥ 0.8",
    );
    speed_row("full job, `JobReader` in process", s.inproc.secs(), f, "");
}

pub fn print(f: &Figures) {
    let (d, st) = (f.d, f.stages);
    let (fl_s, mz_s) = f.gunzip_s;
    let (open_n, open_bytes) = f.overlap;
    let (tp_read, tp_all) = f.tail_plan;
    println!(
        "Big job: {:.0} MiB in {} objects ({:.0} MiB gzipped), {} records; runs: {}.\n",
        d.big.bytes as f64 / MIB,
        d.big.objects,
        d.big.gz_bytes as f64 / MIB,
        d.big.records,
        f.runs
    );
    println!("| what | median | throughput | vs zcat | goal |");
    println!("|---|---:|---:|---:|---|");
    speed_row("`zcat` of all objects", f.zcat_s, f, "");
    full_read_rows(f.raw, f);
    speed_row("gunzip, flate2 (zlib-rs), one thread", fl_s, f, "");
    speed_row("gunzip, miniz_oxide, one thread", mz_s, f, "");
    speed_row(
        "parse records (`LogRecord::parse`), one thread",
        st.parse,
        f,
        "",
    );
    println!("| sort each object, one thread | {:.2} s | | | |", st.sort);
    println!();
    println!("| what | figure | goal |");
    println!("|---|---:|---|");
    store_rows(f.raw, d);
    println!(
        "| gunzip zlib-rs / miniz_oxide speed | **{:.2}×** | |",
        mz_s / fl_s
    );
    println!(
        "| objects overlapping the merge window (model) | {open_n} ({:.0} MiB text, ~{:.0} MiB parsed) | |",
        open_bytes as f64 / MIB,
        open_bytes as f64 * st.heap_factor / MIB
    );
    println!("| objects a big-job `tail=100` reads | {tp_read} of {tp_all} | |");

    if let Some((c, s)) = f.compacted {
        let passes: Vec<String> = c.passes.iter().map(|p| format!("{:.1} s", p.0)).collect();
        println!(
            "\nCompacted copy ({}): {} objects after {} `afterlog compact` passes ({}; settle {} min, grace {} min, the rest default).\n",
            c.dir.display(),
            store::describe_objects(&c.objects),
            c.passes.len(),
            passes.join(" + "),
            store::SETTLE_MINUTES,
            store::GRACE_MINUTES
        );
        println!("| what, compacted | median | throughput | vs zcat (raw) | goal |");
        println!("|---|---:|---:|---:|---|");
        full_read_rows(s, f);
        println!();
        println!("| what, compacted | figure | goal |");
        println!("|---|---:|---|");
        store_rows(s, d);
    }
}

/// The figures of the service and the in-process reads on one store.
fn store_rows(store: &Store, d: &Data) {
    let (s, inproc) = (&store.served, &store.inproc);
    let (full_cpu, inproc_cpu) = (s.full.median_cpu(), median(&inproc.cpu));
    let (tail_big, tail_small) = (median(&s.tails.big.0), median(&s.tails.small.0));
    let row =
        |what: &str, figure: String, goal: &str| println!("{}", md_row(&[what, &figure, goal]));
    row(
        "server CPU per full read (median)",
        format!(
            "{full_cpu:.2} s ({:.2} cores)",
            full_cpu / s.full.median_secs()
        ),
        "",
    );
    row(
        "in-process CPU per full read (median)",
        format!(
            "{inproc_cpu:.2} s ({:.2} cores)",
            inproc_cpu / inproc.secs()
        ),
        "",
    );
    row(
        "server VmHWM after start",
        format!("{:.1} MiB", mib(s.start_hwm)),
        "",
    );
    row(
        "server VmHWM after the full reads",
        format!("**{:.1} MiB**", mib(s.full.hwm)),
        "≤ 64 MiB",
    );
    row(
        "VmHWM of a fresh server after 24 tails",
        format!("{:.1} MiB", mib(s.tails.hwm)),
        "",
    );
    row("`tail=100`, big job", format!("{tail_big:.1} ms"), "");
    row(
        &format!(
            "`tail=100`, small job ({:.0} MiB, {} object)",
            d.small.bytes as f64 / MIB,
            d.small.objects
        ),
        format!("{tail_small:.1} ms"),
        "",
    );
    row(
        "tail big / small",
        format!("**{:.1}×**", tail_big / tail_small),
        "≤ 2×",
    );
    row("store per full read", s.full.cost.short(), "");
    row(
        "store per `tail=100`, big / small job",
        format!("{} / {}", s.tails.big.1.short(), s.tails.small.1.short()),
        "",
    );
}
