//! Quota state survives restarts and per-chunk instances (natively; the
//! same through the `.wasm` is in harness/).

use afterlog_filter::{Output, Runtime, config};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

static CLOCK: AtomicU64 = AtomicU64::new(1_795_618_800_000_000_000);
/// The clock is global: tests that move it take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The bytes one record is charged (its output size).
fn one() -> u64 {
    let d = setup(1 << 30);
    let mut rt = Runtime::open(&dirs(&d), clock);
    match rt.process(0, 0, &record(0)) {
        Output::Record(b) => b.len() as u64 - 1,
        _ => unreachable!(),
    }
}
fn clock() -> u64 {
    CLOCK.load(Ordering::SeqCst)
}
fn advance(secs: u64) {
    CLOCK.fetch_add(secs * 1_000_000_000, Ordering::SeqCst);
}

fn record(n: u32) -> Vec<u8> {
    record_of("tool-foo", n)
}

fn record_of(namespace: &str, n: u32) -> Vec<u8> {
    json!({"time": format!("2026-11-25T15:00:00.{n:09}Z"), "stream": "stdout", "log": format!("line {n:04}"),
        "kubernetes": {"pod_name": "p", "namespace_name": namespace, "container_name": "c", "docker_id": "d"}})
    .to_string()
    .into_bytes()
}

fn setup(budget: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({"quota": {"bytes": budget, "window_seconds": 3600}});
    std::fs::write(dir.path().join(config::FILE_NAME), cfg.to_string()).unwrap();
    dir
}

/// Kinds of outputs: 'k' kept, 'm' marker, 'd' dropped.
fn feed(rt: &mut Runtime, from: u32, n: u32) -> String {
    (from..from + n)
        .map(|i| match rt.process(1_795_618_800, 0, &record(i)) {
            Output::Record(b) => {
                let v: Value = serde_json::from_slice(&b[..b.len() - 1]).unwrap();
                if v["afterlog"]["event"] == "quota_exceeded" {
                    'm'
                } else {
                    'k'
                }
            }
            Output::Unchanged => 'u',
            Output::Drop => 'd',
        })
        .collect()
}

fn dirs(d: &tempfile::TempDir) -> Vec<PathBuf> {
    vec![d.path().to_path_buf()]
}

#[test]
fn budget_is_exact_across_per_chunk_instances() {
    let _turn = serial();
    let one = one();
    let d = setup(one * 10 + one / 2);
    let mut all = String::new();
    // Like an old Fluent Bit: a new instance for every chunk of 3 records.
    for chunk in 0..8 {
        let mut rt = Runtime::open(&dirs(&d), clock);
        all += &feed(&mut rt, chunk * 3, 3);
    }
    assert_eq!(all, format!("{}m{}", "k".repeat(10), "d".repeat(13)));
}

#[test]
fn long_lived_instance_checkpoints_and_a_restart_resumes() {
    let _turn = serial();
    let one = one();
    let d = setup(one * 10 + one / 2);
    let mut rt = Runtime::open(&dirs(&d), clock);
    advance(60); // no longer young: periodic snapshots only
    let first = feed(&mut rt, 0, 5);
    assert_eq!(first, "kkkkk");
    advance(6);
    feed(&mut rt, 5, 1);
    // An old instance looks at the clock every few dozen records; another
    // tool's records make the checkpoint happen.
    for n in 0..40 {
        rt.process(0, 0, &record_of("tool-bar", n));
    }
    drop(rt);
    let mut rt = Runtime::open(&dirs(&d), clock);
    let rest = feed(&mut rt, 6, 10);
    assert_eq!(rest, "kkkkmddddd", "the restart resumed the budget");
}

#[test]
fn unwritable_state_dir_degrades_to_memory() {
    let _turn = serial();
    let one = one();
    let d = setup(one * 10 + one / 2);
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join(config::FILE_NAME)).unwrap())
            .unwrap();
    cfg["state_file"] = json!("/nonexistent-dir/afterlog.state");
    std::fs::write(d.path().join(config::FILE_NAME), cfg.to_string()).unwrap();
    let mut rt = Runtime::open(&dirs(&d), clock);
    let out = feed(&mut rt, 0, 20);
    assert_eq!(
        out,
        format!("{}m{}", "k".repeat(10), "d".repeat(9)),
        "quotas still apply in memory"
    );
}

#[test]
fn invalid_config_falls_back_to_defaults() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(config::FILE_NAME), b"{\"quota\": nope").unwrap();
    let mut rt = Runtime::open(&dirs(&d), clock);
    assert_eq!(feed(&mut rt, 0, 3), "kkk");
}

/// The config file is looked at every `reload_seconds`: a valid change is
/// taken (quota state kept), an invalid one is reported and the running
/// config kept — never defaults that would collect what a rule drops.
#[test]
fn config_changes_are_reloaded_and_bad_ones_ignored() {
    let _turn = serial();
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join(config::FILE_NAME);
    let write = |routes: Value| {
        let cfg = json!({"reload_seconds": 10, "classes": [{"name": "long"}], "routes": routes});
        std::fs::write(&file, cfg.to_string()).unwrap();
    };
    let class = |rt: &mut Runtime| match rt.process(1_795_618_800, 0, &record(1)) {
        Output::Record(b) => {
            let v: Value = serde_json::from_slice(&b[..b.len() - 1]).unwrap();
            v["afterlog"]["class"].as_str().unwrap().to_string()
        }
        Output::Drop => "DROP".to_string(),
        Output::Unchanged => "unchanged".to_string(),
    };
    // Past the young phase, the clock is read every few dozen calls.
    let settle = |rt: &mut Runtime| {
        advance(11);
        for n in 0..64 {
            rt.process(0, 0, &record_of("tool-bar", n));
        }
    };
    write(json!([{"match": {"namespace": "tool-foo"}, "action": "class", "class": "long"}]));
    let mut rt = Runtime::open(&dirs(&d), clock);
    assert_eq!(class(&mut rt), "long");
    write(json!([{"match": {"namespace": "tool-foo"}, "action": "drop"}]));
    // Not before the interval …
    assert_eq!(class(&mut rt), "long");
    settle(&mut rt);
    // … then taken.
    assert_eq!(class(&mut rt), "DROP");
    // A mistake (an undefined class) keeps the running rules.
    write(json!([{"match": {}, "action": "class", "class": "nope"}]));
    settle(&mut rt);
    assert_eq!(class(&mut rt), "DROP");
    // So does a file that is not JSON, or gone.
    std::fs::write(&file, b"{").unwrap();
    settle(&mut rt);
    assert_eq!(class(&mut rt), "DROP");
    std::fs::remove_file(&file).unwrap();
    settle(&mut rt);
    assert_eq!(class(&mut rt), "DROP");
    write(json!([]));
    settle(&mut rt);
    assert_eq!(class(&mut rt), "default");
}
