//! The demo data set: laid out as Fluent Bit and the compactor write it,
//! readable record by record, showing what it promises, and the same every
//! time it is built.

use afterlog::demo::{self, DemoSummary};
use afterlog_contract::layout::{ObjectKind, parse_object_key};
use afterlog_reader::job::gunzip;
use afterlog_reader::meta::PodMeta;
use afterlog_reader::record::{LogRecord, QuotaEvent};
use afterlog_reader::{Selection, StoreConfig, open, read_job};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// 2026-11-26T09:41:07.123456789Z: not on an hour, so anchors are computed.
const NOW: u64 = 1_795_772_467_123_456_789;

/// Every file under `dir`, by key (`/`-separated, relative).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let key = path.strip_prefix(root).unwrap().to_str().unwrap();
                out.insert(key.replace('\\', "/"), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn build(dir: &Path) -> (DemoSummary, BTreeMap<String, Vec<u8>>) {
    let summary = demo::build(dir, NOW).unwrap();
    (summary, tree(dir))
}

struct Object {
    key: String,
    text: Vec<u8>,
    records: Vec<(LogRecord, Value)>,
}

/// Every raw and data object, decompressed and parsed.
fn objects(tree: &BTreeMap<String, Vec<u8>>) -> Vec<Object> {
    let mut out = Vec::new();
    for (key, body) in tree.iter().filter(|(k, _)| !k.starts_with("meta/")) {
        parse_object_key(key).unwrap_or_else(|e| panic!("{e}"));
        let (text, err) = gunzip(body);
        assert!(err.is_none(), "{key}: {err:?}");
        assert!(
            text.ends_with(b"\n"),
            "{key}: JSON lines end with a line break"
        );
        let records = text[..text.len() - 1]
            .split(|&b| b == b'\n')
            .map(|line| {
                let r = LogRecord::parse(line)
                    .unwrap_or_else(|e| panic!("{key}: {e}: {}", String::from_utf8_lossy(line)));
                (r, serde_json::from_slice(line).unwrap())
            })
            .collect();
        out.push(Object {
            key: key.clone(),
            text,
            records,
        });
    }
    out
}

#[test]
fn layout_records_and_features() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, tree) = build(dir.path());
    let objects = objects(&tree);
    assert_eq!(summary.objects, tree.len());
    assert!(
        tree.keys()
            .all(|k| ["raw/", "data/", "meta/"].iter().any(|p| k.starts_with(p)))
    );

    // Jobs as described, with the kinds the default label rules give.
    let mut kinds: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut pods: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    // Kubernetes events (pseudo-container `@events`) never set a job's kind
    // and pods named `@…` are not runs (docs/design.md §13).
    let container_lines = objects
        .iter()
        .flat_map(|o| &o.records)
        .filter(|(r, _)| !r.container.starts_with('@'));
    for (_, v) in container_lines {
        let a = &v["afterlog"];
        let job = (
            a["tool"].as_str().unwrap().to_string(),
            a["job"].as_str().unwrap().to_string(),
        );
        kinds
            .entry(job.clone())
            .or_default()
            .insert(a["kind"].as_str().unwrap().into());
        pods.entry(job)
            .or_default()
            .insert(a["pod"].as_str().unwrap().into());
    }
    let expected = [
        ("fourohfour", "rebuild-index", "job"),
        ("cronbot", "update-stats", "cronjob"),
        ("wiki-stats", "wiki-stats", "webservice"),
        ("wiki-stats", "build", "build"),
        ("chatterbox", "firehose", "continuous"),
    ];
    for (tool, job, kind) in expected {
        let key = (tool.to_string(), job.to_string());
        assert_eq!(
            kinds[&key],
            BTreeSet::from([kind.to_string()]),
            "{tool}/{job}"
        );
        assert!(
            summary
                .jobs
                .iter()
                .any(|j| (j.tool.as_str(), j.job.as_str(), j.kind.as_str()) == (tool, job, kind)),
            "{tool}/{job} missing from the summary"
        );
    }
    assert_eq!(
        kinds.len(),
        summary.jobs.len(),
        "every stored job is in the summary"
    );
    let cron_pods = &pods[&("cronbot".into(), "update-stats".into())];
    assert!(cron_pods.len() >= 3, "{cron_pods:?}");
    assert!(cron_pods.iter().all(|p| p.starts_with("update-stats-")));
    assert_eq!(pods[&("wiki-stats".into(), "wiki-stats".into())].len(), 2);
    assert!(
        !tree.keys().any(|k| k.contains("coredns")),
        "system pods are not stored"
    );

    // Distinct records: what the summary counts.
    let distinct: HashSet<_> = objects
        .iter()
        .flat_map(|o| &o.records)
        .map(|(r, _)| r.identity())
        .collect();
    assert_eq!(distinct.len(), summary.records);

    // The quota: a marker, then a summary, both of the noisy tool.
    let events: Vec<_> = objects
        .iter()
        .flat_map(|o| &o.records)
        .filter_map(|(r, v)| {
            r.event
                .map(|e| (e, v["afterlog"]["tool"].as_str().unwrap()))
        })
        .collect();
    assert!(
        events
            .iter()
            .any(|(e, t)| matches!(e, QuotaEvent::Exceeded { .. }) && *t == "chatterbox")
    );
    assert!(
        events
            .iter()
            .any(|(e, t)| matches!(e, QuotaEvent::Dropped { .. }) && *t == "chatterbox")
    );
    assert!(events.iter().all(|(_, t)| *t == "chatterbox"), "{events:?}");

    // A retried upload: the same records under a second key.
    let raw: Vec<_> = objects
        .iter()
        .filter(|o| o.key.starts_with("raw/"))
        .collect();
    let mut bodies: BTreeMap<&[u8], Vec<&str>> = BTreeMap::new();
    for o in &raw {
        bodies.entry(&o.text).or_default().push(&o.key);
    }
    let dups: Vec<_> = bodies.values().filter(|k| k.len() > 1).collect();
    assert_eq!(dups.len(), 1, "{dups:?}");
    let first_secs = |k: &str| match parse_object_key(k).unwrap().kind {
        ObjectKind::Raw { first_secs, .. } => first_secs,
        ObjectKind::Data { .. } => unreachable!(),
    };
    assert_eq!(first_secs(dups[0][0]), first_secs(dups[0][1]));

    // Key time is the first record's event time.
    for o in &raw {
        assert_eq!(
            first_secs(&o.key) as u64,
            o.records[0].0.ts / 1_000_000_000,
            "{}",
            o.key
        );
    }

    // An upload PUT after a later one (upload time = modification time).
    let modified = |k: &str| {
        std::fs::metadata(dir.path().join(k))
            .unwrap()
            .modified()
            .unwrap()
    };
    let mut by_route: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for o in &raw {
        by_route
            .entry(o.key.rsplit_once('/').unwrap().0)
            .or_default()
            .push(&o.key);
    }
    assert!(
        by_route.values().any(|keys| keys
            .windows(2)
            .any(|w| first_secs(w[0]) < first_secs(w[1]) && modified(w[0]) > modified(w[1]))),
        "no upload came late"
    );

    // A container restart: two container ids on one route, offsets from 0 again.
    let restarted = objects
        .iter()
        .flat_map(|o| &o.records)
        .filter(|(r, _)| r.off == Some(0))
        .map(|(r, _)| (r.pod.clone(), r.container.clone()))
        .fold(BTreeMap::<_, usize>::new(), |mut m, k| {
            *m.entry(k).or_default() += 1;
            m
        });
    assert!(restarted.values().any(|&n| n == 2), "{restarted:?}");

    // Streams, a joined partial line cut at the limit, non-ASCII text.
    let all: Vec<_> = objects.iter().flat_map(|o| &o.records).collect();
    let streams: BTreeSet<_> = all.iter().map(|(r, _)| r.stream.as_str()).collect();
    assert_eq!(streams, BTreeSet::from(["event", "stderr", "stdout"]));

    // Kubernetes events inline: the kubelet's on the crashed replica's pod,
    // the CronJob controller's under the cron job's `@events`.
    let event_lines = |tool: &str, pod: &dyn Fn(&str) -> bool| -> Vec<String> {
        all.iter()
            .filter(|(r, v)| {
                r.container == "@events" && v["afterlog"]["tool"] == tool && pod(&r.pod)
            })
            .map(|(r, _)| r.log().into_owned())
            .collect()
    };
    let web = event_lines("wiki-stats", &|p| p.starts_with("wiki-stats-"));
    assert!(
        web.iter()
            .any(|l| l.starts_with("Warning Unhealthy (3×): Liveness probe failed")),
        "{web:?}"
    );
    assert!(
        web.contains(&"Normal Started (2×): Started container webservice".to_string()),
        "{web:?}"
    );
    let cron = event_lines("cronbot", &|p| p == "@events");
    assert_eq!(cron.len(), 8, "two per run: {cron:?}");
    assert!(
        cron.iter().all(|l| l.starts_with(
            "Normal SuccessfulCreate CronJob/update-stats: Created job update-stats-"
        ) || l.starts_with(
            "Normal SawCompletedJob CronJob/update-stats: Saw completed job: update-stats-"
        )),
        "{cron:?}"
    );
    assert!(all.iter().any(|(r, _)| r.log().contains("[truncated ")));
    assert!(all.iter().any(|(r, _)| r.log().contains("«Zürich HB»")));

    // Compaction: one merged object, its meta, and one consumed raw key left.
    let metas: Vec<_> = tree
        .iter()
        .filter(|(k, _)| k.starts_with("meta/"))
        .collect();
    assert_eq!(metas.len(), 1);
    let meta: PodMeta = serde_json::from_slice(metas[0].1).unwrap();
    assert_eq!(meta.version, 1);
    assert_eq!(meta.merged.len(), 1);
    let merged = &meta.merged[0];
    let data = objects
        .iter()
        .find(|o| o.key == merged.key)
        .expect("merged object");
    assert_eq!(merged.lines as usize, data.records.len());
    assert_eq!(
        (merged.first_ts, merged.last_ts),
        (data.records[0].0.ts, data.records.last().unwrap().0.ts)
    );
    assert!(meta.consumed.len() >= 2);
    let left: Vec<_> = meta
        .consumed
        .iter()
        .filter(|c| tree.contains_key(&c.key))
        .collect();
    assert_eq!(
        left.len(),
        1,
        "exactly one consumed raw object is not deleted yet"
    );
    let pod = meta.pod.unwrap();
    assert_eq!(pod.kind, "cronjob");
    assert_eq!(pod.containers.len(), 1);
}

/// Times are anchored to `now` (hours, quota windows): any `now` gives the
/// same features.
#[test]
fn any_now_works() {
    let hour = NOW - NOW % 3_600_000_000_000;
    for now in [
        hour,
        hour + 1,
        hour - 1,
        hour + 599_999_999_999,
        NOW + 1_234_567_890_123,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let summary = demo::build(dir.path(), now).unwrap_or_else(|e| panic!("{now}: {e:#}"));
        assert_eq!(summary.jobs.len(), 5);
        let tree = tree(dir.path());
        let events: HashSet<_> = objects(&tree)
            .iter()
            .flat_map(|o| &o.records)
            .filter_map(|(r, _)| r.event.map(|e| std::mem::discriminant(&e)))
            .collect();
        assert_eq!(events.len(), 2, "{now}: a quota marker and a drop summary");
    }
}

#[test]
fn deterministic_and_overwrites() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (sa, ta) = build(a.path());
    // A stale object of an earlier demo goes; other files stay.
    let stale: PathBuf = b.path().join("raw/old/j/p/c/20200101T000000Z-x.gz");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, b"x").unwrap();
    std::fs::write(b.path().join("keep.txt"), b"k").unwrap();
    let (sb, mut tb) = build(b.path());
    assert_eq!(tb.remove("keep.txt").as_deref(), Some(&b"k"[..]));
    assert_eq!(sa, sb);
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    assert!(ta == tb, "same bytes");
    let (_, again) = build(a.path());
    assert!(again == ta, "rebuilding in place gives the same tree");
}

#[tokio::test]
async fn the_reader_reads_the_cron_job() {
    let dir = tempfile::tempdir().unwrap();
    let (_, tree) = build(dir.path());
    let expected: HashSet<_> = objects(&tree)
        .iter()
        .flat_map(|o| &o.records)
        .filter(|(_, v)| v["afterlog"]["job"] == "update-stats")
        .map(|(r, _)| (r.container_id.clone(), r.ts, r.off, r.stream.clone()))
        .collect();
    let store = open(&StoreConfig::new(format!(
        "file://{}",
        dir.path().display()
    )))
    .unwrap();
    let log = read_job(store, "cronbot", "update-stats", Selection::default())
        .await
        .unwrap();
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    assert_eq!(log.stats.consumed_skipped, 1);
    assert_eq!(
        log.records.len(),
        expected.len(),
        "each record exactly once"
    );
    assert!(
        log.records
            .windows(2)
            .all(|w| w[0].order_key() < w[1].order_key())
    );
    let got: HashSet<_> = log
        .records
        .iter()
        .map(|r| (r.container_id.clone(), r.ts, r.off, r.stream.clone()))
        .collect();
    assert_eq!(got, expected);
}
