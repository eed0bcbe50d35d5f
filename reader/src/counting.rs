//! Counting the object store's requests: what a read costs. [`counted`]
//! wraps a [`Store`] in a [`CountingStore`], which counts each request it
//! hands to the store, by operation, and the bytes of the GET bodies it
//! returns, in shared [`Counters`]; [`Counters::snapshot`] reads them.
//!
//! What is counted, per [`Op`]:
//!
//! - `get`: whole-object GETs; `get_range`: GETs of a byte range, and each
//!   [`ObjectStore::get_ranges`] call (one, however the store splits or
//!   coalesces the ranges); `head`: HEADs (GETs with `head` set).
//! - `put`: PUTs; a multipart upload counts its creation, each part and
//!   its completion.
//! - `delete`: each object asked to be deleted (S3 deletes up to 1000 in
//!   one request), and the abort of a multipart upload.
//! - `list`: each recursive listing (S3 answers in pages of up to 1000
//!   keys; the pages are not counted apart); `list_with_delimiter`: each
//!   listing of one level.
//! - `copy`: copies; a rename counts as the copy and the delete it is on S3.
//!
//! A request is counted when it is made, whether it succeeds or not; one
//! that fails is counted again among the failures of its operation
//! ([`Counters::failures`]): timeouts, resets, refusals, a body cut off —
//! whatever is left after the store's own retries. Answers that are not
//! failures (not found, a precondition not met, already there, not
//! modified) are not failures. `bytes_fetched` is what GET bodies carried: counted as a body streams
//! (an S3 object), or whole when the GET returns a local file's range.

use crate::store::Store;
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
    UploadPart,
};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// An operation on the store, as counted (see the [module](self) docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Get,
    GetRange,
    Head,
    Put,
    Delete,
    List,
    ListWithDelimiter,
    Copy,
}

impl Op {
    /// Every operation, in the order of [`Op::name`]'s labels.
    pub const ALL: [Op; 8] = [
        Op::Get,
        Op::GetRange,
        Op::Head,
        Op::Put,
        Op::Delete,
        Op::List,
        Op::ListWithDelimiter,
        Op::Copy,
    ];

    /// The operation's name (a metric's label): `get`, `get_range`, `head`,
    /// `put`, `delete`, `list`, `list_with_delimiter`, `copy`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::GetRange => "get_range",
            Op::Head => "head",
            Op::Put => "put",
            Op::Delete => "delete",
            Op::List => "list",
            Op::ListWithDelimiter => "list_with_delimiter",
            Op::Copy => "copy",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Requests by operation and bytes fetched, counted as they happen; shared
/// by every [`CountingStore`] given them.
#[derive(Debug, Default)]
pub struct Counters {
    /// By `Op as usize`.
    ops: [AtomicU64; 8],
    failed: [AtomicU64; 8],
    bytes_fetched: AtomicU64,
}

impl Counters {
    pub fn new() -> Arc<Counters> {
        Arc::default()
    }

    /// Counts `n` requests of `op`.
    pub fn add(&self, op: Op, n: u64) {
        self.ops[op as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` bytes of GET bodies.
    pub fn add_fetched(&self, n: u64) {
        self.bytes_fetched.fetch_add(n, Ordering::Relaxed);
    }

    /// Requests of `op` so far.
    pub fn get(&self, op: Op) -> u64 {
        self.ops[op as usize].load(Ordering::Relaxed)
    }

    /// Requests of `op` that failed so far.
    pub fn failures(&self, op: Op) -> u64 {
        self.failed[op as usize].load(Ordering::Relaxed)
    }

    /// Counts `e` among `op`'s failures, unless it is an answer.
    fn note_error(&self, op: Op, e: &object_store::Error) {
        use object_store::Error as E;
        let answer = matches!(
            e,
            E::NotFound { .. }
                | E::Precondition { .. }
                | E::AlreadyExists { .. }
                | E::NotModified { .. }
        );
        if !answer {
            self.failed[op as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `r`, its error counted as a failure of `op`.
    fn checked<T>(&self, op: Op, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            self.note_error(op, e);
        }
        r
    }

    /// The counts so far. Requests under way while it is taken may be in
    /// some counts and not yet in others.
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            get: self.get(Op::Get),
            get_range: self.get(Op::GetRange),
            head: self.get(Op::Head),
            put: self.get(Op::Put),
            delete: self.get(Op::Delete),
            list: self.get(Op::List),
            list_with_delimiter: self.get(Op::ListWithDelimiter),
            copy: self.get(Op::Copy),
            bytes_fetched: self.bytes_fetched.load(Ordering::Relaxed),
        }
    }
}

/// Requests by operation and bytes fetched, at one time ([`Counters::snapshot`])
/// or between two ([`RequestCounts::since`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub get: u64,
    pub get_range: u64,
    pub head: u64,
    pub put: u64,
    pub delete: u64,
    pub list: u64,
    pub list_with_delimiter: u64,
    pub copy: u64,
    /// Bytes of GET bodies (not a count of requests).
    pub bytes_fetched: u64,
}

impl RequestCounts {
    /// Requests of `op`.
    pub fn of(&self, op: Op) -> u64 {
        match op {
            Op::Get => self.get,
            Op::GetRange => self.get_range,
            Op::Head => self.head,
            Op::Put => self.put,
            Op::Delete => self.delete,
            Op::List => self.list,
            Op::ListWithDelimiter => self.list_with_delimiter,
            Op::Copy => self.copy,
        }
    }

    /// `(op, requests)` for every operation, in [`Op::ALL`]'s order.
    pub fn by_op(&self) -> impl Iterator<Item = (Op, u64)> + '_ {
        Op::ALL.into_iter().map(|op| (op, self.of(op)))
    }

    /// Requests of every operation (bytes not included).
    pub fn total(&self) -> u64 {
        self.by_op().map(|(_, n)| n).sum()
    }

    /// What was counted since `earlier`, a snapshot of the same counters
    /// taken before this one.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        RequestCounts {
            get: d(self.get, earlier.get),
            get_range: d(self.get_range, earlier.get_range),
            head: d(self.head, earlier.head),
            put: d(self.put, earlier.put),
            delete: d(self.delete, earlier.delete),
            list: d(self.list, earlier.list),
            list_with_delimiter: d(self.list_with_delimiter, earlier.list_with_delimiter),
            copy: d(self.copy, earlier.copy),
            bytes_fetched: d(self.bytes_fetched, earlier.bytes_fetched),
        }
    }
}

/// `12 requests (get 3, get_range 1, list 8), 4096 bytes fetched`: the
/// operations counted, for a log line.
impl fmt::Display for RequestCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        write!(f, "{total} request{}", if total == 1 { "" } else { "s" })?;
        let mut sep = " (";
        for (op, n) in self.by_op().filter(|&(_, n)| n > 0) {
            write!(f, "{sep}{op} {n}")?;
            sep = ", ";
        }
        if total > 0 {
            f.write_str(")")?;
        }
        write!(f, ", {} bytes fetched", self.bytes_fetched)
    }
}

/// A store that counts the requests it hands to `inner` in `counters`.
#[derive(Debug)]
pub struct CountingStore {
    pub inner: Store,
    pub counters: Arc<Counters>,
}

/// `store`, its requests counted in `counters`.
pub fn counted(store: Store, counters: Arc<Counters>) -> Store {
    Arc::new(CountingStore {
        inner: store,
        counters,
    })
}

/// As the store it wraps: messages naming the store stay as they were.
impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

/// Every method is implemented, so that the inner store's own (say, a
/// local directory's `rename_opts`) is used, not the trait's default.
#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.counters.add(Op::Put, 1);
        let r = self.inner.put_opts(location, payload, opts).await;
        self.counters.checked(Op::Put, r)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.counters.add(Op::Put, 1);
        let r = self.inner.put_multipart_opts(location, opts).await;
        let inner = self.counters.checked(Op::Put, r)?;
        Ok(Box::new(CountingUpload {
            inner,
            counters: self.counters.clone(),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let op = if options.head {
            Op::Head
        } else if options.range.is_some() {
            Op::GetRange
        } else {
            Op::Get
        };
        self.counters.add(op, 1);
        let r = self.inner.get_opts(location, options).await;
        let mut r = self.counters.checked(op, r)?;
        if op != Op::Head {
            r.payload = match r.payload {
                GetResultPayload::Stream(s) => {
                    let (c, e) = (self.counters.clone(), self.counters.clone());
                    GetResultPayload::Stream(
                        s.inspect_ok(move |b| c.add_fetched(b.len() as u64))
                            .inspect_err(move |err| e.note_error(op, err))
                            .boxed(),
                    )
                }
                GetResultPayload::File(file, path) => {
                    self.counters
                        .add_fetched(r.range.end.saturating_sub(r.range.start));
                    GetResultPayload::File(file, path)
                }
            };
        }
        Ok(r)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.counters.add(Op::GetRange, 1);
        let r = self.inner.get_ranges(location, ranges).await;
        let got = self.counters.checked(Op::GetRange, r)?;
        self.counters
            .add_fetched(got.iter().map(|b| b.len() as u64).sum());
        Ok(got)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let (c, e) = (self.counters.clone(), self.counters.clone());
        let locations = locations.inspect_ok(move |_| c.add(Op::Delete, 1)).boxed();
        self.inner
            .delete_stream(locations)
            .inspect_err(move |err| e.note_error(Op::Delete, err))
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.counters.add(Op::List, 1);
        let e = self.counters.clone();
        self.inner
            .list(prefix)
            .inspect_err(move |err| e.note_error(Op::List, err))
            .boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.counters.add(Op::List, 1);
        let e = self.counters.clone();
        self.inner
            .list_with_offset(prefix, offset)
            .inspect_err(move |err| e.note_error(Op::List, err))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.counters.add(Op::ListWithDelimiter, 1);
        let r = self.inner.list_with_delimiter(prefix).await;
        self.counters.checked(Op::ListWithDelimiter, r)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.counters.add(Op::Copy, 1);
        let r = self.inner.copy_opts(from, to, options).await;
        self.counters.checked(Op::Copy, r)
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.counters.add(Op::Copy, 1);
        self.counters.add(Op::Delete, 1);
        let r = self.inner.rename_opts(from, to, options).await;
        self.counters.checked(Op::Copy, r)
    }
}

/// A multipart upload of a [`CountingStore`]: each part and the completion
/// count as PUTs, an abort as a DELETE.
#[derive(Debug)]
struct CountingUpload {
    inner: Box<dyn MultipartUpload>,
    counters: Arc<Counters>,
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl MultipartUpload for CountingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.counters.add(Op::Put, 1);
        let c = self.counters.clone();
        let part = self.inner.put_part(data);
        Box::pin(async move { c.checked(Op::Put, part.await) })
    }

    async fn complete(&mut self) -> Result<PutResult> {
        self.counters.add(Op::Put, 1);
        let r = self.inner.complete().await;
        self.counters.checked(Op::Put, r)
    }

    async fn abort(&mut self) -> Result<()> {
        self.counters.add(Op::Delete, 1);
        let r = self.inner.abort().await;
        self.counters.checked(Op::Delete, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, WriteMultipart};

    fn store() -> (Store, Arc<Counters>) {
        let counters = Counters::new();
        (
            counted(Arc::new(InMemory::new()), counters.clone()),
            counters,
        )
    }

    fn p(s: &str) -> Path {
        Path::from(s)
    }

    #[tokio::test]
    async fn counts_every_request_and_the_bytes_fetched() {
        let (s, c) = store();
        assert_eq!(c.snapshot(), RequestCounts::default());
        s.put(&p("a/1"), PutPayload::from_static(b"0123456789"))
            .await
            .unwrap();
        s.put(&p("a/2"), PutPayload::from_static(b"abc"))
            .await
            .unwrap();
        let after_puts = c.snapshot();

        assert_eq!(
            s.get(&p("a/1")).await.unwrap().bytes().await.unwrap().len(),
            10
        );
        assert_eq!(s.get_range(&p("a/1"), 2..6).await.unwrap(), "2345");
        let got = s.get_ranges(&p("a/1"), &[0..1, 8..10]).await.unwrap();
        assert_eq!(got, [Bytes::from("0"), Bytes::from("89")]);
        assert_eq!(s.head(&p("a/2")).await.unwrap().size, 3);
        assert_eq!(
            s.list(Some(&p("a")))
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
                .len(),
            2
        );
        let l = s.list_with_offset(Some(&p("a")), &p("a/1"));
        assert_eq!(l.try_collect::<Vec<_>>().await.unwrap().len(), 1);
        assert_eq!(
            s.list_with_delimiter(None)
                .await
                .unwrap()
                .common_prefixes
                .len(),
            1
        );
        s.copy(&p("a/2"), &p("b/2")).await.unwrap();
        s.rename(&p("b/2"), &p("c/2")).await.unwrap();
        s.delete(&p("c/2")).await.unwrap();
        let gone = s
            .delete_stream(futures::stream::iter([Ok(p("a/1")), Ok(p("a/2"))]).boxed())
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        assert_eq!(gone.len(), 2);
        // A failed request is a request; "not found" is an answer, not a
        // failure.
        assert!(s.get(&p("a/1")).await.is_err());
        assert_eq!(c.failures(Op::Get), 0);

        let now = c.snapshot();
        assert_eq!(
            now,
            RequestCounts {
                get: 2,
                get_range: 2,
                head: 1,
                put: 2,
                delete: 4,
                list: 2,
                list_with_delimiter: 1,
                copy: 2,
                bytes_fetched: 10 + 4 + 3,
            }
        );
        assert_eq!(now.total(), 16);
        assert_eq!(after_puts.total(), 2);
        let d = now.since(&after_puts);
        assert_eq!((d.put, d.get, d.total(), d.bytes_fetched), (0, 2, 14, 17));
        assert_eq!(
            d.to_string(),
            "14 requests (get 2, get_range 2, head 1, delete 4, list 2, \
             list_with_delimiter 1, copy 2), 17 bytes fetched"
        );
        assert_eq!(
            RequestCounts::default().to_string(),
            "0 requests, 0 bytes fetched"
        );
        // What the wrapper shows of the store is the store's.
        assert_eq!(s.to_string(), InMemory::new().to_string());
    }

    #[tokio::test]
    async fn counts_body_bytes_as_they_stream() {
        let (s, c) = store();
        s.put(&p("big"), PutPayload::from(vec![7u8; 100_000]))
            .await
            .unwrap();
        let r = s.get(&p("big")).await.unwrap();
        // Nothing fetched until the body is read.
        assert_eq!(c.snapshot().bytes_fetched, 0);
        assert_eq!(r.bytes().await.unwrap().len(), 100_000);
        assert_eq!(c.snapshot().bytes_fetched, 100_000);
        // A HEAD fetches no body.
        s.head(&p("big")).await.unwrap();
        assert_eq!(c.snapshot().bytes_fetched, 100_000);
    }

    #[tokio::test]
    async fn counts_a_local_files_range() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Counters::new();
        let s = counted(
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap()),
            counters.clone(),
        );
        s.put(&p("f"), PutPayload::from_static(b"hello world"))
            .await
            .unwrap();
        assert_eq!(s.get_range(&p("f"), 6..11).await.unwrap(), "world");
        assert_eq!(
            s.get(&p("f")).await.unwrap().bytes().await.unwrap().len(),
            11
        );
        let n = counters.snapshot();
        assert_eq!((n.put, n.get_range, n.get, n.bytes_fetched), (1, 1, 1, 16));
    }

    #[tokio::test]
    async fn counts_a_multipart_upload() {
        let (s, c) = store();
        let upload = s.put_multipart(&p("m")).await.unwrap();
        let mut w = WriteMultipart::new_with_chunk_size(upload, 10);
        w.write(&[1u8; 25]);
        w.finish().await.unwrap();
        // Created, three parts, completed.
        assert_eq!(c.snapshot().put, 5);
        assert_eq!(s.get(&p("m")).await.unwrap().meta.size, 25);

        let mut upload = s.put_multipart(&p("n")).await.unwrap();
        upload.abort().await.unwrap();
        let n = c.snapshot();
        assert_eq!((n.put, n.delete), (6, 1));
    }

    #[tokio::test]
    async fn stores_share_counters() {
        let counters = Counters::new();
        let a = counted(Arc::new(InMemory::new()), counters.clone());
        let b = counted(Arc::new(InMemory::new()), counters.clone());
        a.put(&p("x"), PutPayload::from_static(b"1")).await.unwrap();
        b.put(&p("x"), PutPayload::from_static(b"2")).await.unwrap();
        // Counted twice over: a read's own count on top of the service's.
        let mine = Counters::new();
        let c = counted(b.clone(), mine.clone());
        c.get(&p("x")).await.unwrap().bytes().await.unwrap();
        assert_eq!(counters.snapshot().total(), 3);
        assert_eq!(counters.snapshot().bytes_fetched, 1);
        assert_eq!(mine.snapshot().total(), 1);
        assert_eq!(mine.get(Op::Get), 1);
    }
}
