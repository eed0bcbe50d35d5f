//! A store that hangs, resets or crawls, through a proxy in front of a real
//! S3 server (`s3s-fs` on 127.0.0.1): every request ends within its time
//! limit and retries, what can be retried is, and what comes back is whole.
//!
//! Time limits are short (1 s per attempt, 2 retries) so that each case
//! takes seconds; each case starts a new client, so that a fault set before
//! its first request meets every connection it opens.

use afterlog_contract::layout::Origin;
use afterlog_reader::counting::{Counters, Op, RequestCounts, counted};
use afterlog_reader::{JobIndex, Selection, Store, StoreConfig, StoreError, open, read_job};
use afterlog_testkit::{Fault, FaultyProxy, KEY, S3Server, SECRET, gz};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const TOOL: &str = "foo";
const JOB: &str = "my.job";
const SECS: u64 = 1_795_618_800;
const T0: u64 = SECS * 1_000_000_000;

const TIMEOUT: Duration = Duration::from_secs(1);
const RETRIES: usize = 2;
/// Backoff before the retries: at most 0.1 s, then 0.2 s.
const BACKOFF_MAX: Duration = Duration::from_millis(300);
/// What a loaded CI machine may add to a case's expected time.
const SLACK: Duration = Duration::from_secs(3);

/// A stored line as the filter writes it; `t` is ns after `T0`.
fn line(pod: &str, t: u64, log: &str) -> String {
    let o = origin(pod);
    json!({
        "stream": "stdout", "log": log, "off": t * 100, "ts": T0 + t,
        "afterlog": {
            "tool": TOOL, "job": JOB, "kind": "job", "namespace": "tool-foo",
            "pod": pod, "container": "job", "container_id": format!("cid-{pod}"),
            "node": "node-1", "route": o.route(),
        }
    })
    .to_string()
}

fn origin(pod: &str) -> Origin {
    Origin {
        tool: TOOL.into(),
        job: JOB.into(),
        pod: pod.into(),
        container: "job".into(),
    }
}

/// Text gzip cannot shrink much, so that objects are large on the wire.
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"0123456789abcdef"[(x % 16) as usize])
        })
        .collect()
}

/// An S3 server holding a job of two runs, one with a large object.
struct Env {
    _server: S3Server,
    target: SocketAddr,
    /// The job's records as `(ts, log)`, in order.
    want: Vec<(u64, String)>,
    /// The large object's key and body.
    big_key: String,
    big: Vec<u8>,
}

fn config(endpoint: String, timeout: Duration) -> StoreConfig {
    StoreConfig {
        endpoint: Some(endpoint),
        allow_http: true,
        access_key_id: Some(KEY.into()),
        secret_access_key: Some(SECRET.into()),
        timeout: Some(timeout),
        retries: Some(RETRIES),
        ..StoreConfig::new("s3://afterlog/faults")
    }
}

async fn env() -> Env {
    let server = S3Server::start(&["afterlog"]);
    let target = SocketAddr::from(([127, 0, 0, 1], server.port));
    let direct = open(&config(server.endpoint(), Duration::from_secs(30))).unwrap();
    let mut want = Vec::new();
    let mut big_lines = Vec::new();
    for i in 0..600 {
        let log = format!("a{i} {}", noise(i, 100));
        big_lines.push(line("run-a", 2 * i, &log));
        want.push((T0 + 2 * i, log));
    }
    let mut small_lines = Vec::new();
    for i in 0..20 {
        let log = format!("b{i}");
        small_lines.push(line("run-b", 2 * i + 1, &log));
        want.push((T0 + 2 * i + 1, log));
    }
    want.sort();
    let big_key = origin("run-a").raw_key(SECS as i64, "Big");
    let big = gz(&big_lines);
    put(&direct, &big_key, big.clone()).await;
    let small_key = origin("run-b").raw_key(SECS as i64, "Small");
    put(&direct, &small_key, gz(&small_lines)).await;
    Env {
        _server: server,
        target,
        want,
        big_key,
        big,
    }
}

async fn put(store: &Store, key: &str, body: Vec<u8>) {
    store
        .put(&Path::from(key), PutPayload::from(body))
        .await
        .unwrap_or_else(|e| panic!("PUT {key}: {e}"));
}

/// A new client through `proxy`: no pooled connections yet.
fn through(proxy: &FaultyProxy, timeout: Duration) -> Store {
    open(&config(proxy.endpoint(), timeout)).unwrap()
}

/// `f`, which must end on its own: a case that hangs fails instead.
async fn bounded<T>(f: impl Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(25), f)
        .await
        .expect("the store call ended on its own");
    (out, start.elapsed())
}

async fn read_all(store: Store) -> Result<Vec<(u64, String)>, StoreError> {
    let got = read_job(store, TOOL, JOB, Selection::default()).await?;
    assert!(got.warnings.is_empty(), "{:#?}", got.warnings);
    Ok(got
        .records
        .iter()
        .map(|r| (r.ts, r.log().into_owned()))
        .collect())
}

/// The job's log, whole and in order (not hundreds of lines in a failure).
fn assert_log(got: Result<Vec<(u64, String)>, StoreError>, want: &[(u64, String)], case: &str) {
    let got = got.unwrap_or_else(|e| panic!("{case}: {e}"));
    let first_wrong = got.iter().zip(want).position(|(g, w)| g != w);
    assert!(
        got.len() == want.len() && first_wrong.is_none(),
        "{case}: {} records, not {}; first differing at {first_wrong:?}",
        got.len(),
        want.len()
    );
}

/// The object, each byte once (not tens of KiB of gzip in a failure).
fn assert_whole(got: object_store::Result<bytes::Bytes>, want: &[u8]) {
    let got = got.expect("the object");
    assert!(
        got == want,
        "got {} bytes, not the {} stored",
        got.len(),
        want.len()
    );
}

/// Every attempt waits out its time limit: `RETRIES + 1` of them.
fn assert_gave_up_in_time(elapsed: Duration) {
    let attempts = (RETRIES + 1) as u32;
    assert!(
        elapsed >= TIMEOUT * attempts,
        "gave up after {elapsed:?}, before {attempts} attempts of {TIMEOUT:?}"
    );
    assert!(
        elapsed < TIMEOUT * attempts + BACKOFF_MAX + SLACK,
        "took {elapsed:?}"
    );
}

#[tokio::test]
async fn a_store_that_never_answers_fails_the_read_in_time() {
    let e = env().await;
    let proxy = FaultyProxy::start(e.target);
    proxy.set(Fault::Stall);
    let store = through(&proxy, TIMEOUT);
    let (got, elapsed) = bounded(JobIndex::load(store.as_ref(), TOOL, JOB)).await;
    match got {
        Err(StoreError::ObjectStore(err)) => {
            // object_store's HttpErrorKind, deep in the error.
            let msg = format!("{err:?}");
            assert!(msg.contains("kind: Timeout"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    assert_gave_up_in_time(elapsed);
    // The first attempt and each retry on a connection of its own: the
    // one that timed out is not reused. A load asks two things at once:
    // the manifest and the job's deletion requests.
    assert_eq!(proxy.connections(), LOAD_REQUESTS * (RETRIES + 1));
}

#[tokio::test]
async fn a_body_that_stops_midway_is_resumed_or_fails_in_time() {
    let e = env().await;
    let proxy = FaultyProxy::start(e.target);
    let key = Path::from(e.big_key.as_str());
    let size = e.big.len() as u64;
    assert!(size > 30_000, "large enough to stop midway: {size}");

    // The answer's headers and part of its body arrive, then nothing:
    // the time limit covers the body too, and object_store asks for the
    // rest with a range GET, on a new connection.
    proxy.set_for(Fault::StallAfter { bytes: 20_000 }, 1);
    let counters = Counters::new();
    let store = counted(through(&proxy, TIMEOUT), counters.clone());
    let (body, elapsed) = bounded(async {
        let r = store.get(&key).await.expect("the answer's headers arrive");
        r.bytes().await
    })
    .await;
    assert_whole(body, &e.big);
    assert!(elapsed >= TIMEOUT, "{elapsed:?}");
    assert!(elapsed < TIMEOUT * 2 + SLACK, "{elapsed:?}");
    assert_eq!(proxy.connections(), 2);
    // One call, however many requests object_store made for it.
    let n = counters.snapshot();
    assert_eq!((n.get, n.total(), n.bytes_fetched), (1, 1, size), "{n:?}");

    // A body that stops every time: the GET itself answered, its body
    // fails after the attempts it is allowed.
    proxy.set(Fault::StallAfter { bytes: 4096 });
    let counters = Counters::new();
    let store = counted(through(&proxy, TIMEOUT), counters.clone());
    let before = proxy.connections();
    let (body, elapsed) = bounded(async {
        let r = store.get(&key).await.expect("the answer's headers arrive");
        r.bytes().await
    })
    .await;
    let err = match body {
        Ok(b) => panic!("a body that never ends is an error, not {} bytes", b.len()),
        Err(err) => err,
    };
    assert!(
        matches!(err, object_store::Error::Generic { .. }),
        "{err:?}"
    );
    assert_gave_up_in_time(elapsed);
    assert_eq!(proxy.connections() - before, RETRIES + 1);
    let n = counters.snapshot();
    assert_eq!((n.get, n.total()), (1, 1), "{n:?}");
    assert!(n.bytes_fetched > 0 && n.bytes_fetched < size, "{n:?}");
}

#[tokio::test]
async fn resets_are_retried_until_the_retries_run_out() {
    let e = env().await;
    let proxy = FaultyProxy::start(e.target);

    // The server recovers after one connection: the read is whole.
    for fault in [Fault::Reset, Fault::ResetAfterRequest] {
        proxy.set_for(fault, 1);
        let before = proxy.connections();
        let (got, elapsed) = bounded(read_all(through(&proxy, TIMEOUT))).await;
        assert_log(got, &e.want, &format!("{fault:?}"));
        assert!(proxy.connections() - before >= 2, "{fault:?}");
        assert!(elapsed < TIMEOUT + SLACK, "{fault:?}: {elapsed:?}");
    }

    // As many resets as there are retries: the last attempt gets through.
    proxy.set_for(Fault::ResetAfterRequest, RETRIES);
    let (got, _) = bounded(read_all(through(&proxy, TIMEOUT))).await;
    assert_log(got, &e.want, "resets as many as the retries");

    // A server that resets every connection: an error once the retries
    // are spent, at once (resets need no waiting out).
    for fault in [Fault::Reset, Fault::ResetAfterRequest] {
        proxy.set(fault);
        let before = proxy.connections();
        let store = through(&proxy, TIMEOUT);
        let (got, elapsed) = bounded(JobIndex::load(store.as_ref(), TOOL, JOB)).await;
        assert!(
            matches!(got, Err(StoreError::ObjectStore(_))),
            "{fault:?}: {got:?}"
        );
        assert_eq!(
            proxy.connections() - before,
            LOAD_REQUESTS * (RETRIES + 1),
            "{fault:?}"
        );
        assert!(elapsed < TIMEOUT + SLACK, "{fault:?}: {elapsed:?}");
    }
}

/// What a job's load asks first, at once: its manifest and the listing of
/// its deletion requests.
const LOAD_REQUESTS: usize = 2;

#[tokio::test]
async fn a_slow_store_still_gives_the_whole_log() {
    let e = env().await;
    let proxy = FaultyProxy::start(e.target);
    let size = e.big.len() as u64;

    // Slow, yet each answer within its time limit: about 1 s for the large
    // object, with 5 s allowed.
    let rate = size;
    proxy.set(Fault::Slow {
        bytes_per_sec: rate,
    });
    let (got, elapsed) = bounded(read_all(through(&proxy, Duration::from_secs(5)))).await;
    assert_log(got, &e.want, "slow");
    assert!(
        elapsed >= Duration::from_millis(900),
        "the answers were slowed: {elapsed:?}"
    );

    // Slower than the time limit allows for the large object (about 1.3 s
    // of 1 s): its body is cut at the limit and the rest fetched with a
    // range GET, in time — still whole, each byte once.
    proxy.set(Fault::Slow {
        bytes_per_sec: size * 3 / 4,
    });
    let counters = Counters::new();
    let store = counted(through(&proxy, TIMEOUT), counters.clone());
    let key = Path::from(e.big_key.as_str());
    let before = proxy.connections();
    let (body, elapsed) = bounded(async { store.get(&key).await?.bytes().await }).await;
    assert_whole(body, &e.big);
    assert_eq!(proxy.connections() - before, 2);
    assert!(elapsed < TIMEOUT * 2 + SLACK, "{elapsed:?}");
    assert_eq!(counters.snapshot().bytes_fetched, size);
}

#[tokio::test]
async fn requests_are_counted_once_whatever_is_retried() {
    let e = env().await;
    let proxy = FaultyProxy::start(e.target);

    let read = |reset_first: usize| {
        let counters = Counters::new();
        let store = counted(through(&proxy, TIMEOUT), counters.clone());
        proxy.set_for(Fault::ResetAfterRequest, reset_first);
        let before = proxy.connections();
        let proxy = &proxy;
        let want = &e.want;
        async move {
            let (got, _) = bounded(read_all(store)).await;
            assert_log(got, want, &format!("{reset_first} resets"));
            (counters.snapshot(), proxy.connections() - before)
        }
    };
    let (clean, clean_conns) = read(0).await;
    let (retried, retried_conns) = read(RETRIES).await;
    assert!(clean.total() > 0, "{clean}");
    // The same calls, the same bytes: a retry is object_store's, inside
    // one call, and no second count.
    assert_eq!(retried, clean, "{retried} vs {clean}");
    assert!(
        retried_conns > RETRIES && clean_conns >= 1,
        "{retried_conns} connections vs {clean_conns}"
    );

    // A call that fails is counted once too.
    proxy.set(Fault::Reset);
    let counters = Counters::new();
    let store = counted(through(&proxy, TIMEOUT), counters.clone());
    let (got, _) = bounded(store.head(&Path::from(e.big_key.as_str()))).await;
    assert!(got.is_err());
    assert_eq!(
        counters.snapshot(),
        RequestCounts {
            head: 1,
            ..RequestCounts::default()
        }
    );
    // ...and counted as a failure; the retried reads that succeeded are not.
    assert_eq!(counters.failures(Op::Head), 1);
    assert!(
        Op::ALL
            .iter()
            .all(|&op| op == Op::Head || counters.failures(op) == 0)
    );
}
