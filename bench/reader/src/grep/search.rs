//! The tool-wide search: `GET /v1/tool/{tool}/search?grep=…&limit=100`
//! over a tool of many small jobs on the local store, raw (as the jobs
//! just ran) and compacted; time to the answer's first byte, to its first
//! match, and to its end.

use super::{Args, encode};
use crate::figures::{fmt_runs, median};
use crate::http::{self, LineCounter};
use crate::scale::now_ns;
use crate::server::Server;
use crate::words;
use afterlog_contract::layout::Origin;
use afterlog_reader::{StoreConfig, open};
use afterlog_sim::Rng;
use anyhow::{Context, Result, ensure};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

const TOOL: &str = "greptool";
/// What the search looks for: in no other line.
const NEEDLE: &str = "needle-7f3a9c";
/// Lines of each job, and of those the ones holding the needle.
const LINES: u64 = 200;
const HITS: u64 = 3;
const LIMIT: usize = 100;
const MINUTE_NS: u64 = 60_000_000_000;
/// What pod names are made of.
const TOKEN: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `jobs` jobs of one cron run each, a minute apart and ending an hour
/// ago: one upload of `LINES` lines 3 s apart, `HITS` of them (spread
/// through the run) holding the needle; each object dated to its upload,
/// a few seconds after its last record, as Fluent Bit uploads.
fn write_jobs(root: &Path, jobs: usize, now: u64) -> Result<(u64, u64)> {
    let mut r = Rng::new(0x67_72_65_70);
    let (mut bytes, mut gz_bytes) = (0, 0);
    let first_min = now / MINUTE_NS - 60 - jobs as u64;
    for j in 0..jobs {
        let job = format!("job-{j:03}");
        let minute = first_min + j as u64;
        let pod = format!("{job}-{minute}-{}", r.word(TOKEN, 5));
        let origin = Origin {
            tool: TOOL.into(),
            job: job.clone(),
            pod: pod.clone(),
            container: "main".into(),
        };
        let labels = format!(
            r#","afterlog":{{"tool":"{TOOL}","job":"{job}","kind":"cronjob","namespace":"tool-{TOOL}","pod":"{pod}","container":"main","container_id":"{}","node":"node-3","route":"{}"}}}}"#,
            r.word(b"0123456789abcdef", 64),
            origin.route()
        );
        let first = minute * MINUTE_NS + 1_000_000_000 + r.below(1_000_000_000);
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        let (mut ts, mut off) = (first, 0);
        for i in 0..LINES {
            let mut log = words::line(&mut r, 6..=29);
            if i % (LINES / HITS) == LINES / HITS / 2 {
                log.push_str(&format!(" {NEEDLE} in run {j}"));
            }
            off += 36 + log.len() as u64;
            let line =
                format!(r#"{{"ts":{ts},"off":{off},"stream":"stdout","log":"{log}"{labels}"#);
            gz.write_all(line.as_bytes())?;
            gz.write_all(b"\n")?;
            bytes += line.len() as u64 + 1;
            ts += 1_500_000_000 + r.below(3_000_000_000);
        }
        let body = gz.finish()?;
        let path = root.join(origin.raw_key((first / 1_000_000_000) as i64, &r.word(TOKEN, 8)));
        std::fs::create_dir_all(path.parent().context("key without a parent")?)?;
        std::fs::write(&path, &body).with_context(|| format!("writing {}", path.display()))?;
        std::fs::File::options()
            .write(true)
            .open(&path)?
            .set_modified(UNIX_EPOCH + Duration::from_nanos(ts + 5_000_000_000))?;
        gz_bytes += body.len() as u64;
    }
    Ok((bytes, gz_bytes))
}

/// One search: ms to the first byte of the answer, to the end of its
/// first match, to its end; the matches.
fn timed(addr: &str, path: &str) -> Result<(f64, f64, f64, u64)> {
    let t = Instant::now();
    let s = http::send_get(addr, path)?;
    let mut rd = BufReader::with_capacity(64 * 1024, s);
    let head = http::read_head(&mut rd)?;
    let first_byte = t.elapsed().as_secs_f64() * 1000.0;
    let mut first_match = None;
    let mut c = LineCounter::default();
    let mut status_body = Vec::new();
    http::read_body(&mut rd, &head, |piece| {
        if first_match.is_none() && piece.contains(&b'\n') {
            first_match = Some(t.elapsed().as_secs_f64() * 1000.0);
        }
        if head.status != 200 && status_body.len() < 4096 {
            status_body.extend_from_slice(piece);
        }
        c.feed(piece);
    })?;
    let total = t.elapsed().as_secs_f64() * 1000.0;
    ensure!(
        head.status == 200,
        "{path}: HTTP {} {}",
        head.status,
        String::from_utf8_lossy(&status_body)
    );
    let r = c.finish();
    if let Some(m) = &r.messages {
        println!("    messages: {m}");
    }
    Ok((first_byte, first_match.unwrap_or(total), total, r.lines))
}

/// Searches of one order on one server: the first (cold), then the
/// median of `runs`.
fn measure(s: &Server, order: &str, runs: usize, store: &str) -> Result<()> {
    let path =
        format!("/v1/tool/{TOOL}/search?grep={NEEDLE}&limit={LIMIT}&order={order}&format=ndjson");
    let (fb, fm, tot, n) = timed(&s.addr, &path)?;
    ensure!(n == LIMIT as u64, "{path}: {n} matches, not {LIMIT}");
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        let r = timed(&s.addr, &path)?;
        ensure!(r.3 == LIMIT as u64, "{path}: {} matches, not {LIMIT}", r.3);
        all.push(r);
    }
    let col = |f: fn(&(f64, f64, f64, u64)) -> f64| all.iter().map(f).collect::<Vec<f64>>();
    let (b, m, t) = (col(|r| r.0), col(|r| r.1), col(|r| r.2));
    let to_first = median(&m);
    println!(
        "  {store}, order={order}: first (cold) {fb:.1} / {fm:.1} / {tot:.1} ms; median of {runs}: first byte {:.1} ms, first match {to_first:.1} ms, all {LIMIT} {:.1} ms (totals {} ms){}",
        median(&b),
        median(&t),
        fmt_runs(&t),
        if to_first <= 100.0 {
            " — goal ≤ 100 ms met"
        } else {
            " — goal ≤ 100 ms MISSED"
        }
    );
    Ok(())
}

/// The store's whole search: every match (at most 10 000), counted.
fn count_all(s: &Server) -> Result<u64> {
    let path = format!(
        "/v1/tool/{TOOL}/search?grep={}&limit=10000&format=ndjson",
        encode(NEEDLE)
    );
    Ok(timed(&s.addr, &path)?.3)
}

fn serve_and_measure(dir: &Path, a: &Args, store: &str) -> Result<()> {
    let s = Server::start(dir, &["--insecure-no-auth"], "serve.log")?;
    for order in ["newest", "oldest"] {
        measure(&s, order, a.search_runs, store)?;
    }
    let want = a.jobs as u64 * HITS;
    let n = count_all(&s)?;
    ensure!(
        n == want,
        "{store}: the search found {n} matches, {want} were written"
    );
    Ok(())
}

pub fn run(a: &Args) -> Result<()> {
    let tmp = Scratch::new()?;
    let dir = tmp.0.as_path();
    let t = Instant::now();
    let (bytes, gz) = write_jobs(dir, a.jobs, now_ns())?;
    println!(
        "\nsearch: {} jobs of {LINES} lines ({HITS} with {NEEDLE:?} each), {:.1} MiB ({:.1} MiB gzipped) in {}, written in {:.1} s",
        a.jobs,
        bytes as f64 / 1048576.0,
        gz as f64 / 1048576.0,
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "  ms to the first byte / first match / end, grep={NEEDLE}&limit={LIMIT}&format=ndjson"
    );
    serve_and_measure(dir, a, "raw store")?;

    let rt = tokio::runtime::Runtime::new()?;
    let store = open(&StoreConfig::new(crate::server::store_url(dir)))?;
    let c = crate::compact::settled_compactor(store);
    let t = Instant::now();
    let report = rt.block_on(c.pass())?;
    let cleanup = rt.block_on(c.pass())?;
    println!(
        "  compacted in {:.1} s: {report}; cleanup: {cleanup}",
        t.elapsed().as_secs_f64()
    );
    serve_and_measure(dir, a, "compacted store")?;
    Ok(())
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let p = std::env::temp_dir().join(format!("bench-grep-{}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
