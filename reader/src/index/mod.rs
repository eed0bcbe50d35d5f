//! The job index: what the compactor knows about a job, kept so that a read
//! opens only what its answer needs (the way Iceberg's manifests and Loki's
//! index do it).
//!
//! ```text
//! index/<tool>/<job>.json                 JobManifest: the snapshot pointer
//! index/<tool>/<job>/<day>-<gen>.json.gz  Period: one UTC day's chunks
//! chunks/<tool>/<job>/<first>-<last>-<id>.gz   the chunks themselves
//! index/<tool>/_tool.json                 ToolIndex: the tool's jobs
//! ```
//!
//! A chunk holds the sorted, deduplicated records of any of the job's pods
//! and containers within one UTC day, in gzip members of about 1 MiB whose
//! offsets and time ranges the period lists, so that a tail, a time window
//! or one run is a few range GETs. The manifest names the current period
//! object of each day (periods are written once, under a new generation),
//! and the keys waiting to be deleted (raw objects its chunks hold, replaced
//! chunks and periods, the per-pod layout it migrated). It is the only
//! object the compactor overwrites (conditionally), so a reader that GETs it
//! sees one consistent snapshot: the periods and chunks it names exist
//! until a grace period after they stop being named.
//!
//! Pure: no I/O. The store edge is `job` (reading) and the compactor
//! (writing).

mod chunk_stats;
mod parts;
mod schema;
mod scope;

pub use chunk_stats::ChunkStats;
pub use parts::{ChunkPart, chunk_parts, member_parts};
pub use schema::{
    Chunk, INDEX_VERSION, IndexError, JobManifest, LATEST_PODS, Member, Period, PeriodRef,
    QuotaMark, RunStats, ToolIndex, ToolJob, day_of, encode_period, next_day_start, parse_manifest,
    parse_period, parse_tool_index,
};
pub use scope::Scope;

#[cfg(test)]
mod tests {
    use super::schema::NS_PER_DAY;
    use super::*;
    use crate::selection::Selection;
    use proptest::prelude::*;

    fn member(offset: u64, len: u64, first: u64, last: u64) -> Member {
        Member {
            offset,
            len,
            first_ts: first,
            last_ts: last,
            lines: 1,
        }
    }

    fn chunk() -> Chunk {
        Chunk {
            key: "chunks/t/j/x.gz".into(),
            first_ts: 0,
            last_ts: 399,
            lines: 4,
            bytes: 40,
            text_bytes: 400,
            members: vec![
                member(0, 10, 0, 99),
                member(10, 10, 100, 199),
                member(20, 10, 200, 299),
                member(30, 10, 300, 399),
            ],
            runs: [("a", "c1", 0, 150), ("b", "c2", 300, 399)]
                .map(|(pod, cid, first_ts, last_ts)| RunStats {
                    pod: pod.into(),
                    containers: [("job".to_string(), vec![cid.to_string()])].into(),
                    first_ts,
                    last_ts,
                    lines: 2,
                    ..RunStats::default()
                })
                .into(),
            volume: Vec::new(),
            events: Vec::new(),
            quota: None,
        }
    }

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(day_of(0), 19700101);
        // 2026-12-04T15:31:08Z
        assert_eq!(day_of(1_796_398_268_000_000_000), 20261204);
        assert_eq!(next_day_start(1), NS_PER_DAY);
        assert_eq!(day_of(NS_PER_DAY - 1), 19700101);
        assert_eq!(day_of(NS_PER_DAY), 19700102);
    }

    #[test]
    fn a_full_read_fetches_whole_chunks() {
        let parts = chunk_parts(&chunk(), &Selection::default());
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].range, None);
        assert_eq!(
            (parts[0].lower, parts[0].upper, parts[0].size),
            (0, 399, 40)
        );
    }

    #[test]
    fn member_parts_are_one_member_each() {
        let p = member_parts(&chunk(), &Selection::default());
        assert_eq!(p.len(), 4);
        assert_eq!(p[3].range, Some((30, 40)));
        assert_eq!(p[3].lower, 300);
    }

    #[test]
    fn windows_and_runs_fetch_members() {
        let since = Selection {
            since: Some(250),
            ..Selection::default()
        };
        let p = chunk_parts(&chunk(), &since);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].range, Some((20, 40)));
        assert_eq!(p[0].lower, 200);
        let run_a = Selection {
            pods: vec!["a".into()],
            ..Selection::default()
        };
        let p = chunk_parts(&chunk(), &run_a);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].range, Some((0, 20)));
        let none = Selection {
            pods: vec!["zzz".into()],
            ..Selection::default()
        };
        assert!(chunk_parts(&chunk(), &none).is_empty());
        let container = Selection {
            container: Some("other".into()),
            ..Selection::default()
        };
        assert!(chunk_parts(&chunk(), &container).is_empty());
        let until = Selection {
            until: Some(100),
            ..Selection::default()
        };
        assert_eq!(chunk_parts(&chunk(), &until)[0].range, Some((0, 10)));
    }

    fn manifest(days: &[(u32, u64, u64)]) -> JobManifest {
        JobManifest {
            version: INDEX_VERSION,
            periods: days
                .iter()
                .enumerate()
                .map(|(i, &(day, lines, runs))| PeriodRef {
                    day,
                    key: format!("p{i}"),
                    first_ts: i as u64 * 100,
                    last_ts: i as u64 * 100 + 99,
                    runs,
                    lines,
                    ..PeriodRef::default()
                })
                .collect(),
            ..JobManifest::default()
        }
    }

    #[test]
    fn scopes_pick_periods() {
        let m = manifest(&[(1, 50, 5), (2, 50, 5), (3, 50, 5), (4, 50, 5)]);
        let keys = |s: Scope| {
            let (p, more) = s.select(&m);
            (p.iter().map(|p| p.key.clone()).collect::<Vec<_>>(), more)
        };
        assert_eq!(keys(Scope::ALL).0.len(), 4);
        assert_eq!(
            keys(Scope {
                newest_lines: Some(60),
                ..Scope::ALL
            }),
            (vec!["p2".into(), "p3".into()], true)
        );
        assert_eq!(
            keys(Scope {
                newest_runs: Some(1),
                ..Scope::ALL
            }),
            (vec!["p2".into(), "p3".into()], true)
        );
        assert_eq!(
            keys(Scope {
                since: Some(150),
                until: Some(250),
                ..Scope::ALL
            }),
            (vec!["p1".into(), "p2".into()], false)
        );
        assert_eq!(
            keys(Scope {
                newest_lines: Some(1000),
                ..Scope::ALL
            }),
            (
                vec!["p0".into(), "p1".into(), "p2".into(), "p3".into()],
                false
            )
        );
    }

    #[test]
    fn objects_roundtrip() {
        let p = Period {
            version: INDEX_VERSION,
            day: 20261204,
            chunks: vec![chunk()],
        };
        assert_eq!(parse_period("k", &encode_period(&p)).unwrap(), p);
        assert!(matches!(
            parse_period("k", b"{}"),
            Err(IndexError::Gzip { .. })
        ));
        let m = manifest(&[(1, 1, 1)]);
        let body = serde_json::to_vec(&m).unwrap();
        assert_eq!(parse_manifest("k", &body).unwrap(), m);
        assert!(matches!(
            parse_manifest("k", br#"{"version":9,"generation":1}"#),
            Err(IndexError::Version { version: 9, .. })
        ));
    }

    proptest! {
        /// Whatever the selection, the parts cover every member a selected
        /// record can be in, in order, without overlap.
        #[test]
        fn parts_cover_what_the_filter_can_select(
            since in proptest::option::of(0u64..450),
            until in proptest::option::of(0u64..450),
            pod in proptest::option::of(prop_oneof![Just("a"), Just("b"), Just("c")]),
        ) {
            let c = chunk();
            let f = Selection {
                since,
                until,
                pods: pod.iter().map(|p| p.to_string()).collect(),
                ..Selection::default()
            };
            let parts = chunk_parts(&c, &f);
            let covered = |m: &Member| parts.iter().any(|p| {
                let (a, b) = p.range.unwrap_or((0, c.bytes));
                a <= m.offset && m.offset + m.len <= b
            });
            for m in &c.members {
                let in_window = since.is_none_or(|s| m.last_ts >= s) && until.is_none_or(|u| m.first_ts < u);
                let in_run = c.runs.iter().any(|r| f.pods.is_empty() || f.pods.contains(&r.pod) && r.first_ts <= m.last_ts && m.first_ts <= r.last_ts);
                if in_window && in_run {
                    prop_assert!(covered(m), "{m:?} not fetched for {f:?}");
                }
            }
            for w in parts.windows(2) {
                let (a, b) = (w[0].range.unwrap(), w[1].range.unwrap());
                prop_assert!(a.1 < b.0, "parts touch or overlap: {parts:?}");
            }
        }
    }
}
