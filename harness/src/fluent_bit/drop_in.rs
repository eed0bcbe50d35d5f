//! The drop-in `fluent-bit/afterlog.yaml` as shipped, pointed at a test's
//! files, and the node it runs on: its directories, its main config, its
//! Fluent Bit started with the drop-in's environment.
//!
//! Only what points the drop-in at the test changes, each replaced exactly
//! where expected: the log path (and so the tag prefix), the kubernetes
//! filter's metadata source, the event format, `upload_timeout`.

use super::locate::{fluent_bit_path, workspace_root};
use super::process::Proc;
use super::{KUBE_URL, yp, yq};
use afterlog_testkit::{KEY, REGION, SECRET};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Replaces each line whose trimmed text starts with `start` by `with`
/// (same indent; `with` may hold several lines). Panics unless there are
/// exactly `n` such lines.
pub fn replace_lines(text: &str, start: &str, with: &[String], n: usize) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut replaced = 0;
    for line in text.lines() {
        let body = line.trim_start();
        if body.starts_with(start) {
            replaced += 1;
            let indent = &line[..line.len() - body.len()];
            for w in with {
                out.push_str(indent);
                out.push_str(w);
                out.push('\n');
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_eq!(replaced, n, "the drop-in has {n} lines starting {start:?}");
    out
}

/// The drop-in's text.
#[derive(Clone, Debug)]
pub struct DropIn(String);

impl DropIn {
    /// `fluent-bit/afterlog.yaml` as shipped.
    pub fn shipped() -> DropIn {
        let src = workspace_root().join("fluent-bit").join("afterlog.yaml");
        DropIn(fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display())))
    }

    fn replace(self, start: &str, with: &[String], n: usize) -> DropIn {
        DropIn(replace_lines(&self.0, start, with, n))
    }

    /// Its `tail` reads `logs/*.log`; its kubernetes filter knows the tag
    /// prefix that gives, and takes its pods from the `.meta` files in `meta`.
    pub fn point_at(self, logs: &Path, meta: &Path) -> DropIn {
        let prefix = format!(
            "afterlog-src.{}.",
            logs.to_string_lossy().trim_matches('/').replace('/', ".")
        );
        self.replace(
            "path: /var/log/containers/*.log",
            &[format!("path: {}", yp(&logs.join("*.log")))],
            1,
        )
        .replace(
            "kube_tag_prefix:",
            &[
                format!("kube_tag_prefix: {}", yq(&prefix)),
                format!("kube_url: {KUBE_URL}"),
                format!("kube_meta_preload_cache_dir: {}", yp(meta)),
            ],
            1,
        )
    }

    /// The wasm filter's `event_format`: `json` or `msgpack`.
    pub fn event_format(self, format: &str) -> DropIn {
        self.replace("event_format:", &[format!("event_format: {format}")], 1)
    }

    /// `upload_timeout` of both s3 outputs (the default class's and
    /// long-retention's).
    pub fn upload_timeout_secs(self, secs: u64) -> DropIn {
        self.replace("upload_timeout:", &[format!("upload_timeout: {secs}s")], 2)
    }

    pub fn text(&self) -> &str {
        &self.0
    }
}

/// The node's main config: what the drop-in requires (`storage.path`),
/// with `node_logs` the node's own pipeline (every container line of that
/// directory to `stdout`), and the include.
pub fn main_config(storage: &Path, drop_in: &Path, node_logs: Option<&Path>) -> String {
    let mut y = format!(
        "service:\n  flush: 1\n  grace: 5\n  log_level: info\n  storage.path: {}\n",
        yp(storage)
    );
    if let Some(logs) = node_logs {
        y.push_str(&format!(
            "pipeline:
  inputs:
    - name: tail
      path: {}
      tag: 'kube.*'
      multiline.parser: cri
      offset_key: 'off'
      read_from_head: true
      refresh_interval: 1
  outputs:
    - name: stdout
      match: 'kube.*'
      format: json_lines
",
            yp(&logs.join("*.log"))
        ));
    }
    y.push_str(&format!("includes:\n  - {}\n", yp(drop_in)));
    y
}

/// A node's directories under one root: container logs, pod metadata, the
/// filter's config and state, Fluent Bit's storage and working directory.
pub struct Node {
    pub logs: PathBuf,
    pub meta: PathBuf,
    pub conf: PathBuf,
    pub state: PathBuf,
    pub storage: PathBuf,
    pub work: PathBuf,
}

impl Node {
    /// Creates the directories under `root`.
    pub fn new(root: &Path) -> Node {
        let d = Node {
            logs: root.join("logs"),
            meta: root.join("meta"),
            conf: root.join("filter-conf"),
            state: root.join("state"),
            storage: root.join("flb-storage"),
            work: root.join("work"),
        };
        for p in [&d.logs, &d.meta, &d.conf, &d.state, &d.storage, &d.work] {
            fs::create_dir_all(p).unwrap();
        }
        d
    }

    /// Fluent Bit on `config` with the environment the drop-in reads: the
    /// filter `wasm`, this node's directories, the bucket at `endpoint`
    /// (the test S3 server's credentials).
    pub fn start_fluent_bit(
        &self,
        config: &Path,
        wasm: &Path,
        bucket: &str,
        endpoint: &str,
        run: usize,
    ) -> Proc {
        let mut cmd = Command::new(fluent_bit_path().unwrap());
        cmd.arg("-c").arg(config);
        let path = |p: &Path| p.to_string_lossy().into_owned();
        for (k, v) in [
            ("AFTERLOG_WASM", path(wasm)),
            ("AFTERLOG_CONF_DIR", path(&self.conf)),
            ("AFTERLOG_STATE_DIR", path(&self.state)),
            ("AFTERLOG_BUCKET", bucket.to_string()),
            ("AFTERLOG_S3_ENDPOINT", endpoint.to_string()),
            ("AFTERLOG_S3_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
        ] {
            cmd.env(k, v);
        }
        Proc::spawn("fluent-bit", cmd, &self.work, run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_the_shipped_drop_in_at_a_test() {
        let d = DropIn::shipped()
            .point_at(Path::new("/t/logs"), Path::new("/t/meta"))
            .event_format("msgpack")
            .upload_timeout_secs(6);
        let y = d.text();
        assert!(y.contains("path: '/t/logs/*.log'"));
        assert!(y.contains("kube_tag_prefix: 'afterlog-src.t.logs.'"));
        assert!(y.contains("kube_meta_preload_cache_dir: '/t/meta'"));
        assert!(y.contains("event_format: msgpack"));
        assert_eq!(y.matches("upload_timeout: 6s").count(), 2);
        let m = main_config(Path::new("/s"), Path::new("/d.yaml"), None);
        assert!(m.ends_with("includes:\n  - '/d.yaml'\n"));
    }
}
