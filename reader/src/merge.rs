//! The streaming k-way merge that turns a job's objects into one ordered,
//! duplicate-free log (docs/design.md §4).
//!
//! Each source yields records sorted by [`LogRecord::order_key`]: merged
//! `data/` objects are stored that way, a raw object goes through [`sorted`]
//! first. The merge holds one head record per source (plus the last `N`
//! records for a tail), so memory does not grow with the job's size.
//!
//! Duplicates need no set: the order key holds exactly the identity's fields,
//! so all copies of a record (from a retried upload, or from a raw object and
//! the merged object that consumed it) come out next to each other, and
//! comparing with the previous record's key finds them.

use crate::record::LogRecord;
use crate::selection::{Limit, Position, Selection};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// Sorts records into merge order.
pub fn sort_records(records: &mut [LogRecord]) {
    records.sort_unstable_by(|a, b| a.order_key().cmp(&b.order_key()));
}

/// Turns the parsed lines of one raw object (unsorted, as Fluent Bit wrote
/// them) into a merge source. Reads them all: a raw object is one upload,
/// small by construction. Errors come first; their position carries no meaning.
pub fn sorted<E>(
    items: impl IntoIterator<Item = Result<LogRecord, E>>,
) -> impl Iterator<Item = Result<LogRecord, E>> {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
            Ok(r) => records.push(r),
            Err(e) => errors.push(e),
        }
    }
    sort_records(&mut records);
    errors
        .into_iter()
        .map(Err)
        .chain(records.into_iter().map(Ok))
}

/// A source's current head. Ordered in reverse, because `BinaryHeap` is a
/// max-heap and the merge wants the smallest key.
struct Head {
    rec: LogRecord,
    src: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .rec
            .order_key()
            .cmp(&self.rec.order_key())
            .then(other.src.cmp(&self.src))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

/// The merge: an iterator of the selected records in order, each once, with
/// the sources' errors passed through where they occur.
///
/// A source that yields an error is asked again afterwards, so one bad line
/// costs only itself; a source whose failure is final should end after
/// reporting it.
pub struct Merge<I> {
    /// `None` once exhausted: a finished object's buffers go at once, not
    /// at the end of the merge.
    sources: Vec<Option<I>>,
    heap: BinaryHeap<Head>,
    /// Sources whose head went out and must be read again before the next
    /// pop. Reading lazily means a source is never read past what the output
    /// needs (a head of 10 reads no further objects).
    refill: Vec<usize>,
    /// The previous record's position (the record itself has gone to the caller).
    last: Option<Position>,
    selection: Selection,
    emitted: usize,
    /// `Some` for `Limit::Tail`: the last N records seen so far.
    tail: Option<VecDeque<LogRecord>>,
    done: bool,
    out_of_order: u64,
    /// Records later than this are not returned yet (see [`Merge::pause_after`]).
    horizon: Option<u64>,
    paused: bool,
}

impl<I> Merge<I> {
    pub fn new(sources: impl IntoIterator<Item = I>, selection: Selection) -> Self {
        let sources: Vec<Option<I>> = sources.into_iter().map(Some).collect();
        Merge {
            refill: (0..sources.len()).rev().collect(),
            heap: BinaryHeap::with_capacity(sources.len()),
            sources,
            last: None,
            tail: matches!(selection.limit, Limit::Tail(_)).then(VecDeque::new),
            selection,
            emitted: 0,
            done: false,
            out_of_order: 0,
            horizon: None,
            paused: false,
        }
    }

    /// Adds a source while merging. Its records must not precede what was
    /// already returned (else they count as [`Merge::out_of_order`]): the
    /// caller adds an object once the output reaches the object's first time,
    /// so that only the objects the output has reached are open.
    pub fn add(&mut self, source: I) {
        self.refill.push(self.sources.len());
        self.sources.push(Some(source));
    }

    /// Makes the iterator return `None` — without ending — instead of a
    /// record later than `ts` (`None`: no horizon). A caller that adds
    /// sources while merging sets it to just before the next source's first
    /// time, so that nothing that source holds can be overtaken.
    pub fn pause_after(&mut self, ts: Option<u64>) {
        self.horizon = ts;
    }

    /// Whether the last `None` was a pause at the horizon, not the end.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Records held right now: at most one per source plus the tail buffer.
    pub fn held(&self) -> usize {
        self.heap.len() + self.tail.as_ref().map_or(0, VecDeque::len)
    }

    /// How many times a source broke its promise of sorted input, making the
    /// output go backwards (and possibly miss a duplicate). Meant to be
    /// reported: it means a stored object is not what the compactor writes.
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    fn limit_reached(&self) -> bool {
        match self.selection.limit {
            Limit::All => false,
            Limit::Head(n) => self.emitted >= n,
            Limit::Tail(n) => n == 0,
        }
    }

    /// Ends the merge, dropping the sources (and whatever they hold open)
    /// while a tail may still be returned.
    fn finish(&mut self) {
        self.done = true;
        self.sources = Vec::new();
        self.heap = BinaryHeap::new();
        self.refill = Vec::new();
    }
}

impl<I, E> Merge<I>
where
    I: Iterator<Item = Result<LogRecord, E>>,
{
    /// The event time of the record that comes next (selected or not), or
    /// `None` if the sources are exhausted. A source's error is returned
    /// once; ask again to go on.
    pub fn peek_ts(&mut self) -> Result<Option<u64>, E> {
        if self.done {
            return Ok(None);
        }
        self.fill()?;
        Ok(self.heap.peek().map(|h| h.rec.ts))
    }

    /// Reads a head from every source that needs one.
    fn fill(&mut self) -> Result<(), E> {
        while let Some(&src) = self.refill.last() {
            match self.sources[src].as_mut().and_then(Iterator::next) {
                Some(Ok(rec)) => {
                    self.refill.pop();
                    self.heap.push(Head { rec, src });
                }
                // `src` stays in `refill`: it is read again next time.
                Some(Err(e)) => return Err(e),
                None => {
                    self.refill.pop();
                    self.sources[src] = None;
                }
            }
        }
        Ok(())
    }

    /// The next selected record, before the tail buffer; `None` at the end.
    fn pull(&mut self) -> Option<Result<LogRecord, E>> {
        loop {
            if self.limit_reached() {
                return None;
            }
            if let Err(e) = self.fill() {
                return Some(Err(e));
            }
            if let (Some(h), Some(head)) = (self.horizon, self.heap.peek())
                && head.rec.ts > h
            {
                self.paused = true;
                return None;
            }
            let Some(Head { rec, src }) = self.heap.pop() else {
                // With a horizon, the caller has sources still to add.
                self.paused = self.horizon.is_some();
                return None;
            };
            self.refill.push(src);
            // Every source is sorted, so nothing after this is selected either.
            if self.selection.until.is_some_and(|u| rec.ts >= u) {
                return None;
            }
            match &mut self.last {
                Some(last) => match last.cmp_to(&rec) {
                    Ordering::Equal => continue,
                    Ordering::Greater => {
                        self.out_of_order += 1;
                        last.set(&rec);
                    }
                    Ordering::Less => last.set(&rec),
                },
                None => self.last = Some(Position::of(&rec)),
            }
            // Duplicates share container_id, ts and stream, hence pod and
            // container: filtering after deduplication drops all or none.
            if !self.selection.accepts(&rec) {
                continue;
            }
            self.emitted += 1;
            return Some(Ok(rec));
        }
    }
}

impl<I, E> Iterator for Merge<I>
where
    I: Iterator<Item = Result<LogRecord, E>>,
{
    type Item = Result<LogRecord, E>;

    fn next(&mut self) -> Option<Self::Item> {
        self.paused = false;
        while !self.done {
            match self.pull() {
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(rec)) => match (&mut self.tail, self.selection.limit) {
                    (Some(buf), Limit::Tail(n)) => {
                        if buf.len() == n {
                            buf.pop_front();
                        }
                        buf.push_back(rec);
                    }
                    _ => return Some(Ok(rec)),
                },
                None if self.paused => return None,
                None => self.finish(),
            }
        }
        self.tail.as_mut()?.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_match::{LineFilter, LineMatch};
    use proptest::prelude::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    type Source = Box<dyn Iterator<Item = Result<LogRecord, u32>>>;

    /// Container `c` of a fixed set: pods and container names follow from the
    /// container id, as they do in real data.
    fn rec(ts: u64, c: usize, off: Option<u64>, stream: &str, log: &str) -> LogRecord {
        let (pod, container) = [("p0", "main"), ("p0", "side"), ("p1", "main")][c];
        let mut v = json!({
            "stream": stream, "log": log, "ts": ts,
            "afterlog": {"pod": pod, "container": container, "container_id": format!("cid{c}")},
        });
        if let Some(off) = off {
            v["off"] = json!(off);
        }
        LogRecord::parse(v.to_string()).unwrap()
    }

    fn src(items: Vec<Result<LogRecord, u32>>) -> Source {
        Box::new(items.into_iter())
    }

    fn ok(records: &[LogRecord]) -> Vec<Result<LogRecord, u32>> {
        records.iter().cloned().map(Ok).collect()
    }

    /// A source that fails the test if read past its records.
    fn strict(records: &[LogRecord]) -> Source {
        Box::new(
            ok(records)
                .into_iter()
                .chain(std::iter::from_fn(|| panic!("read past what was needed"))),
        )
    }

    fn logs(out: impl Iterator<Item = Result<LogRecord, u32>>) -> Vec<String> {
        out.map(|r| r.unwrap().log().into_owned()).collect()
    }

    #[test]
    fn merges_raw_and_merged_without_duplicates() {
        let a = rec(1, 0, Some(0), "stdout", "a");
        let b = rec(1, 1, Some(0), "stdout", "b");
        let c = rec(2, 0, Some(10), "stderr", "c");
        let d = rec(2, 0, Some(10), "stdout", "d");
        let e = rec(3, 2, None, "stdout", "e");
        // A raw object, out of order and repeating a record as a retried
        // upload would, overlapping the merged object.
        let raw = sorted(ok(&[e.clone(), c.clone(), a.clone(), c.clone()]));
        let merged = src(ok(&[a.clone(), b.clone(), c.clone(), d.clone()]));
        let m = Merge::new([Box::new(raw) as Source, merged], Selection::default());
        assert_eq!(logs(m), ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn passes_errors_through_and_goes_on() {
        let r: Vec<_> = (0..4).map(|i| rec(i, 0, Some(i), "stdout", "x")).collect();
        let one = src(vec![Ok(r[0].clone()), Err(7), Ok(r[2].clone()), Err(8)]);
        let two = src(vec![Err(9), Ok(r[1].clone()), Ok(r[3].clone())]);
        let out: Vec<_> = Merge::new([one, two], Selection::default())
            .map(|x| x.map(|r| r.ts))
            .collect();
        assert_eq!(
            out,
            [Err(9), Ok(0), Err(7), Ok(1), Ok(2), Err(8), Ok(3)],
            "each error where it was met, every record still there"
        );
    }

    #[test]
    fn head_and_until_stop_reading() {
        let r: Vec<_> = (0..6).map(|i| rec(i, 0, Some(i), "stdout", "x")).collect();
        let head = Selection {
            limit: Limit::Head(2),
            ..Selection::default()
        };
        let m = Merge::new([strict(&r[0..2]), strict(&r[2..3])], head);
        assert_eq!(m.map(|x| x.unwrap().ts).collect::<Vec<_>>(), [0, 1]);

        let until = Selection {
            until: Some(3),
            ..Selection::default()
        };
        let m = Merge::new(
            [strict(&r[0..4]), strict(&[r[1].clone(), r[5].clone()])],
            until,
        );
        assert_eq!(m.map(|x| x.unwrap().ts).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn tail_keeps_the_last() {
        let r: Vec<_> = (0..5).map(|i| rec(i, 0, Some(i), "stdout", "x")).collect();
        let tail = |n| Selection {
            limit: Limit::Tail(n),
            ..Selection::default()
        };
        let m = Merge::new([src(ok(&r[..3])), src(ok(&r[2..]))], tail(2));
        assert_eq!(m.map(|x| x.unwrap().ts).collect::<Vec<_>>(), [3, 4]);
        let m = Merge::new([strict(&[])], tail(0));
        assert_eq!(m.count(), 0);
    }

    #[test]
    fn reports_disorder() {
        let a = rec(1, 0, Some(0), "stdout", "a");
        let b = rec(2, 0, Some(1), "stdout", "b");
        let mut m = Merge::new([src(ok(&[b, a]))], Selection::default());
        assert_eq!(m.by_ref().count(), 2);
        assert_eq!(m.out_of_order(), 1);
    }

    /// One generated record and where it is stored: bit k of `mask` puts it
    /// in source k (source 0 is a raw object), `again` repeats it in the raw
    /// object, `shuffle` places it there.
    #[derive(Debug, Clone)]
    struct Placed {
        rec: LogRecord,
        mask: u8,
        again: bool,
        shuffle: u32,
    }

    const SOURCES: usize = 4;

    fn arb_placed() -> impl Strategy<Value = Placed> {
        (
            0u64..12,
            0usize..3,
            prop::option::of(0u64..4),
            prop::sample::select(vec!["stdout", "stderr"]),
            "[abcAB]{0,4}",
            1u8..(1 << SOURCES),
            any::<bool>(),
            any::<u32>(),
        )
            .prop_map(|(ts, c, off, stream, log, mask, again, shuffle)| Placed {
                rec: rec(ts, c, off, stream, &log),
                mask,
                again,
                shuffle,
            })
    }

    fn arb_filter() -> impl Strategy<Value = Selection> {
        (
            prop::sample::subsequence(vec!["p0", "p1", "p9"], 0..=2),
            prop::option::of(prop::sample::select(vec!["main", "side"])),
            prop::option::of(prop::sample::select(vec!["stdout", "stderr"])),
            prop::option::of(0u64..13),
            prop::option::of(0u64..13),
            prop::option::of((0u64..13, prop::option::of(0u64..4))),
            prop_oneof![
                Just(Limit::All),
                (0usize..8).prop_map(Limit::Head),
                (0usize..8).prop_map(Limit::Tail),
            ],
            prop::option::of(arb_line_filter()),
        )
            .prop_map(
                |(pods, container, stream, since, until, after, limit, lines)| Selection {
                    pods: pods.into_iter().map(String::from).collect(),
                    container: container.map(String::from),
                    stream: stream.map(String::from),
                    since,
                    until,
                    after: after.map(|(ts, off)| Position {
                        ts,
                        container_id: String::new(),
                        off,
                        stream: String::new(),
                    }),
                    before: None,
                    lines: lines.map(|f| LineMatch::new(&f).unwrap()),
                    hidden: Default::default(),
                    events: Default::default(),
                    limit,
                },
            )
    }

    fn arb_line_filter() -> impl Strategy<Value = LineFilter> {
        (
            prop::sample::subsequence(vec!["a", "b", "ab", "B"], 0..=2),
            prop::option::of(prop::sample::select(vec!["^a", "b$", "a+b", "c|B"])),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(grep, regex, ignore_case, invert)| LineFilter {
                grep: grep.into_iter().map(String::from).collect(),
                regex: regex.map(String::from),
                ignore_case,
                invert,
            })
    }

    /// A line filter, naively: lower-cased texts for `ignore_case` (the
    /// generated texts are ASCII).
    fn naive_match(f: &LineFilter, log: &str) -> bool {
        let fold = |s: &str| {
            if f.ignore_case {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        let text = fold(log);
        let greps = f.grep.iter().all(|g| text.contains(&fold(g)));
        let regex = f.regex.as_ref().is_none_or(|re| {
            let re = if f.ignore_case {
                format!("(?i){re}")
            } else {
                re.clone()
            };
            regex::Regex::new(&re).unwrap().is_match(log)
        });
        (greps && regex) != f.invert
    }

    /// The naive answer: everything in memory, sorted, deduplicated, filtered.
    fn reference(mut all: Vec<LogRecord>, f: &Selection) -> Vec<LogRecord> {
        all.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        all.dedup_by(|a, b| a.identity() == b.identity());
        all.retain(|r| {
            (f.pods.is_empty() || f.pods.contains(&r.pod))
                && f.container.iter().all(|c| *c == r.container)
                && f.stream.iter().all(|s| *s == r.stream)
                && f.since.iter().all(|&s| r.ts >= s)
                && f.until.iter().all(|&u| r.ts < u)
                && f.after.iter().all(|a| {
                    (a.ts, a.container_id.as_str(), a.off, a.stream.as_str()) < r.order_key()
                })
                && f.lines.iter().all(|m| naive_match(m.spec(), &r.log()))
        });
        match f.limit {
            Limit::All => all,
            Limit::Head(n) => all.into_iter().take(n).collect(),
            Limit::Tail(n) => all.split_off(all.len().saturating_sub(n)),
        }
    }

    /// Builds the sources, with error `k` injected at `errors[k]` (source,
    /// position), and returns them with all records stored.
    fn build(placed: &[Placed], errors: &[(usize, usize)]) -> (Vec<Source>, Vec<LogRecord>) {
        // Same identity must mean same record: keep the first of each.
        let mut unique = BTreeMap::new();
        for p in placed {
            unique.entry(p.rec.order_key()).or_insert(p);
        }
        let mut lists: Vec<Vec<Result<LogRecord, u32>>> = vec![Vec::new(); SOURCES];
        let mut raw = Vec::new();
        let mut all = Vec::new();
        for p in unique.values() {
            for (k, list) in lists.iter_mut().enumerate() {
                if p.mask & (1 << k) != 0 {
                    all.push(p.rec.clone());
                    if k == 0 {
                        raw.push((p.shuffle, p.rec.clone()));
                        if p.again {
                            raw.push((p.shuffle / 2, p.rec.clone()));
                        }
                    } else {
                        list.push(Ok(p.rec.clone()));
                    }
                }
            }
        }
        raw.sort_by_key(|(s, _)| *s);
        lists[0] = raw.into_iter().map(|(_, r)| Ok(r)).collect();
        for (e, &(s, pos)) in errors.iter().enumerate() {
            let list = &mut lists[s % SOURCES];
            list.insert(pos % (list.len() + 1), Err(e as u32));
        }
        let mut lists = lists.into_iter();
        let mut sources: Vec<Source> = vec![Box::new(sorted(lists.next().unwrap()))];
        sources.extend(lists.map(src));
        (sources, all)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn merge_equals_reference(
            placed in prop::collection::vec(arb_placed(), 0..40),
            errors in prop::collection::vec((0usize..SOURCES, any::<usize>()), 0..4),
            selection in arb_filter(),
        ) {
            let (sources, all) = build(&placed, &errors);
            let want = reference(all, &selection);
            let bound = SOURCES + match selection.limit {
                Limit::Tail(n) => n,
                _ => 0,
            };
            let mut m = Merge::new(sources, selection.clone());
            let (mut got, mut errs) = (Vec::new(), Vec::new());
            while let Some(item) = m.next() {
                prop_assert!(m.held() <= bound, "held {} > {}", m.held(), bound);
                match item {
                    Ok(r) => got.push(r),
                    Err(e) => errs.push(e),
                }
            }
            prop_assert_eq!(m.next().map(|r| r.is_ok()), None);
            prop_assert_eq!(m.out_of_order(), 0);
            prop_assert_eq!(got, want);
            errs.sort_unstable();
            if selection.limit == Limit::All && selection.until.is_none() {
                let all: Vec<u32> = (0..errors.len() as u32).collect();
                prop_assert_eq!(errs, all, "every error reported once");
            } else {
                prop_assert!(errs.iter().all(|&e| (e as usize) < errors.len()));
            }
        }
    }
}
