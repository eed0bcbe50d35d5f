//! After the stored log, a follow polls every class's store for new raw
//! objects and sends their records until the client goes away, the follow
//! times out or the service shuts down.

use super::request::LogsRequest;
use super::sink::{Sent, Sink};
use crate::api::state::{AppState, until_draining};
use crate::classes::StoreId;
use afterlog_contract::query::Format;
use afterlog_reader::job::{JobIndex, Listed, ReadStats, job_hidden, list_raw};
use afterlog_reader::{JobReader, Limit, Selection};
use std::collections::HashSet;
use std::time::Instant;

/// The line a follow ends with when the service shuts down; the CLI
/// reconnects (through the Service, to another replica) and goes on.
pub const SHUTTING_DOWN: &str = "the service is shutting down; reconnect to go on";

/// What a follow ends with in text when its time is up.
const TIMED_OUT: &[u8] = b"[afterlog] follow ended after its time limit; reconnect to go on\n";

/// A stored object, by store and key.
type ObjectId = (StoreId, String);

/// The raw objects a follow has sent (or found in the job's index).
struct Seen(HashSet<ObjectId>);

impl Seen {
    /// Raw objects the job's index holds (consumed, not deleted yet) are
    /// not new either.
    fn of(index: &JobIndex) -> Seen {
        let listed = index
            .objects
            .iter()
            .map(|l| (StoreId(l.store), l.key.clone()));
        let consumed = index.manifests.iter().enumerate().flat_map(|(i, m)| {
            m.iter()
                .flat_map(move |m| m.consumed.iter().map(move |c| (StoreId(i), c.key.clone())))
        });
        Seen(listed.chain(consumed).collect())
    }

    /// Whether `l` is new, marking it seen.
    fn first_time(&mut self, l: &Listed) -> bool {
        self.0.insert((StoreId(l.store), l.key.clone()))
    }

    /// Not seen after all: the next poll reads them again.
    fn forget(&mut self, new: &[Listed]) {
        for l in new {
            self.0.remove(&(StoreId(l.store), l.key.clone()));
        }
    }
}

/// Whether a listed object's origin is one the request selects.
fn selected(filter: &Selection, l: &Listed) -> bool {
    let o = &l.parsed.origin;
    (filter.pods.is_empty() || filter.pods.contains(&o.pod))
        && filter.container.as_ref().is_none_or(|c| *c == o.container)
        && filter.takes_container(&o.container)
}

/// A store failure during a follow: counted, logged, told to the client;
/// the next poll tries again.
fn trouble(
    app: &AppState,
    index: &JobIndex,
    out: &mut Sink,
    doing: &str,
    e: &dyn std::fmt::Display,
) {
    app.metrics.follow_errors.inc();
    tracing::warn!(tool = %index.tool, job = %index.job, error = %e, "follow: {doing} failed");
    out.warnings(&[format!("{doing} new objects failed ({e}); trying again")]);
}

/// Sends the records of `new` that are newer than what each container
/// instance already sent.
async fn send_new(
    app: &AppState,
    index: &JobIndex,
    req: &LogsRequest,
    out: &mut Sink,
    new: &[Listed],
    sent: &mut Sent,
) -> Result<(), ()> {
    // Requests made since the follow began hide their lines from now on.
    let (mut warnings, mut stats) = (Vec::new(), ReadStats::default());
    let hidden = match job_hidden(
        app.classes.stores(),
        &index.tool,
        &index.job,
        &mut warnings,
        &mut stats,
    )
    .await
    {
        Ok(h) => h,
        Err(e) => {
            trouble(app, index, out, "listing deletion requests of", &e);
            return Err(());
        }
    };
    app.metrics.read(&stats);
    out.warnings(&warnings);
    let filter = Selection {
        limit: Limit::All,
        after: None,
        before: None,
        hidden: req.filter.hidden.with(&hidden),
        ..req.filter.clone()
    };
    let mut rd = JobReader::over(app.classes.stores().clone(), new, filter);
    let result = loop {
        match rd.next().await {
            Ok(Some(r)) if sent.is_new(&r) => {
                out.record(&r);
                sent.note(&r);
            }
            Ok(Some(_)) => {}
            Ok(None) => break Ok(()),
            Err(e) => {
                trouble(app, index, out, "reading", &e);
                break Err(());
            }
        }
    };
    app.metrics.read(&rd.stats);
    out.warnings(&rd.warnings);
    result
}

/// Polls for new raw objects and sends their records (read through the
/// reader's merge: ordered, deduplicated, damage counted), newer than what
/// each container instance already sent.
pub async fn follow(
    app: &AppState,
    index: &JobIndex,
    req: &LogsRequest,
    mut out: Sink,
    mut sent: Sent,
) {
    let s = &app.settings;
    let mut seen = Seen::of(index);
    let start = Instant::now();
    let mut last_send = Instant::now();
    let mut draining = app.draining.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(s.follow_poll) => {}
            _ = out.closed() => return,
            () = until_draining(&mut draining) => {
                out.notice(SHUTTING_DOWN);
                let _ = out.flush(true).await;
                return;
            }
        }
        if start.elapsed() >= s.follow_timeout {
            if out.format == Format::Text {
                out.raw(TIMED_OUT);
            }
            let _ = out.flush(true).await;
            return;
        }
        let listed = match list_raw(app.classes.stores(), &index.tool, &index.job).await {
            Ok((listed, warnings, stats)) => {
                app.metrics.read(&stats);
                out.warnings(&warnings);
                listed
            }
            Err(e) => {
                trouble(app, index, &mut out, "listing", &e);
                Vec::new()
            }
        };
        let new: Vec<Listed> = listed
            .into_iter()
            .filter(|l| seen.first_time(l) && selected(&req.filter, l))
            .collect();
        if !new.is_empty()
            && send_new(app, index, req, &mut out, &new, &mut sent)
                .await
                .is_err()
        {
            seen.forget(&new);
        }
        out.count_served(&app.metrics);
        if out.is_empty() && last_send.elapsed() >= s.follow_heartbeat {
            out.raw(b"\n");
        }
        if !out.is_empty() {
            last_send = Instant::now();
            if out.flush(true).await.is_err() {
                return;
            }
        }
    }
}
