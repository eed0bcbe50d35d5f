//! The shipped drop-in, as the real Fluent Bit reads it: both formats are
//! valid, they configure the very same pipeline, and the sample filter
//! config is one the filter accepts. (`service/tests/fluent_bit.rs` runs the
//! YAML drop-in end to end.)

use afterlog_harness::fluent_bit::{
    dry_run_with, fluent_bit_path, require_filter_wasm, workspace_root,
};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

/// The environment the drop-in reads, pointed at `dir`.
fn env(dir: &Path, wasm: &Path) -> Vec<(&'static str, String)> {
    let p = |s: &str| dir.join(s).to_string_lossy().into_owned();
    vec![
        ("AFTERLOG_WASM", wasm.to_string_lossy().into_owned()),
        ("AFTERLOG_CONF_DIR", p("conf")),
        ("AFTERLOG_STATE_DIR", p("state")),
        ("AFTERLOG_BUCKET", "afterlog".into()),
        ("AFTERLOG_S3_REGION", "us-east-1".into()),
        // Nothing listens there; nothing is sent.
        ("AFTERLOG_S3_ENDPOINT", "http://127.0.0.1:9".into()),
        ("AWS_ACCESS_KEY_ID", "unused".into()),
        ("AWS_SECRET_ACCESS_KEY", "unused".into()),
    ]
}

/// Main configs that include the drop-in the way its header says.
fn main_configs(dir: &Path) -> [(&'static str, std::path::PathBuf); 2] {
    let src = workspace_root().join("fluent-bit");
    let storage = dir.join("storage");
    let yaml = dir.join("main.yaml");
    fs::write(
        &yaml,
        format!(
            "service:\n  flush: 1\n  storage.path: {}\nincludes:\n  - {}\n",
            storage.display(),
            src.join("afterlog.yaml").display()
        ),
    )
    .unwrap();
    let classic = dir.join("main.conf");
    fs::write(
        &classic,
        format!(
            "[SERVICE]\n    flush 1\n    storage.path {}\n@INCLUDE {}\n",
            storage.display(),
            src.join("afterlog.conf").display()
        ),
    )
    .unwrap();
    [("yaml", yaml), ("classic", classic)]
}

/// Fluent Bit's own account of the configured pipeline (`--sosreport`):
/// every plugin instance with the properties it was given.
fn report(config: &Path, env: &[(&'static str, String)], dir: &Path) -> String {
    let mut cmd = Command::new(fluent_bit_path().unwrap());
    cmd.arg("-S")
        .arg("-c")
        .arg(config)
        .current_dir(dir)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let start = text.find("[INPUT] Instance").unwrap_or_else(|| {
        panic!(
            "no report for {}: {text}\n{}",
            config.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // Log lines (timestamps, pids) interleave with the report.
    text[start..]
        .lines()
        .filter(|l| !l.starts_with("[20"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn yaml_and_classic_drop_ins_are_the_same_pipeline() {
    let wasm = require_filter_wasm();
    let tmp = tempfile::tempdir().unwrap();
    for d in ["conf", "state", "storage"] {
        fs::create_dir_all(tmp.path().join(d)).unwrap();
    }
    let env = env(tmp.path(), &wasm);
    let [(_, yaml), (_, classic)] = main_configs(tmp.path());
    let (a, b) = (
        report(&yaml, &env, tmp.path()),
        report(&classic, &env, tmp.path()),
    );
    assert_eq!(a, b, "afterlog.yaml and afterlog.conf differ");
    // The pipeline as Fluent Bit understood it, with the settings the
    // drop-in's comments call required.
    for want in [
        "Name\t\ttail.0 (tail, id=0)",
        "Tag\t\t\tafterlog-src.*",
        "multiline.parser    cri",
        "offset_key          off",
        "Name\t\tkubernetes.0 (kubernetes, id=0)",
        "labels              on",
        "Name\t\twasm.1 (wasm, id=1)",
        "event_format        msgpack",
        "wasm_heap_size      8M",
        "Name\t\trewrite_tag.2 (rewrite_tag, id=2)",
        "rule                $afterlog['route'] ^(.+)$ afterlog.$afterlog['route'] false",
        // match_regex: the report shows no Match (the end-to-end test
        // proves which classes reach which output).
        "Name\t\ts3.0 (s3, id=0)\n    Match\t\t(null)",
        "s3_key_format       /raw/$TAG[2]/$TAG[3]/$TAG[4]/$TAG[5]/%Y%m%dT%H%M%SZ-$UUID.gz",
        "Retry Limit\t\t100",
        "Name\t\ts3.1 (s3, id=1)\n    Match\t\tafterlog.long-retention.*",
        "s3_key_format       /long-retention/raw/$TAG[2]/$TAG[3]/$TAG[4]/$TAG[5]/%Y%m%dT%H%M%SZ-$UUID.gz",
        "Name\t\tnull.2 (null, id=2)",
    ] {
        assert!(a.contains(want), "the report lacks {want:?}:\n{a}");
    }
    for (format, config) in main_configs(tmp.path()) {
        dry_run_with(&config, &env).unwrap_or_else(|e| panic!("{format}: {e:#}"));
    }
}

#[test]
fn the_sample_filter_config_is_valid() {
    let path = workspace_root()
        .join("fluent-bit")
        .join("afterlog-filter.json");
    let text = fs::read(&path).unwrap();
    let cfg =
        afterlog_filter::Config::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(cfg.quota.budget("noisy-tool").bytes, 10 * 1024 * 1024);
    assert_eq!(cfg.quota.budget("anyone").bytes, 100 * 1024 * 1024);
}
