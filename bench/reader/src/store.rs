//! A bench's store and the real `afterlog` binary on it: the command line,
//! compaction passes, and what the store holds. Shared by `bench-reader`
//! and `bench-scale`, so that both compact the way a CronJob would.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The smallest settle and grace times the compactor's config accepts:
/// a bench cannot wait the production defaults (15 and 60 minutes).
pub const SETTLE_MINUTES: u64 = 6;
pub const GRACE_MINUTES: u64 = 1;

/// Writes `compactor.json` into `dir`: the shortest settle and grace
/// times, everything else at its default (chunk size, gzip level), so
/// that chunks are what production would write.
pub fn compactor_config(dir: &Path) -> Result<PathBuf> {
    let p = dir.join("compactor.json");
    std::fs::write(
        &p,
        format!(r#"{{"settle_minutes": {SETTLE_MINUTES}, "grace_minutes": {GRACE_MINUTES}}}"#),
    )
    .with_context(|| format!("writing {}", p.display()))?;
    Ok(p)
}

/// `afterlog <sub>`, without what the caller's environment could add (a
/// store, routing classes, a compactor config, AWS credentials): the
/// caller names the store.
pub fn afterlog_command(afterlog: &Path, sub: &str) -> Command {
    let mut cmd = Command::new(afterlog);
    cmd.arg(sub);
    for var in [
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AFTERLOG_STORE",
        "AFTERLOG_CLASSES",
        "AFTERLOG_COMPACTOR_CONFIG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// One `afterlog compact` pass.
pub struct Pass {
    pub secs: f64,
    /// When it ended: what it consumed is due for deletion a grace time
    /// after that at the latest (the compactor stamps what a job's merge
    /// consumed with its clock when that merge starts).
    pub ended: Instant,
    /// Its one-line report (stdout).
    pub report: String,
    pub status: ExitStatus,
    pub stderr: String,
}

/// Runs `compact` (`afterlog compact` with its store, from
/// [`afterlog_command`]) once with the compactor config `config`.
pub fn pass(mut compact: Command, config: &Path) -> Result<Pass> {
    let t = Instant::now();
    let out = compact
        .arg("--compactor-config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .context("running afterlog compact")?;
    Ok(Pass {
        secs: t.elapsed().as_secs_f64(),
        ended: Instant::now(),
        report: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Sleeps until what `merged` consumed is due for deletion, so that the
/// next pass deletes it.
pub fn wait_for_grace(merged: &Pass) {
    let due = merged.ended + Duration::from_secs(GRACE_MINUTES * 60 + 1);
    let wait = due.saturating_duration_since(Instant::now());
    if !wait.is_zero() {
        println!(
            "  waiting {:.0} s for the grace time ({GRACE_MINUTES} min) to pass",
            wait.as_secs_f64()
        );
        std::thread::sleep(wait);
    }
}

/// Files under `dir` by their first path component (`raw`, `chunks`,
/// `index`, …; `(top)` for files directly in `dir`).
pub fn count_objects(dir: &Path) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if !d.exists() {
            continue;
        }
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path();
                let rel = rel.strip_prefix(dir).unwrap_or(&rel);
                let top = rel
                    .components()
                    .next()
                    .filter(|_| rel.components().count() > 1)
                    .map_or_else(
                        || "(top)".to_string(),
                        |c| c.as_os_str().to_string_lossy().into_owned(),
                    );
                *out.entry(top).or_insert(0) += 1;
            }
        }
    }
    Ok(out)
}

/// `total (raw n, chunks n, …)`.
pub fn describe_objects(c: &BTreeMap<String, u64>) -> String {
    let total: u64 = c.values().sum();
    let parts: Vec<String> = c.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("{total} ({})", parts.join(", "))
}
