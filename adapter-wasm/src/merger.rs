//! The incremental merger behind the JavaScript `Merger`: objects are pushed
//! (whole, or as chunks of a stream), ordered, deduplicated lines are
//! pulled. The ordering, deduplication and selection are the reader's
//! [`Merge`] and [`Selection`] — the service's own code — and objects are
//! opened with the reader's `object` functions, as the service opens them.
//!
//! What this adds is knowing when a line may go out. The service knows all
//! of a job's objects before it starts and opens them in order of their
//! first time; a JavaScript caller pushes objects as its downloads finish.
//! A line is returned only once nothing still to come can precede it:
//! - after [`Merger::finish`], sources that are still to be pushed cannot;
//!   before it, only a promise from [`Merger::expect_from`] says so;
//! - a streamed source (chunks) is sorted, so nothing it has yet to deliver
//!   precedes its latest record.
//!
//! Until then, lines stay in the merge. This is also what keeps a streamed
//! source from looking exhausted to the merge while its next chunk is on
//! its way (see [`Merger::horizon`]).

use crate::error::AdapterError;
use crate::stream::{Item, LineDecoder, is_gzip};
use afterlog_contract::layout::{ObjectKind, parse_object_key};
use afterlog_reader::{
    BadLine, LogRecord, Merge, ParseError, Selection, Source, gunzip, open_raw, open_text,
    streamed_lines,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

/// A merge source. Not `Send` (unlike the service's): a streamed source
/// shares its queue with the push side, and wasm has one thread.
type Src = Box<dyn Iterator<Item = Result<LogRecord, BadLine>>>;

/// Records of a streamed source that arrived and were not merged yet.
type Queue = Rc<RefCell<VecDeque<LogRecord>>>;

/// The merge's end of a streamed source.
struct QueueSource(Queue);

impl Iterator for QueueSource {
    type Item = Result<LogRecord, BadLine>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.borrow_mut().pop_front().map(Ok)
    }
}

/// The push end of a streamed source.
struct Stream {
    decoder: LineDecoder,
    queue: Queue,
    /// Whether the merge has its `QueueSource` (only once it has a record:
    /// the merge reads a source at once, and an empty one counts as ended).
    added: bool,
    /// The latest event time received.
    max_ts: Option<u64>,
    /// The promise in force when it began: no record before this.
    lower: Option<u64>,
}

/// Counters, for callers who show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Objects pushed, whole or streamed.
    pub objects: u64,
    /// Bytes pushed (as stored: compressed for gzip).
    pub stored_bytes: u64,
    /// Lines returned.
    pub lines: u64,
    /// Lines skipped as not records (lenient).
    pub bad_lines: u64,
    /// Objects with a damaged gzip stream (lenient: served partly).
    pub bad_objects: u64,
    /// Times the output went backwards because a source was not sorted or
    /// broke the promise of [`Merger::expect_from`].
    pub out_of_order: u64,
}

pub struct Merger {
    merge: Merge<Src>,
    streams: BTreeMap<u32, Stream>,
    next_id: u32,
    /// [`Merger::expect_from`]'s promise.
    lower: Option<u64>,
    finished: bool,
    lenient: bool,
    done: bool,
    warnings: Vec<String>,
    stats: Stats,
}

/// What [`Merger::horizon`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Horizon {
    /// Nothing may go out yet.
    Blocked,
    /// Records up to this time (inclusive) may.
    Until(u64),
    /// Everything may: no source is still to come.
    Open,
}

impl Merger {
    /// `selection` selects (including head/tail); `lenient` skips what cannot
    /// be read and reports it in [`Merger::take_warnings`], as the service
    /// does, instead of failing the push.
    pub fn new(selection: Selection, lenient: bool) -> Merger {
        Merger {
            merge: Merge::new(Vec::new(), selection),
            streams: BTreeMap::new(),
            next_id: 1,
            lower: None,
            finished: false,
            lenient,
            done: false,
            warnings: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Adds a whole stored object: gzip (one or more members) or, if it
    /// does not start like gzip, plain JSON lines. A `data/` key is a
    /// merged object, sorted by the compactor, and is decompressed as the
    /// merge reads it; anything else is read like a raw object (sorted
    /// first unless it already is).
    ///
    /// Strict (not lenient): a damaged stream or a line that is not a record
    /// fails the push and nothing of the object is merged; this reads the
    /// whole object now instead of as the output reaches it.
    pub fn push_object(&mut self, key: &str, bytes: &[u8]) -> Result<(), AdapterError> {
        if self.finished {
            return Err(AdapterError::Finished);
        }
        let sorted_object = is_gzip(bytes)
            && parse_object_key(key).is_ok_and(|k| matches!(k.kind, ObjectKind::Data { .. }));
        let src: Source = if !is_gzip(bytes) {
            open_text(key.to_string(), bytes.to_vec())
        } else if sorted_object {
            Box::new(streamed_lines(key.to_string(), bytes.to_vec()))
        } else if self.lenient {
            let (src, warning, _) = open_raw(key.to_string(), bytes);
            if let Some(w) = warning {
                self.stats.bad_objects += 1;
                self.warnings.push(w);
            }
            src
        } else {
            let (text, err) = gunzip(bytes);
            if let Some(e) = err {
                return Err(AdapterError::Damaged {
                    what: key.to_string(),
                    error: e.to_string(),
                    decoded: text.len() as u64,
                });
            }
            open_text(key.to_string(), text)
        };
        let src: Src = if self.lenient {
            Box::new(src)
        } else {
            let records = src.collect::<Result<Vec<_>, _>>()?;
            Box::new(records.into_iter().map(Ok))
        };
        self.stats.objects += 1;
        self.stats.stored_bytes += bytes.len() as u64;
        self.merge.add(src);
        Ok(())
    }

    /// Starts a streamed source: an object (gzip or text) whose bytes come
    /// in [`Merger::push_chunk`]s. Its lines must be sorted (a `data/`
    /// object, or the service's output); raw objects go to
    /// [`Merger::push_object`], which sorts them. Returns its id.
    pub fn begin(&mut self, key: &str) -> Result<u32, AdapterError> {
        if self.finished {
            return Err(AdapterError::Finished);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.streams.insert(
            id,
            Stream {
                decoder: LineDecoder::new(key.to_string()),
                queue: Queue::default(),
                added: false,
                max_ts: None,
                lower: self.lower,
            },
        );
        self.stats.objects += 1;
        Ok(id)
    }

    /// The next bytes of a streamed source.
    pub fn push_chunk(&mut self, id: u32, bytes: &[u8]) -> Result<(), AdapterError> {
        let s = self
            .streams
            .get_mut(&id)
            .ok_or(AdapterError::NoSource(id))?;
        self.stats.stored_bytes += bytes.len() as u64;
        let mut out = Vec::new();
        let r = s.decoder.push(bytes, &mut out);
        self.take(id, out, r, false)
    }

    /// The end of a streamed source.
    pub fn end(&mut self, id: u32) -> Result<(), AdapterError> {
        let s = self
            .streams
            .get_mut(&id)
            .ok_or(AdapterError::NoSource(id))?;
        let mut out = Vec::new();
        let r = s.decoder.finish(&mut out);
        self.take(id, out, r, true)
    }

    /// Queues what a streamed source decoded; closes it at its end or at
    /// the first problem (strict) or damage (always).
    fn take(
        &mut self,
        id: u32,
        out: Vec<Item>,
        r: Result<(), std::io::Error>,
        end: bool,
    ) -> Result<(), AdapterError> {
        let Some(s) = self.streams.get_mut(&id) else {
            return Err(AdapterError::NoSource(id));
        };
        let mut failure = None;
        for item in out {
            match item {
                Ok(rec) => {
                    s.max_ts = Some(s.max_ts.map_or(rec.ts, |m| m.max(rec.ts)));
                    s.queue.borrow_mut().push_back(rec);
                }
                Err(bad) if self.lenient => {
                    self.stats.bad_lines += 1;
                    self.warnings.push(bad.to_string());
                }
                Err(bad) => {
                    failure = Some(AdapterError::BadLine(bad));
                    break;
                }
            }
        }
        if failure.is_none()
            && let Err(e) = r
        {
            let decoded = s.decoder.pending() as u64;
            if self.lenient {
                self.stats.bad_objects += 1;
                self.warnings.push(format!(
                    "{}: damaged gzip ({e}); served the lines before the damage",
                    s.decoder.key()
                ));
            } else {
                failure = Some(AdapterError::Damaged {
                    what: s.decoder.key().to_string(),
                    error: e.to_string(),
                    decoded,
                });
            }
            // Either way the stream cannot go on.
            return self.close(id).and(failure.map_or(Ok(()), Err));
        }
        if !s.added && !s.queue.borrow().is_empty() {
            s.added = true;
            self.merge.add(Box::new(QueueSource(s.queue.clone())));
        }
        if end || failure.is_some() {
            self.close(id)?;
        }
        failure.map_or(Ok(()), Err)
    }

    /// Drops a streamed source's push end; what it queued stays merged.
    fn close(&mut self, id: u32) -> Result<(), AdapterError> {
        let s = self.streams.remove(&id).ok_or(AdapterError::NoSource(id))?;
        if !s.added && !s.queue.borrow().is_empty() {
            self.merge.add(Box::new(QueueSource(s.queue)));
        }
        Ok(())
    }

    /// A promise: every source begun or pushed from now on holds only
    /// records at or after `ts` (ns). Lets lines before `ts` out before
    /// [`Merger::finish`] — e.g. pushing merged objects in the order of
    /// their first time, the `firstTs` of their keys. A source that breaks
    /// it comes out of order (counted in [`Stats::out_of_order`]).
    pub fn expect_from(&mut self, ts: u64) -> Result<(), AdapterError> {
        if self.finished {
            return Err(AdapterError::Finished);
        }
        if let Some(p) = self.lower
            && ts < p
        {
            return Err(AdapterError::ExpectBack {
                asked: ts,
                promised: p,
            });
        }
        self.lower = Some(ts);
        Ok(())
    }

    /// No more sources will be begun or pushed (streams already begun
    /// still take their chunks).
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether every line has been returned: finished, every stream ended,
    /// the merge drained (or the head reached).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// How far the output may go now. An open stream must never look
    /// exhausted to the merge, which drops a source that returns `None`:
    /// holding back its latest event time keeps its latest record queued
    /// or at the merge's head, so the merge never reads it empty.
    fn horizon(&self) -> Horizon {
        let mut until: Option<u64> = None;
        // `first`: the earliest time a record still to come may have.
        let mut bound = |first: Option<u64>| match first.and_then(|t| t.checked_sub(1)) {
            Some(t) => {
                until = Some(until.map_or(t, |u| u.min(t)));
                true
            }
            None => false,
        };
        if !self.finished && !bound(self.lower) {
            return Horizon::Blocked;
        }
        for s in self.streams.values() {
            if !bound(s.max_ts.or(s.lower)) {
                return Horizon::Blocked;
            }
        }
        until.map_or(Horizon::Open, Horizon::Until)
    }

    /// The next line that may go out now; `None` when none may yet (or at
    /// the end: see [`Merger::is_done`]).
    pub fn next_record(&mut self) -> Option<LogRecord> {
        if self.done {
            return None;
        }
        let until = match self.horizon() {
            Horizon::Blocked => return None,
            Horizon::Until(t) => Some(t),
            Horizon::Open => None,
        };
        self.merge.pause_after(until);
        loop {
            match self.merge.next() {
                Some(Ok(r)) => {
                    self.stats.lines += 1;
                    return Some(r);
                }
                // Only lenient sources carry errors into the merge.
                Some(Err(bad)) => self.bad(bad),
                None => {
                    if !self.merge.paused() {
                        self.done = true;
                        let n = self.merge.out_of_order();
                        if n > 0 {
                            self.warnings.push(format!(
                                "{n} records out of order: a source is not sorted, or broke expectFrom's promise"
                            ));
                        }
                    }
                    return None;
                }
            }
        }
    }

    fn bad(&mut self, bad: BadLine) {
        if matches!(bad.error, ParseError::Damaged(_)) {
            self.stats.bad_objects += 1;
        } else {
            self.stats.bad_lines += 1;
        }
        self.warnings.push(bad.to_string());
    }

    /// The warnings since the last call (lenient mode, and out-of-order
    /// output at the end).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    pub fn stats(&self) -> Stats {
        Stats {
            out_of_order: self.merge.out_of_order(),
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use afterlog_contract::layout::Origin;
    use afterlog_reader::Limit;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use proptest::prelude::*;
    use std::io::Write;

    fn line(ts: u64, cid: &str, off: u64, log: &str) -> String {
        format!(
            r#"{{"ts":{ts},"off":{off},"stream":"stdout","log":"{log}","afterlog":{{"pod":"p","container":"c","container_id":"{cid}"}}}}"#
        )
    }

    fn gz(lines: &[String]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        for l in lines {
            e.write_all(l.as_bytes()).unwrap();
            e.write_all(b"\n").unwrap();
        }
        e.finish().unwrap()
    }

    fn origin() -> Origin {
        Origin {
            tool: "t".into(),
            job: "j".into(),
            pod: "p".into(),
            container: "c".into(),
        }
    }

    fn drain(m: &mut Merger) -> Vec<String> {
        std::iter::from_fn(|| m.next_record())
            .map(|r| r.log().into_owned())
            .collect()
    }

    #[test]
    fn merges_pushed_objects_once_finished() {
        let mut m = Merger::new(Selection::default(), false);
        let raw = gz(&[line(3, "a", 3, "c"), line(1, "a", 1, "a")]);
        let data = gz(&[line(1, "a", 1, "a"), line(2, "a", 2, "b")]);
        m.push_object("raw/t/j/p/c/20260101T000000Z-x.gz", &raw)
            .unwrap();
        m.push_object(&origin().data_key(1, 2, "m"), &data).unwrap();
        assert!(drain(&mut m).is_empty(), "nothing before finish()");
        m.finish();
        assert_eq!(drain(&mut m), ["a", "b", "c"]);
        assert!(m.is_done());
        assert!(m.push_object("x", b"").is_err());
    }

    #[test]
    fn a_promise_lets_lines_out_early() {
        let mut m = Merger::new(Selection::default(), false);
        m.expect_from(0).unwrap();
        m.push_object("a", line(5, "a", 0, "five").as_bytes())
            .unwrap();
        m.push_object("b", line(1, "b", 0, "one").as_bytes())
            .unwrap();
        assert!(drain(&mut m).is_empty());
        m.expect_from(5).unwrap();
        assert_eq!(drain(&mut m), ["one"]);
        assert!(m.expect_from(4).is_err());
        m.push_object("c", line(6, "c", 0, "six").as_bytes())
            .unwrap();
        m.finish();
        assert_eq!(drain(&mut m), ["five", "six"]);
        assert_eq!(m.stats().out_of_order, 0);
    }

    #[test]
    fn streams_hold_back_their_latest_time() {
        let mut m = Merger::new(Selection::default(), false);
        let s = m.begin("stream").unwrap();
        m.finish();
        let text = [1, 2, 2, 3]
            .iter()
            .enumerate()
            .map(|(i, &t)| line(t, "a", i as u64, &format!("s{t}")) + "\n")
            .collect::<String>();
        let gzipped = gz(&text.lines().map(String::from).collect::<Vec<_>>());
        // No whole objects after finish(), but the stream goes on.
        m.push_object("late", b"").unwrap_err();
        let mut got = Vec::new();
        for c in gzipped.chunks(7) {
            m.push_chunk(s, c).unwrap();
            got.extend(drain(&mut m));
            // Never past what the stream has delivered.
            assert!(!m.is_done());
        }
        m.end(s).unwrap();
        got.extend(drain(&mut m));
        assert_eq!(got, ["s1", "s2", "s2", "s3"]);
        assert!(m.is_done());
        assert!(m.push_chunk(s, b"x").is_err());
    }

    #[test]
    fn strict_fails_the_push_lenient_warns() {
        let all: Vec<String> = (0..300).map(|i| format!("l{i}")).collect();
        let good = gz(&(0..300)
            .map(|i| line(i, "a", i, &all[i as usize]))
            .collect::<Vec<_>>());
        let cut = &good[..good.len() / 2];
        let junk = format!("{}\nnot json\n", line(0, "a", 0, "l0"));

        let mut strict = Merger::new(Selection::default(), false);
        let e = strict.push_object("raw-key", cut).unwrap_err();
        assert!(matches!(e, AdapterError::Damaged { .. }), "{e}");
        let e = strict.push_object("k2", junk.as_bytes()).unwrap_err();
        assert_eq!(e.to_string().split(':').next(), Some("k2 line 2"));
        strict.finish();
        assert!(drain(&mut strict).is_empty(), "nothing of failed pushes");

        let mut lenient = Merger::new(Selection::default(), true);
        lenient.push_object("raw-key", cut).unwrap();
        lenient.push_object("k2", junk.as_bytes()).unwrap();
        lenient.finish();
        let got = drain(&mut lenient);
        assert!(
            !got.is_empty() && got.len() < 300 && all.starts_with(&got),
            "the lines before the damage, l0 once: {got:?}"
        );
        let w = lenient.take_warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            (lenient.stats().bad_objects, lenient.stats().bad_lines),
            (1, 1)
        );
    }

    #[test]
    fn a_strict_stream_keeps_what_came_before_the_problem() {
        let mut m = Merger::new(Selection::default(), false);
        let s = m.begin("s").unwrap();
        let text = format!("{}\nbad\n{}\n", line(1, "a", 0, "a"), line(2, "a", 1, "b"));
        assert!(m.push_chunk(s, text.as_bytes()).is_err());
        assert!(m.push_chunk(s, b"more").is_err(), "closed");
        m.finish();
        assert_eq!(drain(&mut m), ["a"]);
        assert!(m.is_done());
    }

    #[test]
    fn filters_and_limits_are_the_readers() {
        let lines: Vec<String> = (0..10).map(|i| line(i, "a", i, &format!("l{i}"))).collect();
        let run = |selection: Selection| {
            let mut m = Merger::new(selection, false);
            m.push_object("o", &gz(&lines)).unwrap();
            m.finish();
            drain(&mut m)
        };
        let tail = run(Selection {
            limit: Limit::Tail(2),
            ..Selection::default()
        });
        assert_eq!(tail, ["l8", "l9"]);
        let head = run(Selection {
            limit: Limit::Head(2),
            since: Some(3),
            ..Selection::default()
        });
        assert_eq!(head, ["l3", "l4"]);
        let none = run(Selection {
            container: Some("other".into()),
            ..Selection::default()
        });
        assert!(none.is_empty());
    }

    proptest! {
        /// Sorted records cut into streamed and whole sources, pushed in
        /// any order with any chunking, come out as the reader's merge of
        /// the same sources does, whenever the lines are pulled.
        #[test]
        fn same_as_the_reader(
            ts in proptest::collection::vec(0u64..20, 1..60),
            split in proptest::collection::vec(0usize..4, 60),
            chunk in 1usize..40,
            pull_every in 1usize..5,
        ) {
            // Records with distinct identities, some repeated across sources.
            let mut recs: Vec<(u64, u64)> = ts.iter().enumerate().map(|(i, &t)| (t, i as u64 % 7)).collect();
            recs.sort();
            let mut sources: Vec<Vec<String>> = vec![Vec::new(); 4];
            for (i, &(t, off)) in recs.iter().enumerate() {
                let l = line(t, "c", off, &format!("{t}-{off}"));
                sources[split[i]].push(l.clone());
                if i % 5 == 0 {
                    sources[(split[i] + 1) % 4].push(l);
                }
            }
            let reference: Vec<String> = Merge::new(
                sources.iter().map(|s| {
                    s.iter()
                        .map(|l| Ok::<_, ()>(LogRecord::parse(l.as_str()).unwrap()))
                        .collect::<Vec<_>>()
                        .into_iter()
                }),
                Selection::default(),
            ).map(|r| r.unwrap().log().into_owned()).collect();

            let mut m = Merger::new(Selection::default(), false);
            let mut got = Vec::new();
            // Sources 0 and 1 are streamed (sorted), 2 and 3 pushed whole (unsorted).
            let streams: Vec<u32> = (0..2).map(|i| m.begin(&format!("s{i}")).unwrap()).collect();
            for (i, s) in sources.iter().enumerate().skip(2) {
                let mut unsorted = s.clone();
                unsorted.reverse();
                m.push_object(&format!("o{i}"), &gz(&unsorted)).unwrap();
            }
            m.finish();
            // Built in merge order: sorted, as streamed sources must be.
            let mut sorted_src: Vec<Vec<u8>> = sources[..2].iter().map(|s| gz(s)).collect();
            let mut step = 0;
            while sorted_src.iter().any(|b| !b.is_empty()) {
                for (k, b) in sorted_src.iter_mut().enumerate() {
                    let n = chunk.min(b.len());
                    if n > 0 {
                        let c: Vec<u8> = b.drain(..n).collect();
                        m.push_chunk(streams[k], &c).unwrap();
                    }
                }
                step += 1;
                if step % pull_every == 0 {
                    got.extend(drain(&mut m));
                }
            }
            for s in streams {
                m.end(s).unwrap();
            }
            got.extend(drain(&mut m));
            prop_assert!(m.is_done());
            prop_assert_eq!(got, reference);
        }
    }
}
