//! What the tests of the release `.wasm` share: records as Fluent Bit
//! passes them, and a host over a config directory.
#![allow(dead_code)]

use afterlog_filter::config;
use afterlog_harness::host::{FilterHost, HostConfig, Lifetime, Outcome};
use afterlog_sim::fluent_bit::json_string;
use serde_json::{Value, json};
use std::time::Duration;

pub const TAG: &[u8] = b"kube.var.log.containers.x.log";
pub const SEC: u32 = 1_795_618_800;

/// A record as Fluent Bit 5.1.1 passes it (see docs/fluent-bit-facts.md):
/// key order, non-ASCII as `\u` escapes, the kubernetes map's key order.
pub fn k8s_record(
    ns: &str,
    pod: &str,
    container: &str,
    labels: Value,
    log: &str,
    time: &str,
) -> Vec<u8> {
    let mut s = format!(
        r#"{{"time":"{time}","stream":"stdout","log":{},"off":1234,"kubernetes":{{"pod_name":"{pod}","namespace_name":"{ns}","pod_id":"5b1c-11","labels":{labels},"host":"node-7","container_name":"{container}","docker_id":"{}","container_hash":"sha256:aa","container_image":"docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest"}}}}"#,
        json_string(log),
        "c0ffee".repeat(10) + "0123",
    );
    s.shrink_to_fit();
    s.into_bytes()
}

/// A record of `container` in pod `pod` whose line is `x`.
pub fn labelled_record(ns: &str, pod: &str, container: &str, labels: Value) -> Vec<u8> {
    k8s_record(ns, pod, container, labels, "x", "2026-11-25T15:00:00Z")
}

/// A record of a plain pod of tool `foo`.
pub fn foo_record(log: &str) -> Vec<u8> {
    k8s_record("tool-foo", "p", "c", json!({}), log, "2026-11-25T15:00:00Z")
}

pub fn host_with(cfg: Option<Value>, lifetime: Lifetime) -> (FilterHost, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    if let Some(cfg) = cfg {
        std::fs::write(dir.path().join(config::FILE_NAME), cfg.to_string()).unwrap();
    }
    let mut hc = HostConfig::release();
    hc.preopens = vec![dir.path().to_path_buf()];
    hc.lifetime = lifetime;
    hc.clock.set(SEC as u64 * 1_000_000_000);
    (FilterHost::new(hc).unwrap(), dir)
}

pub fn kept(o: &Outcome) -> Value {
    o.json().unwrap_or_else(|| panic!("dropped: {o:?}"))
}

pub fn advance(h: &FilterHost, by: Duration) {
    h.config().clock.advance(by);
}
