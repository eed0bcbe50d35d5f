//! Compaction passes over every class's store, each on its own, under its
//! own lease, with its class's retention: once (`afterlog compact`, e.g.
//! from a CronJob) or every few minutes in the service. Replicas and
//! CronJobs coordinate through those leases: one works, the others find it
//! held and wait for their next turn. Every pass that works records how it
//! went in its store's status object, which [`status`] exports.

pub mod status;

use crate::admission::Work;
use crate::api::state::{App, until_draining};
use crate::classes::ClassStores;
use crate::metrics::ClassLabels;
use afterlog_compactor::status::{PassResult, Status};
use afterlog_compactor::{CompactError, Compactor, Config, LeaseError, Report};
use anyhow::{Context, bail};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How one class's pass went.
#[derive(Debug)]
pub enum Outcome {
    Done(Report),
    /// Another compactor holds the lease: nothing for this one to do.
    Held(LeaseError),
    /// The pass failed; the next one resumes where it stopped.
    Failed(CompactError),
}

impl Outcome {
    /// The `result` label of `afterlog_compaction_passes`.
    pub fn result(&self) -> &'static str {
        match self {
            Outcome::Done(_) => "ok",
            Outcome::Held(_) => "held",
            Outcome::Failed(_) => "error",
        }
    }
}

/// One compactor per class's store, `default` first.
pub fn compactors(stores: &ClassStores, config: &Config) -> Vec<Compactor> {
    stores
        .iter()
        .map(|(class, store)| Compactor::for_class(class, store.clone(), config.clone()))
        .collect()
}

/// One pass of `c`.
pub async fn pass(c: &Compactor) -> Outcome {
    match c.pass().await {
        Ok(report) => Outcome::Done(report),
        Err(CompactError::Lease(e @ LeaseError::Held { .. })) => Outcome::Held(e),
        Err(e) => Outcome::Failed(e),
    }
}

/// One pass over each class's store, one after the other, each reported on
/// stdout: a class whose lease is held or whose store fails does not keep
/// the others from their pass. With classes besides `default`, each line
/// of the report names its class.
pub async fn run_once(stores: &ClassStores, config: &Config) -> anyhow::Result<()> {
    let several = stores.len() > 1;
    let mut failed = Vec::new();
    for c in compactors(stores, config) {
        let class = c.class.as_str();
        let label = if several {
            format!("class {class}: ")
        } else {
            String::new()
        };
        match pass(&c).await {
            Outcome::Done(report) => println!("{label}{report}"),
            Outcome::Held(e) => println!("{label}nothing done: {e}"),
            Outcome::Failed(e) if !several => {
                return Err(e)
                    .context("compaction pass failed (the next pass resumes where it stopped)");
            }
            Outcome::Failed(e) => {
                eprintln!("afterlog: {label}compaction pass failed: {e}");
                failed.push(class.to_string());
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "compaction pass failed for class {} (the next pass resumes where it stopped)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// `afterlog compact --status`: each class's latest pass, from its store's
/// status object, one line per class. An error (exit 1) unless every
/// class's latest pass went through.
pub async fn print_status(stores: &ClassStores, now_ns: u64) -> anyhow::Result<()> {
    let mut not_ok = Vec::new();
    for (class, store) in stores.iter() {
        // One class's store failing does not hide the others' lines.
        match afterlog_compactor::status::read(store.as_ref()).await {
            Ok(seen) => {
                println!("{}", describe(class, seen.as_ref(), now_ns));
                if seen.is_none_or(|s| s.last.result != PassResult::Ok) {
                    not_ok.push(class.to_string());
                }
            }
            Err(e) => {
                println!("{class}: compaction status unreadable: {e}");
                not_ok.push(class.to_string());
            }
        }
    }
    if !not_ok.is_empty() {
        bail!(
            "the latest compaction pass did not go through for class {}",
            not_ok.join(", ")
        );
    }
    Ok(())
}

/// One class's status, as `afterlog compact --status` prints it.
pub fn describe(class: &str, status: Option<&Status>, now_ns: u64) -> String {
    let Some(s) = status else {
        return format!("{class}: no compaction status: no pass has run on this store yet");
    };
    let when = |ns: u64| {
        format!(
            "{} ({} ago)",
            // Whole seconds: the pass took longer than its fraction says.
            afterlog_contract::time::rfc3339_nanos(ns - ns % 1_000_000_000)
                .replace(".000000000Z", "Z"),
            ago(now_ns.saturating_sub(ns) / 1_000_000_000)
        )
    };
    let last = &s.last;
    let mut line = format!(
        "{class}: latest pass {} at {}, {:.1} s, by {}",
        last.result.name(),
        when(last.ended_ns),
        last.seconds(),
        last.holder
    );
    match &last.error {
        Some(e) => line.push_str(&format!(": {e}")),
        None => line.push_str(&format!(": {}", last.report)),
    }
    match &s.last_success {
        Some(ok) if ok == last => {}
        Some(ok) => line.push_str(&format!("; latest success at {}", when(ok.ended_ns))),
        None => line.push_str("; no pass has gone through yet"),
    }
    line
}

/// A duration in seconds as a person reads it: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
fn ago(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86400, secs % 86400 / 3600),
    }
}

/// Runs a compaction pass over every class's store every `every` until the
/// service shuts down ([`crate::serve::Server::run`] waits for a pass under
/// way to stop at its next safe point). Each pass takes its share of the
/// memory budget; with the budget full of reads it waits for the next turn.
pub fn spawn(app: App, config: Config, every: Duration) {
    let task = tokio::spawn({
        let app = app.clone();
        async move {
            let compactors = compactors(&app.classes, &config);
            // A pass in progress stops at its next safe point on shutdown.
            let mut draining = app.draining.subscribe();
            {
                let stops: Vec<_> = compactors.iter().map(|c| c.stop.clone()).collect();
                let mut draining = app.draining.subscribe();
                tokio::spawn(async move {
                    until_draining(&mut draining).await;
                    for s in stops {
                        s.store(true, Ordering::Relaxed);
                    }
                });
            }
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = until_draining(&mut draining) => return,
                }
                for c in &compactors {
                    if *draining.borrow() {
                        return;
                    }
                    let class = c.class.as_str();
                    let result = match app.admission.admit(None, Work::Compaction).await {
                        Err(e) => {
                            tracing::info!(class, "compaction deferred: {e}");
                            "deferred"
                        }
                        Ok(_ticket) => {
                            let outcome = pass(c).await;
                            match &outcome {
                                Outcome::Done(report) => {
                                    tracing::info!(class, "compaction pass: {report}");
                                    app.metrics.compaction(class, report);
                                    if report.status_error.is_some() {
                                        app.metrics
                                            .status_write_errors
                                            .get_or_create(&ClassLabels {
                                                class: class.to_string(),
                                            })
                                            .inc();
                                    }
                                }
                                Outcome::Held(e) => {
                                    tracing::info!(class, "compaction skipped: {e}")
                                }
                                Outcome::Failed(e) => {
                                    tracing::error!(class, error = %e, "compaction pass failed; the next one resumes");
                                }
                            }
                            outcome.result()
                        }
                    };
                    app.metrics.compaction_pass(class, result);
                    if result != "deferred" && result != "held" {
                        status::refresh_class(&app, class, &c.store).await;
                    }
                }
            }
        }
    });
    app.keep(task);
}

#[cfg(test)]
mod tests {
    use super::*;
    use afterlog_compactor::status::Pass;

    const S: u64 = 1_000_000_000;
    /// 2026-12-05T07:00:00Z.
    const T: u64 = 1_796_454_000 * S;

    fn pass(result: PassResult, ended_ns: u64) -> Pass {
        Pass {
            holder: "node-a/7/0000beef".into(),
            started_ns: ended_ns - 3 * S / 2,
            ended_ns,
            result,
            error: (result == PassResult::Error).then(|| "store unreachable".into()),
            report: Report {
                tools: 2,
                jobs: 5,
                ..Report::default()
            },
        }
    }

    #[test]
    fn describes_each_state() {
        assert_eq!(
            describe("default", None, T),
            "default: no compaction status: no pass has run on this store yet"
        );
        let ok = Status::after(None, "default", pass(PassResult::Ok, T - 90 * S));
        let line = describe("default", Some(&ok), T);
        assert!(
            line.starts_with(
                "default: latest pass ok at 2026-12-05T06:58:30Z (1 min ago), 1.5 s, by node-a/7/0000beef: 2 tools, 5 jobs"
            ),
            "{line}"
        );
        assert!(!line.contains("latest success"), "{line}");
        let failed = Status::after(Some(ok), "default", pass(PassResult::Error, T - 5 * S));
        assert_eq!(
            describe("default", Some(&failed), T),
            "default: latest pass error at 2026-12-05T06:59:55Z (5 s ago), 1.5 s, by node-a/7/0000beef: \
             store unreachable; latest success at 2026-12-05T06:58:30Z (1 min ago)"
        );
        let never = Status::after(None, "x", pass(PassResult::Error, T - 2 * 86400 * S));
        assert!(
            describe("x", Some(&never), T).ends_with("(2 d 0 h ago), 1.5 s, by node-a/7/0000beef: store unreachable; no pass has gone through yet"),
            "{}",
            describe("x", Some(&never), T)
        );
    }
}
