//! Fixtures: a scenario of several tools, pods, duplicates and retries in
//! Fluent Bit's layout; a store that crashes at its k-th mutation; a test
//! clock and the compactors that read it.
#![allow(dead_code)]

use afterlog_compactor::{Compactor, Config};
use afterlog_contract::layout::{self, Origin};
use afterlog_reader::Store;
use afterlog_testkit::log_text::{job_ndjson, ndjson};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub use afterlog_testkit::{gz, keys, put};

pub const BASE: u64 = afterlog_testkit::T0;
pub const MIN: u64 = 60_000_000_000;

thread_local! {
    /// The test clock, per test (each runs on its own thread, with a
    /// current-thread runtime): the compactor reads it through a `fn`.
    pub static NOW: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}
pub fn clock() -> u64 {
    NOW.with(|n| n.get())
}
pub fn set_clock(t: u64) {
    NOW.with(|n| n.set(t));
}
pub fn real_now() -> u64 {
    afterlog_compactor::system_clock()
}

/// A compactor of the `default` class's store, on the test clock.
pub fn on_test_clock(store: Store, holder: &str, config: Config) -> Compactor {
    Compactor {
        holder: holder.into(),
        clock,
        ..Compactor::new(store, config)
    }
}

/// Runs `f` to its end on a current-thread runtime: the test clock is the
/// thread's.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn line(o: &Origin, cid: &str, ts: u64, off: u64) -> String {
    json!({
        "ts": ts, "off": off, "stream": if off.is_multiple_of(3) { "stderr" } else { "stdout" },
        "log": format!("{}/{} line {off}", o.pod, o.container),
        "afterlog": {"tool": o.tool, "job": o.job, "kind": "job", "namespace": format!("tool-{}", o.tool),
            "pod": o.pod, "container": o.container, "container_id": cid, "node": "node-1", "route": o.route()}
    })
    .to_string()
}

/// The jobs of the scenario.
pub const JOBS: [(&str, &str); 3] = [("alpha", "batch"), ("alpha", "web"), ("beta", "cron")];

/// Writes the scenario: per job, pods with one or two containers, uploads
/// cut in pieces, a retried upload, equal times across containers, a
/// restart (two instances under one container name).
pub async fn populate(store: &Store) {
    let mut n = 0u64;
    for (ji, (tool, job)) in JOBS.iter().enumerate() {
        for p in 0..2u64 {
            let pod = format!("{job}-{p}");
            for (ci, container) in
                ["main", "side"]
                    .iter()
                    .enumerate()
                    .take(if ji == 1 { 2 } else { 1 })
            {
                let o = Origin {
                    tool: tool.to_string(),
                    job: job.to_string(),
                    pod: pod.clone(),
                    container: container.to_string(),
                };
                let mut recs = Vec::new();
                for i in 0..24u64 {
                    // A restart half-way through the first pod's main container.
                    let cid = if p == 0 && ci == 0 && i >= 12 {
                        format!("{pod}-{ci}-b")
                    } else {
                        format!("{pod}-{ci}-a")
                    };
                    let off = if cid.ends_with("-b") {
                        (i - 12) * 10
                    } else {
                        i * 10
                    };
                    let ts =
                        BASE + p * 3_600_000_000_000 + i * 20_000_000_000 + (i % 2) * ci as u64;
                    recs.push((ts, line(&o, &cid, ts, off)));
                }
                for (u, chunk) in recs.chunks(5).enumerate() {
                    // In file order, as Fluent Bit uploads them; equal times
                    // across containers still need the merge's order.
                    let lines: Vec<String> = chunk.iter().map(|(_, l)| l.clone()).collect();
                    let key = o.raw_key((chunk[0].0 / 1_000_000_000) as i64, &format!("U{n:07}"));
                    n += 1;
                    put(store, &key, gz(&lines)).await;
                    if u == 1 {
                        // A retried upload: same lines, new key.
                        let key =
                            o.raw_key((chunk[0].0 / 1_000_000_000) as i64, &format!("R{n:07}"));
                        put(store, &key, gz(&lines)).await;
                    }
                }
            }
        }
    }
}

/// Uploads that arrive after a first compaction: a new run of beta's cron
/// job, and a retried upload of one of its first run's (same lines, new key).
pub async fn populate_late(store: &Store) {
    let o = Origin {
        tool: "beta".into(),
        job: "cron".into(),
        pod: "cron-2".into(),
        container: "main".into(),
    };
    let recs: Vec<(u64, String)> = (0..12u64)
        .map(|i| {
            let ts = BASE + 2 * 3_600_000_000_000 + i * 20_000_000_000;
            (ts, line(&o, "cron-2-0-a", ts, i * 10))
        })
        .collect();
    for (u, chunk) in recs.chunks(5).enumerate() {
        let lines: Vec<String> = chunk.iter().map(|(_, l)| l.clone()).collect();
        let key = o.raw_key((chunk[0].0 / 1_000_000_000) as i64, &format!("L{u:07}"));
        put(store, &key, gz(&lines)).await;
    }
    let first = Origin {
        pod: "cron-0".into(),
        ..o
    };
    let lines: Vec<String> = (0..5u64)
        .map(|i| {
            line(
                &first,
                "cron-0-0-b",
                BASE + 240_000_000_000 + i * 20_000_000_000,
                i * 10,
            )
        })
        .collect();
    let key = first.raw_key((BASE / 1_000_000_000) as i64 + 240, "LATERETRY");
    put(store, &key, gz(&lines)).await;
}

/// Every job's log as the reader serves it (NDJSON of the stored lines),
/// then its last 7 lines and its lines from half an hour in, each read
/// from only the part of the job's index that read needs.
pub async fn outputs(store: &Store) -> Vec<String> {
    use afterlog_reader::index::Scope;
    use afterlog_reader::job::{FirstTimes, JobIndex, Stores};
    let mut out = Vec::new();
    for (tool, job) in JOBS {
        let mut s = job_ndjson(store, tool, job).await;
        let stores = Stores::from(store.clone());
        let tail_scope = Scope {
            newest_lines: Some(7),
            ..Scope::ALL
        };
        let ix = JobIndex::load_scoped(&stores, tool, job, &FirstTimes::default(), tail_scope)
            .await
            .unwrap();
        let tail = afterlog_reader::read_tail(stores.clone(), &ix, Default::default(), 7)
            .await
            .unwrap();
        s.push_str("-- tail 7\n");
        s.push_str(&ndjson(&tail.records));
        let since = afterlog_reader::Selection {
            since: Some(BASE + 1_800_000_000_000),
            ..Default::default()
        };
        let ix = JobIndex::load_scoped(
            &stores,
            tool,
            job,
            &FirstTimes::default(),
            Scope::of_selection(&since),
        )
        .await
        .unwrap();
        let mut rd = afterlog_reader::JobReader::new(stores, &ix, since);
        let mut recs = Vec::new();
        while let Some(r) = rd.next().await.unwrap() {
            recs.push(r);
        }
        s.push_str("-- since 30m\n");
        s.push_str(&ndjson(&recs));
        out.push(s);
    }
    out
}

/// A store that fails every mutation from the k-th on (as if the process
/// died there), counts mutations, and checks on every deletion of a raw
/// object that a meta lists it as consumed by merged objects that exist.
#[derive(Debug)]
pub struct Crashing {
    pub inner: Store,
    pub fail_at: usize,
    pub count: AtomicUsize,
    /// Mutations other than the lease's and the status object's (every
    /// pass writes those): changes to the data.
    pub work: AtomicUsize,
    pub dead: AtomicBool,
    pub violations: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Display for Crashing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crashing({})", self.inner)
    }
}

impl Crashing {
    pub fn new(inner: Store, fail_at: usize) -> Arc<Crashing> {
        Arc::new(Crashing {
            inner,
            fail_at,
            count: AtomicUsize::new(0),
            work: AtomicUsize::new(0),
            dead: AtomicBool::new(false),
            violations: Arc::default(),
        })
    }

    fn mutate(&self, what: &Path) -> object_store::Result<()> {
        let k = self.count.fetch_add(1, Ordering::SeqCst);
        if k >= self.fail_at {
            self.dead.store(true, Ordering::SeqCst);
        }
        if self.dead.load(Ordering::SeqCst) {
            return Err(object_store::Error::Generic {
                store: "crashing",
                source: format!("injected crash at mutation {k} ({what})").into(),
            });
        }
        if !what.as_ref().starts_with("lease/") && !what.as_ref().starts_with("status/") {
            self.work.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Checks the protocol's promise before a stored object of a job goes:
/// its job's manifest lists it as consumed (or retention removed its run
/// in the per-pod layout), and every chunk the manifest names exists.
async fn check_delete(inner: Store, key: String, violations: Arc<Mutex<Vec<String>>>) {
    let mut parts = key.split('/');
    let (Some(top), Some(tool), Some(job)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if ![layout::RAW, layout::DATA, layout::META, layout::CHUNKS].contains(&top) {
        return;
    }
    let (Ok(tool), Ok(job)) = (
        afterlog_contract::keys::decode(tool),
        afterlog_contract::keys::decode(job.trim_end_matches(".json")),
    ) else {
        return;
    };
    let bad = |why: String| violations.lock().unwrap().push(format!("{key}: {why}"));
    let manifest_key = layout::manifest_key(&tool, &job);
    let Ok(g) = inner.get(&Path::from(manifest_key.as_str())).await else {
        bad("deleted while its job has no index".into());
        return;
    };
    let m =
        afterlog_reader::index::parse_manifest(&manifest_key, &g.bytes().await.unwrap()).unwrap();
    let named = m.periods.iter().any(|p| p.chunks.contains(&key));
    if top == layout::CHUNKS {
        // Consumed, or an orphan a crash left: never one the manifest names.
        if named {
            bad("deleted while the job's manifest names it".into());
        }
    } else if !m.consumed.iter().any(|c| c.key == key) {
        bad("deleted while the job's manifest does not list it as consumed".into());
    }
    for c in m.periods.iter().flat_map(|p| &p.chunks) {
        if inner.head(&Path::from(c.as_str())).await.is_err() {
            bad(format!("deleted while chunk {c} is missing"));
        }
    }
}

#[async_trait]
impl ObjectStore for Crashing {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.mutate(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.mutate(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // Decide each deletion's fate in order, before handing the
        // survivors to the inner store.
        let items: Vec<object_store::Result<Path>> =
            futures::executor::block_on(locations.collect());
        let mut allowed = Vec::new();
        let mut out: Vec<object_store::Result<Path>> = Vec::new();
        for item in items {
            match item {
                Ok(p) => match self.mutate(&p) {
                    Ok(()) => allowed.push(p),
                    Err(e) => out.push(Err(e)),
                },
                Err(e) => out.push(Err(e)),
            }
        }
        let inner = self.inner.clone();
        let violations = self.violations.clone();
        futures::stream::once(async move {
            let mut results = Vec::new();
            for p in allowed {
                check_delete(inner.clone(), p.to_string(), violations.clone()).await;
                let r = inner.delete(&p).await.map(|()| p);
                results.push(r);
            }
            futures::stream::iter(results.into_iter().chain(out))
        })
        .flatten()
        .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.mutate(to)?;
        self.inner.copy_opts(from, to, options).await
    }
}
