//! A job with Kubernetes events (docs/design.md §13), as the filter stores
//! them: the API's, the CLI's and the web page's tests read it.

use super::{k8s_event, origin, record, upload};
use afterlog_reader::Store;

const SEC: u64 = 1_000_000_000;

pub const BACKOFF: (&str, &str, &str) = (
    "Warning",
    "BackOff",
    "Back-off restarting failed container job in pod evjob-1",
);
const NOT_SCHEDULED: (&str, &str, &str) = (
    "Warning",
    "FailedScheduling",
    "0/3 nodes are available: 3 Insufficient memory.",
);

/// Job `evjob` of tool `foo`: run `evjob-1` logs and is backed off (its events uploaded
/// twice, in other orders, as a re-list does), run `evjob-2` is never
/// scheduled (events only), and an event about the Job itself.
pub async fn events_job(store: &Store) {
    let job = origin("foo", "evjob", "evjob-1", "job");
    let lines = [
        record(&job, SEC, 1, "stdout", "starting"),
        record(&job, 2 * SEC, 2, "stderr", "crash"),
        record(&job, 40 * SEC, 3, "stdout", "starting again"),
    ];
    upload(store, &job, 0, "c1", &lines).await;
    let ev = origin("foo", "evjob", "evjob-1", "@events");
    let first = k8s_event(&ev, "e-1", 10 * SEC, 1, BACKOFF);
    let third = k8s_event(&ev, "e-1", 50 * SEC, 3, BACKOFF);
    upload(store, &ev, 50, "e1", &[third.clone(), first.clone()]).await;
    upload(store, &ev, 60, "e1-relist", &[first, third]).await;
    let pending = origin("foo", "evjob", "evjob-2", "@events");
    let sched = k8s_event(&pending, "e-2", 100 * SEC, 1, NOT_SCHEDULED);
    upload(store, &pending, 100, "e2", &[sched]).await;
    let above = origin("foo", "evjob", "@events", "@events");
    let created = k8s_event(
        &above,
        "e-3",
        30 * SEC,
        1,
        ("Normal", "SuccessfulCreate", "Created pod: evjob-2"),
    );
    upload(store, &above, 30, "e3", &[created]).await;
}

pub const EVENTS_JOB: [&str; 7] = [
    "starting",
    "crash",
    "Warning BackOff: Back-off restarting failed container job in pod evjob-1",
    "Normal SuccessfulCreate: Created pod: evjob-2",
    "starting again",
    "Warning BackOff (3×): Back-off restarting failed container job in pod evjob-1",
    "Warning FailedScheduling: 0/3 nodes are available: 3 Insufficient memory.",
];
