//! The release `.wasm`'s quotas, called exactly as Fluent Bit calls it:
//! the marker and the summary, state across restarts and instances,
//! checkpoints, an unwritable state file.

mod common;

use afterlog_filter::config;
use afterlog_harness::host::{Lifetime, Outcome};
use common::{SEC, TAG, advance, foo_record, host_with, k8s_record, kept};
use serde_json::{Value, json};
use std::time::Duration;

fn quota_records(n: u32, minute: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let t = format!("2026-11-25T15:{minute:02}:{:02}.{i:09}Z", i % 60);
            k8s_record(
                "tool-noisy",
                "spam-x7k2p",
                "c",
                json!({"job-name":"spam"}),
                &format!("line {i:05} {}", "x".repeat(100)),
                &t,
            )
        })
        .collect()
}

#[test]
fn quota_marker_drops_and_summary_after_reset() {
    let cfg = json!({"quota": {"tools": {"noisy": {"bytes": 5000, "window_seconds": 3600}}}});
    let (mut h, _d) = host_with(Some(cfg), Lifetime::Persistent);
    let outs: Vec<Outcome> = quota_records(100, 0)
        .iter()
        .map(|r| h.call(TAG, SEC, 0, r))
        .collect();
    let kinds: String = outs
        .iter()
        .map(|o| match o.json() {
            None => 'd',
            Some(v) if v["afterlog"]["event"] == "quota_exceeded" => 'm',
            Some(_) => 'k',
        })
        .collect();
    let admitted = kinds.find('m').expect("a marker");
    assert!(admitted > 5, "{kinds}");
    assert_eq!(
        kinds,
        format!("{}m{}", "k".repeat(admitted), "d".repeat(99 - admitted))
    );
    let marker = kept(&outs[admitted]);
    assert_eq!(marker["afterlog"]["limit_bytes"], json!(5000));
    assert_eq!(marker["afterlog"]["tool"], json!("noisy"));
    assert_eq!(
        marker["afterlog"]["resets_at"],
        json!(1_795_622_400_000_000_000u64)
    );
    // An hour later the window resets; the first record carries the summary.
    let later = k8s_record(
        "tool-noisy",
        "spam-x7k2p",
        "c",
        json!({"job-name":"spam"}),
        "back",
        "2026-11-25T16:00:01Z",
    );
    let out = kept(&h.call(TAG, SEC, 0, &later));
    assert_eq!(out["log"], json!("back"));
    assert_eq!(out["afterlog"]["event"], json!("quota_dropped"));
    assert_eq!(out["afterlog"]["dropped_records"], json!(100 - admitted));
    // Other tools were never limited.
    let other = foo_record("fine");
    assert!(
        kept(&h.call(TAG, SEC, 0, &other))["afterlog"]
            .get("event")
            .is_none()
    );
}

/// Admitted records of the noisy tool when 100 records go through `lifetime`
/// in chunks of 7, restarting the host after every 40 records.
fn admitted_across(lifetime: Lifetime) -> (usize, String) {
    let cfg = json!({"quota": {"tools": {"noisy": {"bytes": 5000, "window_seconds": 3600}}}, "checkpoint_seconds": 5});
    let (mut h, d) = host_with(Some(cfg), lifetime);
    let recs: Vec<(u32, u32, Vec<u8>)> = quota_records(100, 0)
        .into_iter()
        .map(|r| (SEC, 0, r))
        .collect();
    let mut kinds = String::new();
    for (i, chunk) in recs.chunks(7).enumerate() {
        for o in h.chunk(TAG, chunk) {
            kinds.push(match o.json() {
                None => 'd',
                Some(v) if v["afterlog"]["event"] == "quota_exceeded" => 'm',
                Some(_) => 'k',
            });
        }
        if i % 6 == 5 {
            h.restart().unwrap();
        }
    }
    assert!(d.path().join(config::STATE_FILE_NAME).exists());
    (kinds.matches('k').count(), kinds)
}

#[test]
fn quota_survives_restarts_and_per_chunk_instances() {
    // The reference: one instance, no restarts.
    let (mut h, _d) = host_with(
        Some(json!({"quota": {"tools": {"noisy": {"bytes": 5000}}}})),
        Lifetime::Persistent,
    );
    let once = quota_records(100, 0)
        .iter()
        .filter(|r| {
            h.call(TAG, SEC, 0, r)
                .json()
                .is_some_and(|v| v["afterlog"].get("event").is_none())
        })
        .count();
    for lifetime in [Lifetime::Persistent, Lifetime::PerChunk] {
        let (n, kinds) = admitted_across(lifetime);
        assert_eq!(
            n, once,
            "{lifetime:?}: neither reset nor double-counted: {kinds}"
        );
        assert_eq!(
            kinds.matches('m').count(),
            1,
            "{lifetime:?}: one marker: {kinds}"
        );
    }
}

#[test]
fn long_lived_instance_checkpoints_on_its_clock() {
    let cfg = json!({"quota": {"tools": {"noisy": {"bytes": 5000}}}, "checkpoint_seconds": 5});
    let (mut h, d) = host_with(Some(cfg.clone()), Lifetime::Persistent);
    let recs = quota_records(100, 0);
    // Past the young phase: state is only in memory and snapshots.
    h.call(TAG, SEC, 0, &foo_record("warm up"));
    let clock_step = Duration::from_secs(10);
    for r in &recs[..10] {
        h.call(TAG, SEC, 0, r);
    }
    // A shared clock: advance it and let a few dozen records pass.
    advance(&h, clock_step);
    for i in 0..40 {
        h.call(TAG, SEC, 0, &foo_record(&format!("tick {i}")));
    }
    let snap: Value =
        serde_json::from_slice(&std::fs::read(d.path().join(config::STATE_FILE_NAME)).unwrap())
            .unwrap();
    let tools = snap["tools"].as_array().unwrap();
    assert!(
        tools
            .iter()
            .any(|t| t[0] == "noisy" && t[1]["used"].as_u64().unwrap() > 0),
        "{snap}"
    );
}

#[test]
fn unwritable_state_is_reported_once_and_quotas_still_apply() {
    let cfg = json!({"quota": {"tools": {"noisy": {"bytes": 5000}}}, "state_file": "/nowhere/quota.state"});
    let (mut h, _d) = host_with(Some(cfg), Lifetime::Persistent);
    let drops = quota_records(100, 0)
        .iter()
        .filter(|r| h.call(TAG, SEC, 0, r).json().is_none())
        .count();
    assert!(drops > 50);
    let err = h.stderr();
    assert_eq!(err.matches("[afterlog filter]").count(), 1, "{err}");
    assert!(
        err.contains("/nowhere/quota.state") && err.contains("memory only"),
        "{err}"
    );
}
