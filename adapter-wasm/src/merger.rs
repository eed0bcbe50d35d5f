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
use crate::stream::{Item, LineDecoder, gunzip_whole, is_gzip};
use afterlog_contract::layout::{ObjectKind, parse_object_key};
use afterlog_reader::{
    BadLine, LogRecord, Merge, Selection, Source, open_raw, open_text, streamed_lines,
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

    /// Reports `w` with the merge's own warnings.
    pub fn warn(&mut self, w: String) {
        self.warnings.push(w);
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
            open_text(key.to_string(), bytes.to_vec(), None)
        } else if sorted_object {
            Box::new(streamed_lines(key.to_string(), bytes.to_vec(), None))
        } else if self.lenient {
            let (src, warning, _) = open_raw(key.to_string(), bytes, None);
            if let Some(w) = warning {
                self.stats.bad_objects += 1;
                self.warnings.push(w);
            }
            src
        } else {
            open_text(key.to_string(), gunzip_whole(key, bytes)?, None)
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
        bad.tally(
            &mut self.stats.bad_objects,
            &mut self.stats.bad_lines,
            &mut self.warnings,
        );
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
