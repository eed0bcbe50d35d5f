//! Watching each class's compaction status object (`status/compaction.json`,
//! written by every pass wherever it runs) and exporting it as metrics: one
//! alert rule on `afterlog_compaction_last_success_timestamp_seconds`
//! covers a CronJob's passes and the service's own alike.

use crate::api::state::{App, until_draining};
use crate::metrics::{COMPACTED, ClassLabels, CompactLabels, ResultLabels};
use afterlog_compactor::status::{self, PassResult, Status};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The status last read from each class's store.
#[derive(Clone, Debug, Default)]
pub struct Statuses(Arc<RwLock<BTreeMap<String, Seen>>>);

/// What the watcher knows of one class's store.
#[derive(Clone, Debug, Default)]
pub enum Seen {
    /// Not read yet.
    #[default]
    Unknown,
    /// Read: no pass has written a status yet.
    Missing,
    Read(Box<Status>),
}

impl Statuses {
    /// Starts watching `classes` (each [`Seen::Unknown`] until read).
    pub fn watch<'a>(&self, classes: impl IntoIterator<Item = &'a str>) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        for class in classes {
            map.entry(class.to_string()).or_default();
        }
    }

    /// What a read found; a failed read keeps what was known before.
    pub fn set(&self, class: &str, seen: Seen) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(class.to_string(), seen);
    }

    pub fn get(&self, class: &str) -> Option<Seen> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(class)
            .cloned()
    }
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Encodes one gauge family, a value per labels.
fn gauges<L: EncodeLabelSet + std::fmt::Debug>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (L, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in values {
        ConstGauge::new(v).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Statuses {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner()).clone();
        if map.is_empty() {
            return Ok(());
        }
        let read: Vec<(&String, &Status)> = map
            .iter()
            .filter_map(|(c, s)| match s {
                Seen::Read(s) => Some((c, &**s)),
                _ => None,
            })
            .collect();
        let class = |c: &String| ClassLabels { class: c.clone() };
        // Every watched class has one, 0 until a success is known: a store
        // never compacted fires the same alert as one whose compactor stopped.
        gauges(
            &mut encoder,
            "compaction_last_success_timestamp_seconds",
            "End of the latest compaction pass that went through, by class (0: none known), from the store's status object",
            map.iter().map(|(c, s)| {
                let ended = match s {
                    Seen::Read(s) => s.last_success.as_ref().map_or(0, |p| p.ended_ns),
                    _ => 0,
                };
                (class(c), seconds(ended))
            }),
        )?;
        gauges(
            &mut encoder,
            "compaction_last_success_duration_seconds",
            "How long the latest compaction pass that went through took, by class",
            read.iter()
                .filter_map(|(c, s)| s.last_success.as_ref().map(|p| (class(c), p.seconds()))),
        )?;
        gauges(
            &mut encoder,
            "compaction_last_pass_timestamp_seconds",
            "End of the latest compaction pass, whatever its result, by class",
            read.iter()
                .map(|(c, s)| (class(c), seconds(s.last.ended_ns))),
        )?;
        gauges(
            &mut encoder,
            "compaction_last_pass_duration_seconds",
            "How long the latest compaction pass took, by class",
            read.iter().map(|(c, s)| (class(c), s.last.seconds())),
        )?;
        gauges(
            &mut encoder,
            "compaction_last_pass_result",
            "1 for the latest compaction pass's result (ok, stopped, error), 0 for the others, by class",
            read.iter().flat_map(|(c, s)| {
                [PassResult::Ok, PassResult::Stopped, PassResult::Error].map(|r| {
                    let labels = ResultLabels {
                        class: (*c).clone(),
                        result: r.name(),
                    };
                    (labels, if s.last.result == r { 1.0 } else { 0.0 })
                })
            }),
        )?;
        gauges(
            &mut encoder,
            "compaction_last_pass",
            "What the latest compaction pass did, by class and kind (objects, bytes, problems met)",
            read.iter().flat_map(|(c, s)| {
                COMPACTED.map(|(what, count)| {
                    let labels = CompactLabels {
                        class: (*c).clone(),
                        what,
                    };
                    (labels, count(&s.last.report) as f64)
                })
            }),
        )
    }
}

/// How long one read of a status object may take before the watcher
/// counts it failed and tries again at its next turn.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads class `class`'s status now, counting the read by its result.
pub async fn refresh_class(app: &App, class: &str, store: &afterlog_reader::Store) {
    let result = match tokio::time::timeout(READ_TIMEOUT, status::read(store.as_ref())).await {
        Ok(Ok(Some(s))) => {
            app.metrics.statuses.set(class, Seen::Read(Box::new(s)));
            "ok"
        }
        Ok(Ok(None)) => {
            app.metrics.statuses.set(class, Seen::Missing);
            "missing"
        }
        Ok(Err(e)) => {
            tracing::warn!(class, "compaction status unreadable: {e}");
            "error"
        }
        Err(_) => {
            tracing::warn!(class, "compaction status: no answer in {READ_TIMEOUT:?}");
            "error"
        }
    };
    app.metrics.compaction_status_read(class, result);
}

/// Reads every class's status every `every` until the service shuts down.
pub fn spawn(app: App, every: Duration) {
    app.metrics
        .statuses
        .watch(app.classes.names().iter().map(String::as_str));
    let task = tokio::spawn({
        let app = app.clone();
        async move {
            let mut draining = app.draining.subscribe();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = until_draining(&mut draining) => return,
                }
                for (class, store) in app.classes.iter() {
                    tokio::select! {
                        () = refresh_class(&app, class, store) => {}
                        () = until_draining(&mut draining) => return,
                    }
                }
            }
        }
    });
    app.keep(task);
}
