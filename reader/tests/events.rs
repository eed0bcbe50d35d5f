//! Kubernetes events in a job's log (docs/design.md §13): uploads in list
//! and watch order placed so that tails and windows still find every
//! event, the same occurrence uploaded again kept once, and `events=`
//! selecting them or the container lines without opening the others.

use afterlog_contract::layout::Origin;
use afterlog_reader::job::{EVENTS_BACK_NS, FirstTimes, Stores};
use afterlog_reader::{
    Events, JobIndex, Limit, LogRecord, Selection, Store, TextStyle, read_job, read_tail,
};
use afterlog_testkit::gz;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::json;
use std::sync::Arc;

const SEC: u64 = 1_000_000_000;
const MIN: u64 = 60 * SEC;

fn origin(pod: &str, container: &str) -> Origin {
    Origin {
        tool: "t".into(),
        job: "j".into(),
        pod: pod.into(),
        container: container.into(),
    }
}

/// A container's line, as the filter stores it.
fn line(pod: &str, ts: u64, off: u64) -> String {
    json!({"stream": "stdout", "log": format!("line {off}"), "off": off, "ts": ts,
        "afterlog": {"tool": "t", "job": "j", "kind": "cronjob", "namespace": "tool-t",
            "pod": pod, "container": "job", "container_id": format!("cid-{pod}"), "node": "n1",
            "route": format!("default.t.j.{pod}.job"), "class": "default"}})
    .to_string()
}

/// An event as the filter stores it: identity `(uid, ts, count, "event")`.
fn event(pod: &str, uid: &str, ts: u64, count: u64, kind: &str, reason: &str, msg: &str) -> String {
    let times = if count > 1 {
        format!(" ({count}×)")
    } else {
        String::new()
    };
    json!({"stream": "event", "log": format!("{kind} {reason}{times}: {msg}"), "off": count, "ts": ts,
        "k8s_event": {"type": kind, "reason": reason, "message": msg, "count": count,
            "source": "kubelet", "uid": uid,
            "object": {"kind": "Pod", "name": pod, "namespace": "tool-t", "uid": "p-uid"}},
        "afterlog": {"tool": "t", "job": "j", "kind": "cronjob", "namespace": "tool-t",
            "pod": pod, "container": "@events", "container_id": uid, "node": "n1",
            "route": format!("default.t.j.{pod}._40events"), "class": "default"}})
    .to_string()
}

async fn put(store: &Store, o: &Origin, secs: u64, id: &str, lines: &[String]) {
    store
        .put(
            &Path::from(o.raw_key(secs as i64, id)),
            PutPayload::from(gz(lines)),
        )
        .await
        .unwrap();
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Text that does not compress: an upload of many events is then larger
/// than the 16 KiB a head read fetches.
fn noise(seed: u64) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..48)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// A job of three hours: a container uploading every ten minutes, and two
/// uploads of events whose first record is their latest — one small (its
/// head read holds it whole), one large (it does not).
async fn job_with_late_listed_events(store: &Store) -> u64 {
    let base = (now_ns() - 3 * 60 * MIN) / SEC * SEC;
    let c = origin("p-1", "job");
    let mut off = 0;
    for u in 0..18u64 {
        let lines: Vec<String> = (0..20)
            .map(|i| {
                off += 1;
                line("p-1", base + u * 10 * MIN + i * 30 * SEC, off)
            })
            .collect();
        put(
            store,
            &c,
            (base + u * 10 * MIN) / SEC,
            &format!("u{u}"),
            &lines,
        )
        .await;
    }
    let e = origin("p-1", "@events");
    // Small: first listed at 175 min, then older ones from 120 min on.
    let mut small = vec![event(
        "p-1",
        "e-late",
        base + 175 * MIN,
        1,
        "Normal",
        "Killing",
        "stopping",
    )];
    small.extend((0..5).map(|i| {
        event(
            "p-1",
            &format!("e-s{i}"),
            base + (120 + 9 * i) * MIN + 7,
            1,
            "Warning",
            "BackOff",
            "back-off",
        )
    }));
    put(store, &e, (base + 175 * MIN) / SEC, "small", &small).await;
    // Large: first listed at 170 min, then 400 older ones, not in order.
    let mut large = vec![event(
        "p-1",
        "e-first",
        base + 170 * MIN,
        2,
        "Warning",
        "Unhealthy",
        "probe",
    )];
    large.extend((0..400u64).map(|i| {
        let at = base + 100 * MIN + ((i * 7919) % 400) * 9 * SEC + 3;
        event(
            "p-1",
            &format!("e-l{i}"),
            at,
            1,
            "Warning",
            "FailedMount",
            &noise(i),
        )
    }));
    put(store, &e, (base + 170 * MIN) / SEC, "large", &large).await;
    base
}

fn keys(v: &[LogRecord]) -> Vec<(u64, String, Option<u64>)> {
    v.iter()
        .map(|r| (r.ts, r.container_id.clone(), r.off))
        .collect()
}

#[tokio::test]
async fn event_uploads_are_placed_by_their_earliest_record() {
    let store: Store = Arc::new(InMemory::new());
    let base = job_with_late_listed_events(&store).await;
    let stores = Stores::from(store.clone());
    let index = JobIndex::load_all(&stores, "t", "j", &FirstTimes::default())
        .await
        .unwrap();
    let plan = index.plan(&Selection::default());
    let lower = |id: &str| {
        plan.objects
            .iter()
            .find(|p| p.key.ends_with(&format!("-{id}.gz")))
            .map(|p| (p.lower, p.upper.is_some()))
            .unwrap()
    };
    // Read whole by its head: its earliest record.
    assert_eq!(lower("small"), (base + 120 * MIN + 7, true));
    // Too large for the head read: its first record less two hours.
    assert_eq!(lower("large"), (base + 170 * MIN - EVENTS_BACK_NS, true));

    let all = read_job(store.clone(), "t", "j", Selection::default())
        .await
        .unwrap();
    assert_eq!(all.records.len(), 360 + 6 + 401);
    assert!(all.warnings.is_empty(), "{:?}", all.warnings);
    assert_eq!(all.stats.out_of_order, 0);

    // Every tail is the end of the whole log, events included, however
    // few of the newest uploads it first reads.
    for n in [1, 10, 50, 200, 400, 700] {
        let tail = read_tail(stores.clone(), &index, Selection::default(), n)
            .await
            .unwrap();
        let want = &all.records[all.records.len() - n..];
        assert_eq!(keys(&tail.records), keys(want), "tail {n}");
        assert!(tail.warnings.is_empty(), "{:?}", tail.warnings);
    }
    // A window holds every event in it, in order.
    for since in [90, 110, 125, 150, 172] {
        let since = base + since * MIN;
        let got = read_job(
            store.clone(),
            "t",
            "j",
            Selection {
                since: Some(since),
                ..Selection::default()
            },
        )
        .await
        .unwrap();
        let want: Vec<LogRecord> = all
            .records
            .iter()
            .filter(|r| r.ts >= since)
            .cloned()
            .collect();
        assert_eq!(keys(&got.records), keys(&want), "since {since}");
        assert_eq!(got.stats.out_of_order, 0);
    }
    // And a tail of the events alone.
    let only = read_tail(
        stores,
        &index,
        Selection {
            events: Events::Only,
            ..Selection::default()
        },
        300,
    )
    .await
    .unwrap();
    let events: Vec<LogRecord> = all
        .records
        .iter()
        .filter(|r| r.is_k8s_event())
        .cloned()
        .collect();
    assert_eq!(keys(&only.records), keys(&events[events.len() - 300..]));
}

/// A re-list, a restarted collector or a second one upload the same
/// occurrences again, in other orders: each is one line. A new occurrence
/// (the count went up) is a new line.
#[tokio::test]
async fn the_same_occurrence_uploaded_again_is_one_line() {
    let store: Store = Arc::new(InMemory::new());
    let t = (now_ns() - 30 * MIN) / SEC * SEC;
    let pod = "myjob-28889999-abcde";
    let e = origin(pod, "@events");
    let sched = event(
        pod,
        "e-1",
        t,
        1,
        "Warning",
        "FailedScheduling",
        "0/3 nodes are available",
    );
    let again = event(
        pod,
        "e-1",
        t + MIN,
        2,
        "Warning",
        "FailedScheduling",
        "0/3 nodes are available",
    );
    let pulled = event(
        pod,
        "e-2",
        t + 2 * MIN,
        1,
        "Normal",
        "Pulled",
        "image pulled",
    );
    put(
        &store,
        &e,
        t / SEC + 60,
        "a",
        &[again.clone(), sched.clone()],
    )
    .await;
    put(
        &store,
        &e,
        t / SEC + 120,
        "b",
        &[pulled.clone(), sched.clone(), again.clone()],
    )
    .await;
    put(
        &store,
        &e,
        t / SEC + 180,
        "c",
        &[sched.clone(), pulled.clone(), again.clone()],
    )
    .await;
    // An event about the Job itself: filed under the pseudo-pod.
    let above = origin("@events", "@events");
    let job_event = event(
        "@events",
        "e-3",
        t + 3 * MIN,
        1,
        "Normal",
        "SuccessfulCreate",
        "Created pod",
    );
    put(
        &store,
        &above,
        t / SEC + 200,
        "d",
        std::slice::from_ref(&job_event),
    )
    .await;
    put(&store, &above, t / SEC + 210, "e", &[job_event]).await;
    // The pod's container lines.
    put(
        &store,
        &origin(pod, "job"),
        t / SEC + 90,
        "f",
        &[line(pod, t + 90 * SEC, 1)],
    )
    .await;

    let all = read_job(store.clone(), "t", "j", Selection::default())
        .await
        .unwrap();
    let logs: Vec<String> = all.records.iter().map(|r| r.log().into_owned()).collect();
    assert_eq!(
        logs,
        [
            "Warning FailedScheduling: 0/3 nodes are available",
            "Warning FailedScheduling (2×): 0/3 nodes are available",
            "line 1",
            "Normal Pulled: image pulled",
            "Normal SuccessfulCreate: Created pod",
        ]
    );
    assert!(all.warnings.is_empty(), "{:?}", all.warnings);
    // As text: the pod and the events' pseudo-container, nothing else.
    let mut text = String::new();
    let style = TextStyle {
        timestamps: false,
        source: true,
    };
    for r in &all.records {
        r.write_text(&mut text, style);
    }
    assert_eq!(
        text.lines().nth(1),
        Some(
            "[myjob-28889999-abcde/@events] Warning FailedScheduling (2×): 0/3 nodes are available"
        )
    );
    assert_eq!(
        text.lines().nth(4),
        Some("[@events/@events] Normal SuccessfulCreate: Created pod")
    );

    // Events alone: the container's upload is not opened.
    let read = |s: Selection| read_job(store.clone(), "t", "j", s);
    let only = read(Selection {
        events: Events::Only,
        ..Selection::default()
    })
    .await
    .unwrap();
    assert_eq!(only.records.len(), 4);
    assert!(only.records.iter().all(LogRecord::is_k8s_event));
    assert_eq!(only.stats.objects_read, 5);
    // The container lines alone: no upload of events is opened.
    let none = read(Selection {
        events: Events::Omit,
        ..Selection::default()
    })
    .await
    .unwrap();
    assert_eq!(
        keys(&none.records),
        [(t + 90 * SEC, format!("cid-{pod}"), Some(1))]
    );
    assert_eq!(none.stats.objects_read, 1);
    // `stream` selects container lines only.
    let stdout = read(Selection {
        stream: Some("stdout".into()),
        ..Selection::default()
    })
    .await
    .unwrap();
    assert_eq!(stdout.records.len(), 1);
    // A run's events are part of it: the pod's three distinct lines.
    let run = read(Selection {
        pods: vec![pod.into()],
        limit: Limit::Tail(10),
        ..Selection::default()
    })
    .await
    .unwrap();
    assert_eq!(run.records.len(), 4);
}
