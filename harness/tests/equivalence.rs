//! The lean filter core agrees with the reference implementation
//! (`afterlog_filter::reference`) on millions of generated records, natively.
//! The same comparison through the `.wasm` is in `wasm_fuzz.rs`.

use afterlog_filter::labels::Labeller;
use afterlog_filter::reference::{self, Expected};
use afterlog_filter::{Config, Filter, Output};
use afterlog_harness::records;
use afterlog_sim::Rng;

/// A config under which no quota interferes, so outputs are comparable.
pub fn unlimited(line_limit: usize, keep_kubernetes: bool) -> Config {
    let mut cfg = Config::default();
    cfg.quota.bytes = u64::MAX;
    cfg.line_limit_bytes = line_limit;
    cfg.keep_kubernetes = keep_kubernetes;
    cfg
}

fn run(seed: u64, n: usize, cfg: Config) {
    let labeller = Labeller::new(&cfg.labels).unwrap();
    let mut filter = Filter::new(cfg.clone()).unwrap();
    let mut r = Rng::new(seed);
    let mut labelled = 0;
    for i in 0..n {
        let (sec, nsec, rec) = records::record(&mut r);
        let want = reference::expected(&cfg, &labeller, sec, nsec, &rec);
        let got = match filter.process(sec, nsec, &rec) {
            Output::Record(b) => {
                assert_eq!(b.last(), Some(&0), "output is NUL-terminated");
                assert!(!b[..b.len() - 1].contains(&0), "no NUL inside the output");
                reference::normalise(&rec, Some(&b[..b.len() - 1]))
            }
            Output::Unchanged => reference::normalise(&rec, None),
            Output::Drop => Ok(Expected::Dropped),
        };
        let got = got.unwrap_or_else(|e| {
            panic!(
                "seed {seed} #{i}: {e}\ninput: {}",
                String::from_utf8_lossy(&rec)
            )
        });
        if matches!(want, Expected::Record(_)) {
            labelled += 1;
        }
        assert_eq!(
            got,
            want,
            "seed {seed} #{i}\ninput: {}",
            String::from_utf8_lossy(&rec)
        );
    }
    assert!(
        labelled > n / 3,
        "the generator must mostly make records the filter labels"
    );
}

#[test]
fn lean_core_matches_reference_on_two_million_records() {
    // Two threads, one per core: default settings and a short line limit
    // with the kubernetes map kept.
    let a = std::thread::spawn(|| run(1, 1_000_000, unlimited(16 * 1024, false)));
    let b = std::thread::spawn(|| run(2, 1_000_000, unlimited(40, true)));
    a.join().unwrap();
    b.join().unwrap();
}

/// Routing rules of every kind over the generator's namespaces, pods and
/// labels: drops, classes with their own line limit, first match wins.
#[test]
fn lean_core_matches_reference_with_routing_rules() {
    let mut cfg = Config::parse(
        serde_json::json!({
            "classes": [{"name": "short", "line_limit_bytes": 30}, {"name": "builds"}, {"name": "team"}],
            "routes": [
                {"match": {"labels": {"toolforge": "tool", "job-name": {"present": true}}}, "action": "drop"},
                {"match": {"kind": "build"}, "action": "class", "class": "builds"},
                {"match": {"namespace": {"glob": "tool-?o*"}}, "action": "class", "class": "short"},
                {"match": {"pod": {"regex": "^db-[0-9]$"}, "labels": {"pod-template-hash": {"present": false}}}, "action": "class", "class": "team"},
                {"match": {"tool": {"in": ["bar", "a.b"]}, "container": {"regex": "."}}, "action": "class", "class": "team"}
            ]
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    cfg.quota.bytes = u64::MAX;
    run(3, 300_000, cfg);
}
