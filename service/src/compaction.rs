//! Compaction passes over every class's store, each on its own, under its
//! own lease, with its class's retention: once (`afterlog compact`, e.g.
//! from a CronJob) or every few minutes in the service. Replicas and
//! CronJobs coordinate through those leases: one works, the others find it
//! held and wait for their next turn.

use crate::admission::Work;
use crate::api::state::{App, until_draining};
use crate::classes::ClassStores;
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
                }
            }
        }
    });
    app.keep(task);
}
