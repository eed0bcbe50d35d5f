//! Prometheus metrics at `/v1/metrics`: what is asked, how it went, what it
//! cost, and what was wrong with the stored data.

use afterlog_reader::ReadStats;
use afterlog_reader::counting::Counters;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route's template (`/v1/tool/{tool}/…`), so tools and jobs do not
    /// multiply the series.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeletionLabels {
    /// `created`, `cancelled`, `refused`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// `line`, `object` (damaged gzip), `vanished` (listed but gone),
    /// `disorder` (a stored object out of order).
    pub kind: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: HistogramFamily,
    pub lines_served: Counter,
    pub bytes_served: Counter,
    pub objects_read: Counter,
    pub decode_errors: Family<ErrorLabels, Counter>,
    pub follows_active: Gauge,
    pub follows_refused: Counter,
    /// Store failures while following (listing or reading what arrived);
    /// the follow tries again at its next poll.
    pub follow_errors: Counter,
    /// Streamed reads the store broke off (the body ends as failed).
    pub stream_failures: Counter,
    pub lines_pushed: Counter,
    /// Pushed lines over the line limit, stored cut.
    pub lines_cut: Counter,
    pub compactions: Family<ResultLabels, Counter>,
    pub compacted: Family<CompactLabels, Counter>,
    /// Each class's compaction status object, as last read: exported as
    /// `afterlog_compaction_last_*` gauges.
    pub statuses: crate::compaction::status::Statuses,
    /// Reads of the status objects, by class and result (`ok`, `missing`,
    /// `error`).
    pub status_reads: Family<ResultLabels, Counter>,
    /// The service's own passes whose status object could not be written.
    pub status_write_errors: Family<ClassLabels, Counter>,
    /// Deletion requests created, cancelled, or refused (to a caller
    /// `--delete-by` leaves out, or to cancel once too late).
    pub deletions: Family<DeletionLabels, Counter>,
    pub deletion_lines: Counter,
    pub deletion_bytes: Counter,
    /// The object store requests exported: see [`Metrics::count_store`].
    store: StoreRequests,
    pub admission: crate::admission::AdmissionMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    /// An [`afterlog_reader::counting::Op`]'s name: `get`, `get_range`, …
    pub op: &'static str,
}

/// The object store requests, read from their [`Counters`] at each scrape:
/// nothing until the counters are given.
#[derive(Clone, Debug, Default)]
struct StoreRequests(Arc<OnceLock<Arc<Counters>>>);

impl Collector for StoreRequests {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(counters) = self.0.get() else {
            return Ok(());
        };
        let n = counters.snapshot();
        {
            let mut family = encoder.encode_descriptor(
                "store_requests",
                "Object store requests, by operation",
                None,
                MetricType::Counter,
            )?;
            for (op, count) in n.by_op() {
                let labels = OpLabels { op: op.name() };
                ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "store_failures",
                "Object store requests that failed after the store's own retries (timeouts, resets, errors; not \"not found\"), by operation",
                None,
                MetricType::Counter,
            )?;
            for op in afterlog_reader::counting::Op::ALL {
                let labels = OpLabels { op: op.name() };
                ConstCounter::new(counters.failures(op)).encode(family.encode_family(&labels)?)?;
            }
        }
        let bytes = encoder.encode_descriptor(
            "store_bytes_fetched",
            "Bytes of object bodies fetched from the object store",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(n.bytes_fetched).encode(bytes)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// The routing class whose store was compacted.
    pub class: String,
    /// Of a pass: `ok`, `held` (another compactor had the lease), `error`,
    /// `deferred`; of a status read: `ok`, `missing`, `error`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    /// The routing class whose store was compacted.
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CompactLabels {
    /// The routing class whose store was compacted.
    pub class: String,
    pub what: &'static str,
}

/// One count of a compaction pass's report.
type ReportCount = fn(&afterlog_compactor::Report) -> u64;

/// The `what` of `afterlog_compaction_total`, and where a pass's report
/// counts it.
pub(crate) const COMPACTED: [(&str, ReportCount); 17] = [
    ("raw_objects_read", |r| r.raw_read),
    ("bytes_read", |r| r.bytes_read),
    ("merged_objects_written", |r| r.data_written),
    ("bytes_written", |r| r.bytes_written),
    ("records_written", |r| r.records_written),
    ("raw_objects_deleted", |r| r.raw_deleted),
    ("orphans_deleted", |r| r.orphans_deleted),
    ("retention_runs_deleted", |r| r.runs_expired),
    ("retention_objects_deleted", |r| r.objects_expired),
    ("retention_bytes_deleted", |r| r.bytes_expired),
    ("damaged", |r| r.damaged),
    ("skipped", |r| r.skipped),
    ("foreign_keys", |r| r.foreign_keys),
    ("unreadable", |r| r.unreadable),
    ("vanished", |r| r.vanished),
    ("out_of_order", |r| r.out_of_order),
    ("lease_prunes_failed", |r| r.lease_prunes_failed),
];

fn latency_histogram() -> Histogram {
    // 1 ms … ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("afterlog");
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            lines_served: Counter::default(),
            bytes_served: Counter::default(),
            objects_read: Counter::default(),
            decode_errors: Family::default(),
            follows_active: Gauge::default(),
            follows_refused: Counter::default(),
            follow_errors: Counter::default(),
            stream_failures: Counter::default(),
            lines_pushed: Counter::default(),
            lines_cut: Counter::default(),
            compactions: Family::default(),
            compacted: Family::default(),
            statuses: Default::default(),
            status_reads: Family::default(),
            status_write_errors: Family::default(),
            deletions: Family::default(),
            deletion_lines: Counter::default(),
            deletion_bytes: Counter::default(),
            store: StoreRequests::default(),
            admission: Default::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by route",
            m.latency.clone(),
        );
        registry.register(
            "lines_served",
            "Log lines sent to clients",
            m.lines_served.clone(),
        );
        registry.register(
            "bytes_served",
            "Log bytes sent to clients",
            m.bytes_served.clone(),
        );
        registry.register(
            "objects_read",
            "Stored objects fetched for reads",
            m.objects_read.clone(),
        );
        registry.register(
            "decode_errors",
            "Damaged stored data skipped while reading, by kind",
            m.decode_errors.clone(),
        );
        registry.register(
            "follows_active",
            "Clients following a job's log",
            m.follows_active.clone(),
        );
        registry.register(
            "follows_refused",
            "Follow requests refused because too many were open",
            m.follows_refused.clone(),
        );
        registry.register(
            "follow_errors",
            "Store failures while following (listing or reading new objects); the follow retries",
            m.follow_errors.clone(),
        );
        registry.register(
            "stream_failures",
            "Streamed reads broken off by a store failure (the client sees the body fail)",
            m.stream_failures.clone(),
        );
        registry.register(
            "lines_pushed",
            "Log lines pushed through the API",
            m.lines_pushed.clone(),
        );
        registry.register(
            "lines_cut",
            "Pushed lines longer than the line limit, stored cut",
            m.lines_cut.clone(),
        );
        registry.register(
            "compaction_passes",
            "Compaction passes by result",
            m.compactions.clone(),
        );
        registry.register(
            "compaction",
            "What compaction and retention did, by kind (objects and bytes)",
            m.compacted.clone(),
        );
        registry.register(
            "compaction_status_reads",
            "Reads of each class's compaction status object by result (ok, missing: no pass wrote one yet, error)",
            m.status_reads.clone(),
        );
        registry.register(
            "compaction_status_write_errors",
            "Passes of the service's own compactor whose status object could not be written",
            m.status_write_errors.clone(),
        );
        // `compaction_last_*`, from the status objects.
        registry.register_collector(Box::new(m.statuses.clone()));
        registry.register(
            "deletion_requests",
            "Deletion requests by result (created, cancelled, refused: a caller --delete-by leaves out, or a cancel too late)",
            m.deletions.clone(),
        );
        registry.register(
            "deletion_requested_lines",
            "Lines the deletion requests created selected when they were made",
            m.deletion_lines.clone(),
        );
        registry.register(
            "deletion_requested_bytes",
            "Bytes of text of the lines the deletion requests created selected",
            m.deletion_bytes.clone(),
        );
        let a = &m.admission;
        registry.register(
            "admission_budget_mib",
            "The memory budget heavy requests share, MiB",
            a.budget_mib.clone(),
        );
        registry.register(
            "admission_in_use_mib",
            "MiB of the memory budget held by running heavy requests",
            a.in_use_mib.clone(),
        );
        registry.register(
            "admission_running",
            "Heavy requests (full reads, large tails, follows, compaction passes) running",
            a.running.clone(),
        );
        registry.register(
            "admission_queued",
            "Heavy requests waiting for their share of the memory budget",
            a.queued.clone(),
        );
        registry.register(
            "admission_refused",
            "Heavy requests refused with 429, by reason (caller: the caller's limit; budget: no share in time)",
            a.refused.clone(),
        );
        // `store_requests{op}` and `store_bytes_fetched`.
        registry.register_collector(Box::new(m.store.clone()));
        Metrics { registry, ..m }
    }

    /// Exports the object store requests counted in `counters`: those of
    /// the stores the service reads, [`crate::classes::ClassStores::counters`]
    /// (done by [`crate::serve::Server::bind`]). Once: `false`, and nothing
    /// changed, if other counters are exported already.
    pub fn count_store(&self, counters: Arc<Counters>) -> bool {
        let set = self.store.0.get_or_init(|| counters.clone());
        Arc::ptr_eq(set, &counters)
    }

    /// The object store requests exported, once [`Metrics::count_store`]
    /// gave them.
    pub fn store(&self) -> Option<&Arc<Counters>> {
        self.store.0.get()
    }

    /// Counts what a compaction pass over class `class`'s store did.
    pub fn compaction(&self, class: &str, r: &afterlog_compactor::Report) {
        add_nonzero(
            &self.compacted,
            COMPACTED.map(|(what, count)| {
                let class = class.to_string();
                (CompactLabels { class, what }, count(r))
            }),
        );
    }

    /// Counts a read of class `class`'s compaction status by its result.
    pub fn compaction_status_read(&self, class: &str, result: &'static str) {
        let class = class.to_string();
        self.status_reads
            .get_or_create(&ResultLabels { class, result })
            .inc();
    }

    /// Counts a compaction pass over class `class`'s store by its result.
    pub fn compaction_pass(&self, class: &str, result: &'static str) {
        let class = class.to_string();
        self.compactions
            .get_or_create(&ResultLabels { class, result })
            .inc();
    }

    /// Counts what one read found.
    pub fn read(&self, s: &ReadStats) {
        self.objects_read.inc_by(s.objects_read);
        let kinds = [
            ("line", s.bad_lines),
            ("object", s.bad_objects),
            ("vanished", s.vanished),
            ("disorder", s.out_of_order),
            ("foreign_key", s.foreign_keys),
            ("unreadable", s.unreadable),
        ];
        add_nonzero(
            &self.decode_errors,
            kinds.map(|(kind, n)| (ErrorLabels { kind }, n)),
        );
    }

    /// Counts a deletion request's `result`.
    pub fn deletion(&self, result: &'static str) {
        self.deletions
            .get_or_create(&DeletionLabels { result })
            .inc();
    }

    /// Counts what a deletion request created selected.
    pub fn deletion_requested(&self, lines: u64, bytes: u64) {
        self.deletion_lines.inc_by(lines);
        self.deletion_bytes.inc_by(bytes);
    }

    pub fn served(&self, lines: u64, bytes: u64) {
        self.lines_served.inc_by(lines);
        self.bytes_served.inc_by(bytes);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

/// Adds each non-zero count to its labels' counter: a series appears once
/// something happened.
fn add_nonzero<L>(family: &Family<L, Counter>, counts: impl IntoIterator<Item = (L, u64)>)
where
    L: Clone + std::hash::Hash + Eq,
{
    for (labels, n) in counts {
        if n > 0 {
            family.get_or_create(&labels).inc_by(n);
        }
    }
}

/// Middleware: counts each request by its route template and status.
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    m.latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: res.status().as_u16(),
        })
        .inc();
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use afterlog_reader::counting::Op;

    #[test]
    fn exports_the_store_requests_once_given() {
        let m = Metrics::new();
        assert!(!m.render().contains("afterlog_store_"), "{}", m.render());
        let counters = Counters::new();
        assert!(m.count_store(counters.clone()));
        assert!(m.count_store(counters.clone()), "the same again");
        assert!(!m.count_store(Counters::new()), "others refused");
        counters.add(Op::Get, 3);
        counters.add(Op::ListWithDelimiter, 1);
        counters.add_fetched(1234);
        let text = m.render();
        for line in [
            "# TYPE afterlog_store_requests counter",
            "afterlog_store_requests_total{op=\"get\"} 3",
            "afterlog_store_requests_total{op=\"get_range\"} 0",
            "afterlog_store_requests_total{op=\"list_with_delimiter\"} 1",
            "afterlog_store_requests_total{op=\"copy\"} 0",
            "# TYPE afterlog_store_bytes_fetched counter",
            "afterlog_store_bytes_fetched_total 1234",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}: {text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
