//! A job's volume over time: lines and bytes of `log` text per step and
//! stream (Kubernetes events on their own), its quota events and its runs'
//! first and last records. Counts
//! come per minute from the job index where it has them, and from records
//! read elsewhere; this module puts both into aligned buckets. Pure.

use crate::index::QuotaMark;
use crate::record::LogRecord;
use crate::selection::Events;
use std::collections::BTreeMap;
use thiserror::Error;

pub const NS_PER_SEC: u64 = 1_000_000_000;
/// The index counts per minute: every step is a whole number of them.
pub const MINUTE_NS: u64 = 60 * NS_PER_SEC;
/// The steps a volume picks from when none is asked for (s), smallest first.
pub const DEFAULT_STEPS: [u64; 6] = [60, 300, 900, 3600, 21_600, 86_400];
/// At most this many buckets with the default step (while a step of
/// [`DEFAULT_STEPS`] gives so few).
pub const DEFAULT_BUCKETS: u64 = 200;
/// At most this many buckets in one answer.
pub const MAX_BUCKETS: u64 = 10_000;

/// Why a window and step give no buckets.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VolumeError {
    #[error("step={0}s: a step is a positive whole number of minutes (60s, 5m, 1h, 1d)")]
    Step(u64),
    #[error("since must be before until")]
    Empty,
    #[error(
        "{buckets} buckets of {step_secs} s between since and until; at most {MAX_BUCKETS}: pass a larger step or a shorter window"
    )]
    TooMany { buckets: u64, step_secs: u64 },
}

/// The buckets of a volume: `[since, until)` in steps of `step_ns`, both
/// ends multiples of the step from the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub since: u64,
    pub until: u64,
    pub step_ns: u64,
}

fn align_down(t: u64, step: u64) -> u64 {
    t - t % step
}

fn align_up(t: u64, step: u64) -> u64 {
    align_down(t, step).saturating_add(if t.is_multiple_of(step) { 0 } else { step })
}

impl Buckets {
    /// The buckets covering `[since, until)`, widened to whole steps: of
    /// `step_secs`, or else the smallest default step that gives at most
    /// [`DEFAULT_BUCKETS`]. An empty window (`since == until`) has none.
    pub fn new(since: u64, until: u64, step_secs: Option<u64>) -> Result<Buckets, VolumeError> {
        if since > until {
            return Err(VolumeError::Empty);
        }
        let step_secs = match step_secs {
            Some(s) if s == 0 || !s.is_multiple_of(60) || s > u64::MAX / NS_PER_SEC => {
                return Err(VolumeError::Step(s));
            }
            Some(s) => s,
            None => DEFAULT_STEPS
                .into_iter()
                .find(|&s| Self::count(since, until, s * NS_PER_SEC) <= DEFAULT_BUCKETS)
                .unwrap_or(DEFAULT_STEPS[DEFAULT_STEPS.len() - 1]),
        };
        let step_ns = step_secs * NS_PER_SEC;
        let buckets = Self::count(since, until, step_ns);
        if buckets > MAX_BUCKETS {
            return Err(VolumeError::TooMany { buckets, step_secs });
        }
        let since = align_down(since, step_ns);
        Ok(Buckets {
            since,
            until: since + buckets * step_ns,
            step_ns,
        })
    }

    /// How many steps cover `[since, until)`.
    fn count(since: u64, until: u64, step_ns: u64) -> u64 {
        if since == until {
            return 0;
        }
        (align_up(until, step_ns) - align_down(since, step_ns)) / step_ns
    }

    pub fn len(&self) -> usize {
        ((self.until - self.since) / self.step_ns) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.since == self.until
    }

    pub fn contains(&self, ts: u64) -> bool {
        (self.since..self.until).contains(&ts)
    }

    /// The start of bucket `i`.
    pub fn start(&self, i: usize) -> u64 {
        self.since + i as u64 * self.step_ns
    }

    fn index(&self, ts: u64) -> Option<usize> {
        self.contains(ts)
            .then(|| ((ts - self.since) / self.step_ns) as usize)
    }
}

/// The time ranges whose counts come from records read rather than from
/// the index, widened to whole minutes (half-open, ns, sorted, disjoint):
/// where objects not compacted yet (or chunks indexed without counts) may
/// hold records. There the index's minutes are left out, so nothing is
/// counted twice; the read merges everything that overlaps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadRanges(Vec<(u64, u64)>);

impl ReadRanges {
    /// The ranges covering each `[lower, upper]` (inclusive) of `spans`,
    /// clipped to `[since, until)`.
    pub fn new(spans: impl IntoIterator<Item = (u64, u64)>, since: u64, until: u64) -> ReadRanges {
        let mut v: Vec<(u64, u64)> = spans
            .into_iter()
            .map(|(lo, hi)| (lo.max(since), hi.saturating_add(1).min(until)))
            .filter(|(lo, hi)| lo < hi)
            .map(|(lo, hi)| (align_down(lo, MINUTE_NS), align_up(hi, MINUTE_NS)))
            .collect();
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        ReadRanges(out)
    }

    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.0
    }

    pub fn contains(&self, ts: u64) -> bool {
        let i = self.0.partition_point(|r| r.1 <= ts);
        self.0.get(i).is_some_and(|r| r.0 <= ts)
    }
}

/// A run's first and last record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpan {
    pub run: String,
    pub first_ts: u64,
    pub last_ts: u64,
}

/// One bucket's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub stdout_lines: u64,
    pub stdout_bytes: u64,
    pub stderr_lines: u64,
    pub stderr_bytes: u64,
    /// Kubernetes events (docs/design.md §13).
    pub event_lines: u64,
    pub event_bytes: u64,
}

impl Counts {
    fn add(&mut self, v: [u64; 6]) {
        self.stdout_lines += v[0];
        self.stdout_bytes += v[1];
        self.stderr_lines += v[2];
        self.stderr_bytes += v[3];
        self.event_lines += v[4];
        self.event_bytes += v[5];
    }
}

/// A job's volume in buckets: what [`Volume::finish`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCounts {
    pub buckets: Vec<Counts>,
    /// In the window, by time.
    pub quota: Vec<QuotaMark>,
    /// The runs with records in the window, or before and after it, by
    /// first record.
    pub runs: Vec<RunSpan>,
}

/// Gathers a job's counts per minute, from the index and from records,
/// before the window is known (a default window is the job's whole life).
#[derive(Debug, Clone, Default)]
pub struct Volume {
    read: ReadRanges,
    /// Which lines count: events, container lines or both.
    events: Events,
    /// Minute → `[stdout lines, stdout bytes, stderr lines, stderr bytes,
    /// event lines, event bytes]`.
    minutes: BTreeMap<u64, [u64; 6]>,
    quota: Vec<QuotaMark>,
    runs: BTreeMap<String, (u64, u64)>,
    /// The first and last record's time (the index's to the minute).
    extent: Option<(u64, u64)>,
}

impl Volume {
    /// Counts that take records, not the index's minutes, within `read`.
    pub fn new(read: ReadRanges) -> Volume {
        Volume {
            read,
            ..Volume::default()
        }
    }

    /// Counts only what `events` selects: Kubernetes events, container
    /// lines (with the quota events they carry), or both.
    pub fn of_events(self, events: Events) -> Volume {
        Volume { events, ..self }
    }

    /// Whether a run with these containers (none known: any) counts.
    pub fn takes_run<'a>(&self, mut containers: impl Iterator<Item = &'a String>) -> bool {
        let take = |c: &String| self.events.takes(c);
        match containers.next() {
            None => true,
            Some(first) => take(first) || containers.any(take),
        }
    }

    fn widen(&mut self, first: u64, last: u64) {
        let e = self.extent.get_or_insert((first, last));
        e.0 = e.0.min(first);
        e.1 = e.1.max(last);
    }

    /// A chunk's per-minute counts (`[minute, stdout lines, stdout bytes,
    /// stderr lines, stderr bytes]`), but for the minutes read.
    pub fn add_minutes(&mut self, volume: &[[u64; 5]]) {
        if self.events == Events::Only {
            return;
        }
        for &[minute, a, b, c, d] in volume {
            self.add_minute(minute, [a, b, c, d, 0, 0]);
        }
    }

    /// A chunk's per-minute counts of Kubernetes events (`[minute, lines,
    /// bytes]`), but for the minutes read.
    pub fn add_event_minutes(&mut self, events: &[[u64; 3]]) {
        if self.events == Events::Omit {
            return;
        }
        for &[minute, lines, bytes] in events {
            self.add_minute(minute, [0, 0, 0, 0, lines, bytes]);
        }
    }

    fn add_minute(&mut self, minute: u64, counts: [u64; 6]) {
        let start = minute.saturating_mul(MINUTE_NS);
        if self.read.contains(start) || counts[0] + counts[2] + counts[4] == 0 {
            return;
        }
        self.widen(start, start.saturating_add(MINUTE_NS - 1));
        let m = self.minutes.entry(minute).or_default();
        for (n, v) in m.iter_mut().zip(counts) {
            *n += v;
        }
    }

    /// A chunk's quota events, but for those in the minutes read.
    pub fn add_quota(&mut self, marks: &[QuotaMark]) {
        if self.events == Events::Only {
            return;
        }
        self.quota
            .extend(marks.iter().filter(|q| !self.read.contains(q.ts)).cloned());
    }

    /// A run's first and last record as a chunk records them.
    pub fn add_run(&mut self, run: &str, first_ts: u64, last_ts: u64) {
        match self.runs.get_mut(run) {
            Some(r) => *r = (r.0.min(first_ts), r.1.max(last_ts)),
            None => {
                self.runs.insert(run.to_string(), (first_ts, last_ts));
            }
        }
    }

    /// A record read: its stream (anything but `stderr` counts as
    /// stdout, as the index does; events on their own), text bytes, quota
    /// event and run. Records `events` leaves out are not counted.
    pub fn add_record(&mut self, r: &LogRecord) {
        if !self.events.takes(&r.container) {
            return;
        }
        self.widen(r.ts, r.ts);
        let m = self.minutes.entry(r.ts / MINUTE_NS).or_default();
        let at = if r.is_k8s_event() {
            4
        } else if r.stream == "stderr" {
            2
        } else {
            0
        };
        m[at] += 1;
        m[at + 1] += r.log_len as u64;
        if let Some(e) = &r.event {
            self.quota.push(QuotaMark::of(r.ts, e));
        }
        self.add_run(&r.pod, r.ts, r.ts);
    }

    /// The first and last record's time (the index's to the minute), if
    /// any was counted.
    pub fn extent(&self) -> Option<(u64, u64)> {
        self.extent
    }

    /// The counts in `buckets`.
    pub fn finish(mut self, buckets: &Buckets) -> VolumeCounts {
        let mut out = vec![Counts::default(); buckets.len()];
        let first_minute = buckets.since / MINUTE_NS;
        for (&minute, &v) in self.minutes.range(first_minute..) {
            match buckets.index(minute.saturating_mul(MINUTE_NS)) {
                Some(i) => out[i].add(v),
                None => break,
            }
        }
        self.quota.retain(|q| buckets.contains(q.ts));
        self.quota
            .sort_by(|a, b| (a.ts, &a.event, a.records).cmp(&(b.ts, &b.event, b.records)));
        let mut runs: Vec<RunSpan> = self
            .runs
            .into_iter()
            .filter(|(_, (first, last))| *first < buckets.until && *last >= buckets.since)
            .map(|(run, (first_ts, last_ts))| RunSpan {
                run,
                first_ts,
                last_ts,
            })
            .collect();
        runs.sort_by(|a, b| (a.first_ts, &a.run).cmp(&(b.first_ts, &b.run)));
        VolumeCounts {
            buckets: out,
            quota: self.quota,
            runs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::ChunkStats;
    use crate::quota::QuotaEvent;
    use proptest::prelude::*;

    const H: u64 = 3600 * NS_PER_SEC;

    fn rec(ts: u64, stream: &str, len: usize, pod: &str) -> LogRecord {
        LogRecord {
            ts,
            container_id: "c".into(),
            off: Some(ts),
            stream: stream.into(),
            log_len: len,
            container: "job".into(),
            pod: pod.into(),
            event: None,
            line: b"{}".to_vec(),
        }
    }

    #[test]
    fn buckets_align_to_the_step() {
        let b = Buckets::new(H + 7 * MINUTE_NS, 3 * H + 1, Some(3600)).unwrap();
        assert_eq!((b.since, b.until, b.len()), (H, 4 * H, 3));
        assert_eq!(b.start(2), 3 * H);
        let exact = Buckets::new(H, 3 * H, Some(3600)).unwrap();
        assert_eq!(exact.len(), 2);
        assert!(Buckets::new(0, 0, None).unwrap().is_empty());
        assert_eq!(Buckets::new(2, 1, None), Err(VolumeError::Empty));
        assert_eq!(Buckets::new(0, H, Some(90)), Err(VolumeError::Step(90)));
        assert_eq!(Buckets::new(0, H, Some(0)), Err(VolumeError::Step(0)));
        assert!(matches!(
            Buckets::new(0, 10_001 * MINUTE_NS, Some(60)),
            Err(VolumeError::TooMany {
                buckets: 10_001,
                ..
            })
        ));
        assert_eq!(
            Buckets::new(0, 10_000 * MINUTE_NS, Some(60)).unwrap().len(),
            10_000
        );
    }

    #[test]
    fn the_default_step_is_the_smallest_giving_200_buckets() {
        let step = |since: u64, until: u64| Buckets::new(since, until, None).unwrap().step_ns;
        assert_eq!(step(0, 200 * MINUTE_NS), MINUTE_NS);
        assert_eq!(step(0, 200 * MINUTE_NS + 1), 5 * MINUTE_NS);
        // Alignment counts: 200 minutes not on a minute boundary span 201.
        assert_eq!(step(1, 200 * MINUTE_NS + 1), 5 * MINUTE_NS);
        assert_eq!(step(0, 30 * 24 * H), 6 * H);
        assert_eq!(step(0, 7 * 24 * H), H);
        // Past 200 days the largest default step is taken anyway.
        assert_eq!(step(0, 1000 * 24 * H), 24 * H);
    }

    #[test]
    fn read_ranges_are_whole_minutes_merged() {
        let r = ReadRanges::new(
            [
                (MINUTE_NS + 5, MINUTE_NS + 6),
                (2 * MINUTE_NS, 2 * MINUTE_NS),
                (10 * MINUTE_NS, u64::MAX),
            ],
            0,
            20 * MINUTE_NS,
        );
        assert_eq!(
            r.ranges(),
            &[(MINUTE_NS, 3 * MINUTE_NS), (10 * MINUTE_NS, 20 * MINUTE_NS)]
        );
        assert!(r.contains(MINUTE_NS) && r.contains(3 * MINUTE_NS - 1));
        assert!(!r.contains(3 * MINUTE_NS) && !r.contains(0));
        assert!(r.contains(19 * MINUTE_NS) && !r.contains(20 * MINUTE_NS));
        assert!(ReadRanges::new([(5, 6)], 10, 20).ranges().is_empty());
    }

    #[test]
    fn read_minutes_are_not_counted_from_the_index() {
        let read = ReadRanges::new([(MINUTE_NS, MINUTE_NS)], 0, u64::MAX);
        let mut v = Volume::new(read);
        v.add_minutes(&[[0, 1, 10, 0, 0], [1, 5, 50, 5, 50]]);
        v.add_record(&rec(MINUTE_NS + 1, "stderr", 7, "p"));
        v.add_quota(&[
            QuotaMark {
                ts: MINUTE_NS + 2,
                event: "quota_exceeded".into(),
                ..QuotaMark::default()
            },
            QuotaMark {
                ts: 3,
                event: "quota_dropped".into(),
                records: 4,
                bytes: 40,
            },
        ]);
        let b = Buckets::new(0, 2 * MINUTE_NS, Some(60)).unwrap();
        let c = v.finish(&b);
        assert_eq!(c.buckets[0].stdout_lines, 1);
        assert_eq!(
            c.buckets[1],
            Counts {
                stderr_lines: 1,
                stderr_bytes: 7,
                ..Counts::default()
            }
        );
        assert_eq!(c.quota.len(), 1);
        assert_eq!(c.quota[0].records, 4);
    }

    #[test]
    fn runs_overlapping_the_window_are_kept() {
        let mut v = Volume::default();
        v.add_run("before", 0, H - 1);
        v.add_run("across", 0, 5 * H);
        v.add_run("inside", 2 * H, 2 * H + 5);
        v.add_run("inside", H + 1, 2 * H);
        v.add_run("after", 3 * H, 4 * H);
        let c = v.finish(&Buckets::new(H, 3 * H, Some(3600)).unwrap());
        let runs: Vec<_> = c
            .runs
            .iter()
            .map(|r| (r.run.as_str(), r.first_ts, r.last_ts))
            .collect();
        assert_eq!(runs, [("across", 0, 5 * H), ("inside", H + 1, 2 * H + 5)]);
    }

    proptest! {
        /// Counting a chunk's per-minute counts (as the compactor records
        /// them) gives the buckets counting its records gives, whatever
        /// the step, the window, and the part of it that is read.
        #[test]
        fn minute_counts_equal_record_counts(
            recs in proptest::collection::vec(
                (0u64..6 * H, 0u8..3, 0usize..200, 0u8..3, proptest::option::of(0u64..3)),
                0..200),
            step_minutes in 1u64..180,
            since in 0u64..3 * H,
            len in 0u64..6 * H,
            read in proptest::option::of((0u64..6 * H, 0u64..H)),
        ) {
            let records: Vec<LogRecord> = recs
                .iter()
                .map(|&(ts, stream, n, pod, ev)| {
                    let stream = ["stdout", "stderr", "event"][stream as usize];
                    let mut r = rec(ts, stream, n, &format!("p{pod}"));
                    // Quota markers ride on container lines.
                    let ev = if stream == "event" {
                        r.container = "@events".into();
                        None
                    } else {
                        ev
                    };
                    r.event = ev.map(|k| match k {
                        0 => QuotaEvent::Exceeded { limit_bytes: 1, window_seconds: 60, resets_at: ts },
                        _ => QuotaEvent::Dropped { records: k, bytes: 10 * k, from: 0, until: ts },
                    });
                    r
                })
                .collect();
            let buckets = Buckets::new(since, since + len, Some(step_minutes * 60)).unwrap();

            let mut by_record = Volume::default();
            for r in &records {
                by_record.add_record(r);
            }
            let expected = by_record.clone_finish(&buckets);

            let read = ReadRanges::new(read.map(|(lo, n)| (lo, lo + n)), 0, u64::MAX);
            let mut stats = ChunkStats::default();
            for r in &records {
                stats.note(r);
            }
            let mut chunk = crate::index::Chunk::default();
            stats.finish(&mut chunk);
            let mut by_minute = Volume::new(read.clone());
            by_minute.add_minutes(&chunk.volume);
            by_minute.add_event_minutes(&chunk.events);
            by_minute.add_quota(chunk.quota.as_deref().unwrap_or_default());
            for r in &chunk.runs {
                by_minute.add_run(&r.pod, r.first_ts, r.last_ts);
            }
            for r in records.iter().filter(|r| read.contains(r.ts)) {
                by_minute.add_record(r);
            }
            let got = by_minute.finish(&buckets);
            prop_assert_eq!(got, expected);

            let total: u64 = records
                .iter()
                .filter(|r| buckets.contains(r.ts))
                .map(|r| r.log_len as u64)
                .sum();
            let counted = |c: &VolumeCounts| {
                c.buckets.iter().map(|b| b.stdout_bytes + b.stderr_bytes + b.event_bytes).sum::<u64>()
            };
            prop_assert_eq!(counted(&by_record.clone_finish(&buckets)), total);

            // Events alone, or the container lines alone: the same from the
            // index as from the records, and together the whole.
            let mut parts = 0;
            for events in [Events::Only, Events::Omit] {
                let mut by_record = Volume::default().of_events(events);
                for r in &records {
                    by_record.add_record(r);
                }
                let mut by_minute = Volume::new(read.clone()).of_events(events);
                by_minute.add_minutes(&chunk.volume);
                by_minute.add_event_minutes(&chunk.events);
                by_minute.add_quota(chunk.quota.as_deref().unwrap_or_default());
                for r in records.iter().filter(|r| read.contains(r.ts)) {
                    by_minute.add_record(r);
                }
                let (a, b) = (by_record.finish(&buckets), by_minute.finish(&buckets));
                prop_assert_eq!(&a.buckets, &b.buckets);
                prop_assert_eq!(&a.quota, &b.quota);
                if events == Events::Only {
                    prop_assert!(a.quota.is_empty());
                    prop_assert!(a.buckets.iter().all(|c| c.stdout_lines + c.stderr_lines == 0));
                } else {
                    prop_assert!(a.buckets.iter().all(|c| c.event_lines == 0));
                }
                parts += counted(&a);
            }
            prop_assert_eq!(parts, total);
        }
    }

    impl Volume {
        fn clone_finish(&self, b: &Buckets) -> VolumeCounts {
            self.clone().finish(b)
        }
    }
}
