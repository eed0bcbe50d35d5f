//! A chunk's statistics, gathered as its records are written.

use super::schema::{Chunk, QuotaMark, RunStats};
use crate::record::{LogRecord, tells_kind};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

/// Gathers a chunk's statistics from the records written into it, in
/// order.
#[derive(Debug, Default)]
pub struct ChunkStats {
    runs: BTreeMap<String, RunStats>,
    seen_ids: HashSet<String>,
    volume: BTreeMap<u64, [u64; 4]>,
    events: BTreeMap<u64, [u64; 2]>,
    quota: Vec<QuotaMark>,
    kind: String,
}

impl ChunkStats {
    pub fn note(&mut self, r: &LogRecord) {
        let run = self.runs.entry(r.pod.clone()).or_insert_with(|| RunStats {
            pod: r.pod.clone(),
            first_ts: r.ts,
            last_ts: r.ts,
            ..RunStats::default()
        });
        run.first_ts = run.first_ts.min(r.ts);
        run.last_ts = run.last_ts.max(r.ts);
        run.lines += 1;
        run.bytes += r.line.len() as u64 + 1;
        let minute = r.ts / 60_000_000_000;
        if r.is_k8s_event() {
            let v = self.events.entry(minute).or_default();
            v[0] += 1;
            v[1] += r.log_len as u64;
        } else {
            let v = self.volume.entry(minute).or_default();
            let at = if r.stream == "stderr" { 2 } else { 0 };
            v[at] += 1;
            v[at + 1] += r.log_len as u64;
        }
        if let Some(e) = r.event {
            self.quota.push(QuotaMark::of(r.ts, &e));
        }
        if self.seen_ids.contains(&r.container_id) {
            return;
        }
        self.seen_ids.insert(r.container_id.clone());
        let ids = run.containers.entry(r.container.clone()).or_default();
        // An event's "container id" is its uid: one per Event object, not a
        // container instance, so none is kept (the index would grow with
        // every probe failure).
        if !r.is_k8s_event() && !ids.contains(&r.container_id) {
            ids.push(r.container_id.clone());
        }
        // Node and kind ride on every record: the first of each container
        // instance will do. Pushed lines (`@` sources) and Kubernetes events
        // (container `@events`) do not tell the kind: their labels are
        // guessed from names (docs/design.md §11, §13).
        #[derive(Deserialize)]
        struct L {
            afterlog: Option<A>,
        }
        #[derive(Deserialize)]
        struct A {
            node: Option<String>,
            kind: Option<String>,
        }
        if let Ok(L { afterlog: Some(a) }) = serde_json::from_slice::<L>(&r.line) {
            if run.node.is_empty() {
                run.node = a.node.unwrap_or_default();
            }
            // A pushed source's "run" is the source: its kind (`custom`,
            // `platform`) is its own. A real pod's is its containers'.
            if run.kind.is_empty() && !r.is_k8s_event() {
                run.kind = a.kind.unwrap_or_default();
            }
            if self.kind.is_empty() && tells_kind(&r.pod, &r.container) {
                self.kind.clone_from(&run.kind);
            }
        }
    }

    /// The job's kind as the records tell it, if any did.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Completes `chunk` (key, times, sizes and members set by the writer).
    pub fn finish(self, chunk: &mut Chunk) {
        chunk.runs = self.runs.into_values().collect();
        chunk.volume = self
            .volume
            .into_iter()
            .map(|(m, v)| [m, v[0], v[1], v[2], v[3]])
            .collect();
        chunk.events = self
            .events
            .into_iter()
            .map(|(m, v)| [m, v[0], v[1]])
            .collect();
        chunk.quota = Some(self.quota);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(pod: &str, container: &str, kind: &str, ts: u64) -> LogRecord {
        let stream = if container == "@events" {
            "event"
        } else {
            "stdout"
        };
        LogRecord::parse(
            json!({"ts": ts, "stream": stream, "log": "x",
                "afterlog": {"pod": pod, "container": container, "kind": kind, "node": "n",
                    "container_id": format!("{pod}/{container}")}})
            .to_string(),
        )
        .unwrap()
    }

    /// Kubernetes events and pushed lines carry a kind guessed from names:
    /// neither sets the job's, events not a run's either (a pushed source
    /// keeps its own); a container's line does.
    #[test]
    fn only_container_lines_tell_the_kind() {
        let mut s = ChunkStats::default();
        s.note(&rec("p-1", "@events", "continuous", 1));
        s.note(&rec("@events", "@events", "job", 2));
        s.note(&rec("@custom", "custom", "custom", 3));
        assert_eq!(s.kind(), "");
        s.note(&rec("p-1", "job", "cronjob", 4));
        assert_eq!(s.kind(), "cronjob");
        let mut chunk = Chunk::default();
        s.finish(&mut chunk);
        let run = chunk.runs.iter().find(|r| r.pod == "p-1").unwrap();
        assert_eq!(run.kind, "cronjob");
        let kind_of = |pod: &str| &chunk.runs.iter().find(|r| r.pod == pod).unwrap().kind;
        assert_eq!(kind_of("@events"), "");
        assert_eq!(kind_of("@custom"), "custom");
        assert_eq!(run.lines, 2);
        assert!(run.containers.contains_key("@events"));
        assert!(
            run.containers["@events"].is_empty(),
            "an event's uid is no container instance"
        );
        // Events are counted on their own, not as stdout.
        assert_eq!(chunk.events, [[0, 2, 2]]);
        assert_eq!(chunk.volume, [[0, 2, 2, 0, 0]]);
    }
}
