//! Drives the real Fluent Bit binary (`shared/bin/fluent-bit`, v5.1.1) for
//! end-to-end tests and benchmarks.
//!
//! - locating the binaries ([`fluent_bit_path`], [`flb_wamrc_path`],
//!   [`filter_wasm_path`]);
//! - fixtures: a [`Pod`] writes the `.meta` file the `kubernetes` filter
//!   preloads and [`CriLog`] writes container log files in CRI format, named
//!   the way the kubelet names them;
//! - a [`Pipeline`] renders the YAML config (tail → kubernetes → wasm or lua
//!   → stdout/counter/null), runs Fluent Bit to completion under a timeout
//!   and returns its output and CPU time ([`Run`]).
//!
//! What Fluent Bit really does with these pipelines is written down in
//! `docs/fluent-bit-facts.md`. Nothing here talks to the network: the
//! kubernetes filter gets its pods from files and points at 127.0.0.1.

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Overrides the Fluent Bit binary.
pub const FLUENT_BIT_ENV: &str = "AFTERLOG_FLUENT_BIT";
/// Overrides the `flb-wamrc` AOT compiler.
pub const FLB_WAMRC_ENV: &str = "AFTERLOG_FLB_WAMRC";
/// Overrides the filter `.wasm` the tests load.
pub const FILTER_WASM_ENV: &str = "AFTERLOG_FILTER_WASM";
/// The function the filter exports for Fluent Bit.
pub const FILTER_FUNCTION: &str = "afterlog_filter";
/// The longest a test or benchmark lets Fluent Bit run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Where the kubernetes filter "finds" its API server: nothing listens on
/// the discard port, and with the pods preloaded it is never asked anyway.
const KUBE_URL: &str = "https://127.0.0.1:9";

// ---------------------------------------------------------------- locations

/// The cargo workspace root (the repository).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `<workspace root>/../shared/bin/<name>`: the shared tools sit beside the
/// clone (`/work/main` + `/work/shared` here, a copy of `shared/` in CI).
fn shared_bin(name: &str) -> PathBuf {
    let root = workspace_root();
    root.parent()
        .unwrap_or(&root)
        .join("shared")
        .join("bin")
        .join(name)
}

fn tool_path(env: &str, name: &str) -> Result<PathBuf> {
    let path = match std::env::var_os(env) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => shared_bin(name),
    };
    ensure!(
        path.is_file(),
        "{name} not found at {} (set {env} to its path)",
        path.display()
    );
    Ok(path)
}

/// The Fluent Bit binary: `$AFTERLOG_FLUENT_BIT`, else `<root>/../shared/bin/fluent-bit`.
pub fn fluent_bit_path() -> Result<PathBuf> {
    tool_path(FLUENT_BIT_ENV, "fluent-bit")
}

/// The AOT compiler: `$AFTERLOG_FLB_WAMRC`, else `<root>/../shared/bin/flb-wamrc`.
pub fn flb_wamrc_path() -> Result<PathBuf> {
    tool_path(FLB_WAMRC_ENV, "flb-wamrc")
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the workspace
/// root if relative), else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => workspace_root().join(d),
        _ => workspace_root().join("target"),
    }
}

/// The release filter module: `$AFTERLOG_FILTER_WASM`, else
/// `<target>/wasm32-wasip1/release/afterlog_filter.wasm`. May not exist.
pub fn filter_wasm_path() -> PathBuf {
    match std::env::var_os(FILTER_WASM_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => target_dir().join("wasm32-wasip1/release/afterlog_filter.wasm"),
    }
}

/// The command that builds [`filter_wasm_path`].
pub const BUILD_FILTER: &str = "cargo build --release --target wasm32-wasip1 -p afterlog-filter";

/// [`filter_wasm_path`], or a panic telling how to build it. Warns on stderr
/// when a file under `plugin/` or `contract/` is newer than the module.
pub fn require_filter_wasm() -> PathBuf {
    let path = filter_wasm_path();
    let Ok(meta) = fs::metadata(&path) else {
        panic!(
            "the filter module {} is missing: build it first with `{BUILD_FILTER}` \
             (or point {FILTER_WASM_ENV} at a .wasm)",
            path.display()
        );
    };
    if let Ok(built) = meta.modified() {
        let root = workspace_root();
        let newest = [root.join("plugin"), root.join("contract")]
            .iter()
            .filter_map(|d| newest_mtime(d, 4))
            .max();
        if newest.is_some_and(|n| n > built) {
            eprintln!(
                "warning: {} is older than the filter's sources; rebuild with `{BUILD_FILTER}`",
                path.display()
            );
        }
    }
    path
}

fn newest_mtime(dir: &Path, depth: u32) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let t = if meta.is_dir() {
            if depth == 0 {
                continue;
            }
            newest_mtime(&entry.path(), depth - 1)
        } else {
            meta.modified().ok()
        };
        newest = newest.max(t);
    }
    newest
}

/// Compiles `wasm` to a WAMR AOT file with the shared `flb-wamrc`
/// (`--target=x86_64 --cpu=generic`, loadable by the shared Fluent Bit).
pub fn compile_aot(wasm: &Path, aot: &Path) -> Result<()> {
    let wamrc = flb_wamrc_path()?;
    if let Some(dir) = aot.parent() {
        fs::create_dir_all(dir)?;
    }
    let out = Command::new(&wamrc)
        .arg("--target=x86_64")
        .arg("--cpu=generic")
        .arg("-o")
        .arg(aot)
        .arg(wasm)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", wamrc.display()))?;
    ensure!(
        out.status.success() && aot.is_file(),
        "flb-wamrc failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

// ------------------------------------------------------------------ fixtures

/// A CRI stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A container of a [`Pod`].
#[derive(Clone, Debug)]
pub struct Container {
    pub name: String,
    /// 64 lower-case hex digits, as in the log file name (`docker_id`).
    pub id: String,
    pub image: String,
    pub image_id: String,
}

/// A pod as the `kubernetes` filter sees it through its preload cache.
#[derive(Clone, Debug)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    /// In this order in the pod JSON (and so in the record's `labels` map).
    pub labels: Vec<(String, String)>,
    pub containers: Vec<Container>,
}

/// 64 hex digits derived from `seed` (FNV-1a, four rounds): stable ids.
pub fn hex_id(seed: &str) -> String {
    let mut out = String::with_capacity(64);
    for round in 0u64..4 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round;
        for b in seed.bytes().chain(round.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let _ = write!(out, "{h:016x}");
    }
    out
}

impl Pod {
    /// A pod on `node-1` with no labels and no containers yet.
    pub fn new(namespace: &str, name: &str) -> Pod {
        let h = hex_id(&format!("{namespace}/{name}"));
        let uid = format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        );
        Pod {
            namespace: namespace.into(),
            name: name.into(),
            uid,
            node: "node-1".into(),
            labels: Vec::new(),
            containers: Vec::new(),
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> Pod {
        self.labels.push((key.into(), value.into()));
        self
    }

    pub fn node(mut self, node: &str) -> Pod {
        self.node = node.into();
        self
    }

    /// Adds a container with an id derived from the pod and container names.
    pub fn container(mut self, name: &str) -> Pod {
        let id = hex_id(&format!("{}/{}/{name}", self.namespace, self.name));
        let image = format!("docker-registry.example.org/{name}:latest");
        let image_id = format!("sha256:{}", hex_id(&image));
        self.containers.push(Container {
            name: name.into(),
            id,
            image,
            image_id,
        });
        self
    }

    fn find(&self, container: &str) -> &Container {
        self.containers
            .iter()
            .find(|c| c.name == container)
            .unwrap_or_else(|| panic!("pod {} has no container {container}", self.name))
    }

    /// The container's 64-hex id.
    pub fn container_id(&self, container: &str) -> &str {
        &self.find(container).id
    }

    /// The pod as `GET /api/v1/namespaces/<ns>/pods/<name>` returns it (the
    /// fields the kubernetes filter reads, plus some it ignores).
    pub fn meta_json(&self) -> Value {
        let labels: serde_json::Map<String, Value> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        let mut metadata = json!({
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "resourceVersion": "12345",
            "creationTimestamp": "2026-11-25T14:59:00Z",
        });
        if !labels.is_empty() {
            metadata["labels"] = Value::Object(labels);
        }
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|c| json!({"name": c.name, "image": c.image, "imagePullPolicy": "Always"}))
            .collect();
        let statuses: Vec<Value> = self
            .containers
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "containerID": format!("containerd://{}", c.id),
                    "image": c.image,
                    "imageID": c.image_id,
                    "ready": true,
                    "restartCount": 0,
                    "started": true,
                    "state": {"running": {"startedAt": "2026-11-25T14:59:01Z"}},
                })
            })
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": {"nodeName": self.node, "containers": containers, "restartPolicy": "Never"},
            "status": {"phase": "Running", "podIP": "192.168.0.10", "containerStatuses": statuses},
        })
    }

    /// Writes `<meta_dir>/<namespace>_<pod>.meta`.
    pub fn write_meta(&self, meta_dir: &Path) -> Result<PathBuf> {
        fs::create_dir_all(meta_dir)?;
        let path = meta_dir.join(format!("{}_{}.meta", self.namespace, self.name));
        fs::write(&path, serde_json::to_vec(&self.meta_json())?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// `<pod>_<namespace>_<container>-<id>.log`, the kubelet's
    /// `/var/log/containers` name.
    pub fn log_file_name(&self, container: &str) -> String {
        let c = self.find(container);
        format!("{}_{}_{}-{}.log", self.name, self.namespace, c.name, c.id)
    }

    /// Opens (appends to) the container's log file in `log_dir`.
    pub fn log(&self, log_dir: &Path, container: &str) -> Result<CriLog> {
        CriLog::open(&log_dir.join(self.log_file_name(container)))
    }
}

/// Go's `time.RFC3339Nano` in UTC, as containerd writes CRI timestamps:
/// trailing zeros of the fraction are dropped, and the fraction entirely
/// when it is zero (`2026-11-25T15:00:00Z`, `2026-11-25T15:00:00.5Z`).
pub fn cri_time(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let frac = ns % 1_000_000_000;
    let (y, m, d) = afterlog_contract::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The largest index `<= at` on a char boundary of `s`.
pub fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

/// An appending writer of one container log file in CRI format:
/// `<RFC3339Nano> <stdout|stderr> <F|P> <text>\n`.
pub struct CriLog {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
}

impl CriLog {
    pub fn open(path: &Path) -> Result<CriLog> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let written = file.metadata()?.len();
        Ok(CriLog {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            written,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the file so far: the offset the next line starts at.
    pub fn offset(&self) -> u64 {
        self.written
    }

    fn write(&mut self, ts_ns: u64, stream: Stream, flag: char, text: &[u8]) -> Result<u64> {
        ensure!(
            !text.contains(&b'\n'),
            "a CRI line cannot contain a newline"
        );
        let start = self.written;
        let head = format!("{} {} {flag} ", cri_time(ts_ns), stream.as_str());
        self.out.write_all(head.as_bytes())?;
        self.out.write_all(text)?;
        self.out.write_all(b"\n")?;
        self.written += (head.len() + text.len() + 1) as u64;
        Ok(start)
    }

    /// A full (`F`) line; returns the offset it starts at.
    pub fn line(&mut self, ts_ns: u64, stream: Stream, text: &str) -> Result<u64> {
        self.write(ts_ns, stream, 'F', text.as_bytes())
    }

    /// A full line of arbitrary bytes (e.g. invalid UTF-8).
    pub fn line_bytes(&mut self, ts_ns: u64, stream: Stream, text: &[u8]) -> Result<u64> {
        self.write(ts_ns, stream, 'F', text)
    }

    /// A partial (`P`) line: the runtime cut the line here.
    pub fn partial(&mut self, ts_ns: u64, stream: Stream, text: &str) -> Result<u64> {
        self.write(ts_ns, stream, 'P', text.as_bytes())
    }

    /// Writes `text` the way containerd writes a long line: `P` parts of at
    /// most `part_bytes` (cut at char boundaries), then the rest as `F`.
    /// Returns the offset of the last (`F`) physical line, which is the
    /// record's `off`.
    pub fn split_line(
        &mut self,
        ts_ns: u64,
        stream: Stream,
        text: &str,
        part_bytes: usize,
    ) -> Result<u64> {
        ensure!(part_bytes >= 4, "parts must hold a char");
        let mut rest = text;
        // Every part takes at least one char, so this bound is never reached.
        for _ in 0..=text.len() {
            if rest.len() <= part_bytes {
                break;
            }
            let cut = floor_char_boundary(rest, part_bytes);
            self.partial(ts_ns, stream, &rest[..cut])?;
            rest = &rest[cut..];
        }
        self.line(ts_ns, stream, rest)
    }

    /// Raw bytes, for malformed lines.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

impl Drop for CriLog {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

// ------------------------------------------------------------------ pipeline

/// The `wasm` filter stage.
#[derive(Clone, Debug)]
pub struct WasmStage {
    /// A `.wasm`, or an `.aot` made by [`compile_aot`].
    pub path: PathBuf,
    pub function_name: String,
    /// WASI preopens (same path inside the guest). Empty: Fluent Bit's default `.`.
    pub accessible_paths: Vec<PathBuf>,
    pub heap_size: String,
    pub stack_size: String,
    /// `event_format`: `json` or `msgpack`.
    pub event_format: &'static str,
}

impl WasmStage {
    /// The afterlog filter's entry point, an 8 MiB heap and a 1 MiB stack.
    pub fn new(path: &Path) -> WasmStage {
        WasmStage {
            path: path.to_path_buf(),
            function_name: FILTER_FUNCTION.into(),
            accessible_paths: Vec::new(),
            heap_size: "8M".into(),
            stack_size: "1M".into(),
            event_format: "json",
        }
    }

    /// `event_format: msgpack` (the afterlog filter answers in NF1).
    pub fn msgpack(mut self) -> WasmStage {
        self.event_format = "msgpack";
        self
    }

    pub fn function(mut self, name: &str) -> WasmStage {
        self.function_name = name.into();
        self
    }

    pub fn accessible(mut self, dir: &Path) -> WasmStage {
        self.accessible_paths.push(dir.to_path_buf());
        self
    }
}

/// The filter between `kubernetes` and the output.
#[derive(Clone, Debug)]
pub enum Stage {
    /// tail → kubernetes → output.
    None,
    Wasm(WasmStage),
    /// A `lua` filter running `call` from `script`.
    Lua {
        script: PathBuf,
        call: String,
    },
}

/// The output plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sink {
    /// `stdout` with `format: json_lines`: one JSON object per record.
    StdoutJsonLines,
    /// `counter`: one line per flush with `log_records`.
    Counter,
    /// `null`: discards everything.
    Null,
}

/// A tail → kubernetes → [`Stage`] → [`Sink`] pipeline over the `*.log`
/// files of one directory, exiting once every file is read.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub log_dir: PathBuf,
    pub meta_dir: PathBuf,
    pub stage: Stage,
    pub sink: Sink,
    /// `tail`'s `buffer_max_size`: the longest physical line read whole
    /// (longer ones are skipped, `skip_long_lines: on`).
    pub buffer_max_size: String,
    pub log_level: String,
    /// `service.grace`, seconds Fluent Bit waits for pending flushes at exit.
    pub grace_seconds: u32,
}

/// Quotes a YAML scalar.
fn yq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn yp(p: &Path) -> String {
    yq(&p.to_string_lossy())
}

impl Pipeline {
    pub fn new(log_dir: &Path, meta_dir: &Path) -> Pipeline {
        Pipeline {
            log_dir: log_dir.to_path_buf(),
            meta_dir: meta_dir.to_path_buf(),
            stage: Stage::None,
            sink: Sink::StdoutJsonLines,
            buffer_max_size: "1M".into(),
            log_level: "info".into(),
            grace_seconds: 2,
        }
    }

    pub fn stage(mut self, stage: Stage) -> Pipeline {
        self.stage = stage;
        self
    }

    pub fn wasm(self, wasm: WasmStage) -> Pipeline {
        self.stage(Stage::Wasm(wasm))
    }

    pub fn sink(mut self, sink: Sink) -> Pipeline {
        self.sink = sink;
        self
    }

    /// The tag `tail` gives a file of `log_dir` minus the file name:
    /// `kube.` + the directory path with `/` turned into `.`. The
    /// kubernetes filter needs it as `kube_tag_prefix` to parse file names.
    pub fn tag_prefix(&self) -> String {
        let dir = self.log_dir.to_string_lossy();
        format!(
            "kube.{}.",
            dir.trim_start_matches('/')
                .trim_end_matches('/')
                .replace('/', ".")
        )
    }

    /// The Fluent Bit YAML config.
    pub fn render(&self) -> String {
        let mut y = String::new();
        let _ = writeln!(y, "service:");
        let _ = writeln!(y, "  flush: 1");
        let _ = writeln!(y, "  grace: {}", self.grace_seconds);
        let _ = writeln!(y, "  log_level: {}", self.log_level);
        let _ = writeln!(y, "  http_server: off");
        let _ = writeln!(y, "pipeline:");
        let _ = writeln!(y, "  inputs:");
        let _ = writeln!(y, "    - name: tail");
        let _ = writeln!(y, "      path: {}", yp(&self.log_dir.join("*.log")));
        let _ = writeln!(y, "      tag: 'kube.*'");
        let _ = writeln!(y, "      multiline.parser: cri");
        let _ = writeln!(y, "      offset_key: 'off'");
        let _ = writeln!(y, "      read_from_head: true");
        let _ = writeln!(y, "      exit_on_eof: true");
        let _ = writeln!(y, "      refresh_interval: 1");
        let _ = writeln!(y, "      skip_long_lines: on");
        let _ = writeln!(y, "      buffer_max_size: {}", self.buffer_max_size);
        let _ = writeln!(y, "  filters:");
        let _ = writeln!(y, "    - name: kubernetes");
        let _ = writeln!(y, "      match: 'kube.*'");
        let _ = writeln!(y, "      kube_url: {KUBE_URL}");
        let _ = writeln!(y, "      kube_tag_prefix: {}", yq(&self.tag_prefix()));
        let _ = writeln!(
            y,
            "      kube_meta_preload_cache_dir: {}",
            yp(&self.meta_dir)
        );
        let _ = writeln!(y, "      labels: on");
        let _ = writeln!(y, "      annotations: off");
        let _ = writeln!(y, "      merge_log: off");
        match &self.stage {
            Stage::None => {}
            Stage::Wasm(w) => {
                let _ = writeln!(y, "    - name: wasm");
                let _ = writeln!(y, "      match: 'kube.*'");
                let _ = writeln!(y, "      wasm_path: {}", yp(&w.path));
                let _ = writeln!(y, "      function_name: {}", yq(&w.function_name));
                let _ = writeln!(y, "      event_format: {}", w.event_format);
                let _ = writeln!(y, "      wasm_heap_size: {}", w.heap_size);
                let _ = writeln!(y, "      wasm_stack_size: {}", w.stack_size);
                if !w.accessible_paths.is_empty() {
                    let dirs: Vec<String> = w
                        .accessible_paths
                        .iter()
                        .map(|p| p.to_string_lossy().into_owned())
                        .collect();
                    let _ = writeln!(y, "      accessible_paths: {}", yq(&dirs.join(",")));
                }
            }
            Stage::Lua { script, call } => {
                let _ = writeln!(y, "    - name: lua");
                let _ = writeln!(y, "      match: 'kube.*'");
                let _ = writeln!(y, "      script: {}", yp(script));
                let _ = writeln!(y, "      call: {}", yq(call));
                let _ = writeln!(y, "      time_as_table: on");
            }
        }
        let _ = writeln!(y, "  outputs:");
        match self.sink {
            Sink::StdoutJsonLines => {
                let _ = writeln!(y, "    - name: stdout");
                let _ = writeln!(y, "      match: '*'");
                let _ = writeln!(y, "      format: json_lines");
            }
            Sink::Counter => {
                let _ = writeln!(y, "    - name: counter");
                let _ = writeln!(y, "      match: '*'");
            }
            Sink::Null => {
                let _ = writeln!(y, "    - name: 'null'");
                let _ = writeln!(y, "      match: '*'");
            }
        }
        y
    }

    /// Writes the config into `work_dir` and runs Fluent Bit there until it
    /// exits by itself (all files read) or `timeout` passes (then it is
    /// killed and [`Run::timed_out`] is set). Stdout and stderr go to files
    /// in `work_dir` and are returned.
    pub fn run(&self, work_dir: &Path, timeout: Duration) -> Result<Run> {
        fs::create_dir_all(work_dir)?;
        let config = work_dir.join("fluent-bit.yaml");
        fs::write(&config, self.render())?;
        run_config(&config, work_dir, timeout)
    }
}

/// `fluent-bit --dry-run -c config`: checks a config without running it.
pub fn dry_run(config: &Path) -> Result<()> {
    dry_run_with(config, &[])
}

/// [`dry_run`] with these variables in Fluent Bit's environment.
pub fn dry_run_with(config: &Path, env: &[(&str, String)]) -> Result<()> {
    let bin = fluent_bit_path()?;
    let out = Command::new(&bin)
        .arg("--dry-run")
        .arg("-c")
        .arg(config)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success() && text.contains("configuration test is successful"),
        "{} --dry-run -c {}: {}\n{text}",
        bin.display(),
        config.display(),
        out.status
    );
    Ok(())
}

/// How a Fluent Bit run ended and what it printed.
#[derive(Debug)]
pub struct Run {
    pub config: PathBuf,
    /// The exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that ended it, if any (SIGKILL after a timeout).
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    /// CPU time of the whole process (all threads), from `wait4`.
    pub user: Duration,
    pub sys: Duration,
    pub wall: Duration,
}

/// Runs `fluent-bit -c config` in `work_dir` with a timeout; see [`Pipeline::run`].
pub fn run_config(config: &Path, work_dir: &Path, timeout: Duration) -> Result<Run> {
    let bin = fluent_bit_path()?;
    let out_path = work_dir.join("fluent-bit.stdout");
    let err_path = work_dir.join("fluent-bit.stderr");
    let start = Instant::now();
    let child = Command::new(&bin)
        .arg("-c")
        .arg(config)
        .current_dir(work_dir)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id() as libc::pid_t;
    // The child is reaped with wait4 below, for its rusage; `Child` is
    // only a handle and is not waited on again.
    drop(child);
    let deadline = start + timeout;
    let mut timed_out = false;
    let (status, usage) = loop {
        match wait4(pid, false)? {
            Some(done) => break done,
            None if Instant::now() >= deadline => {
                timed_out = true;
                // SAFETY: plain kill(2) of our own child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                match wait4(pid, true)? {
                    Some(done) => break done,
                    None => bail!("fluent-bit (pid {pid}) did not die after SIGKILL"),
                }
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let wall = start.elapsed();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    Ok(Run {
        config: config.to_path_buf(),
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        timed_out,
        stdout: String::from_utf8_lossy(&fs::read(&out_path)?).into_owned(),
        stderr: String::from_utf8_lossy(&fs::read(&err_path)?).into_owned(),
        user: tv(usage.ru_utime),
        sys: tv(usage.ru_stime),
        wall,
    })
}

/// `wait4(pid)`, retrying on EINTR; `None` if it is still running (only
/// when not blocking).
fn wait4(pid: libc::pid_t, block: bool) -> Result<Option<(libc::c_int, libc::rusage)>> {
    let flags = if block { 0 } else { libc::WNOHANG };
    for _ in 0..1000 {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data; wait4 fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to locals.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            return Ok(Some((status, usage)));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context(format!("wait4({pid})"));
        }
    }
    bail!("wait4({pid}) interrupted too often")
}

impl Run {
    /// User + system CPU time.
    pub fn cpu(&self) -> Duration {
        self.user + self.sys
    }

    /// Exited by itself with status 0.
    pub fn success(&self) -> bool {
        !self.timed_out && self.code == Some(0)
    }

    /// The last `n` lines of stderr, for error messages.
    pub fn stderr_tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Errors unless Fluent Bit exited by itself with status 0.
    pub fn check(&self) -> Result<&Run> {
        ensure!(
            self.success(),
            "fluent-bit -c {} failed: code {:?}, signal {:?}, timed out {} after {:?}\n--- stderr (tail) ---\n{}",
            self.config.display(),
            self.code,
            self.signal,
            self.timed_out,
            self.wall,
            self.stderr_tail(40)
        );
        Ok(self)
    }

    /// The JSON objects of a `stdout` `json_lines` run, in output order.
    /// Lines that do not start with `{` are skipped: WAMR prints its
    /// warnings to stdout too.
    pub fn records(&self) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for (i, line) in self.stdout.lines().enumerate() {
            if !line.starts_with('{') {
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("stdout line {}: {line:.200}", i + 1))?;
            ensure!(v.is_object(), "stdout line {} is not an object", i + 1);
            out.push(v);
        }
        Ok(out)
    }

    /// The records a `counter` run counted (the sum of `log_records`).
    pub fn counter_total(&self) -> u64 {
        self.stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v.get("log_records").and_then(Value::as_u64))
            .sum()
    }

    /// Lines of stderr with `[error]` or `[ warn]`, minus the harmless ones
    /// the kubernetes filter prints when it has no service account.
    pub fn problems(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains("[error]") || l.contains("[ warn]"))
            .filter(|l| {
                !(l.contains("[tls]")
                    || l.contains("serviceaccount")
                    || l.contains("service will shutdown"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_time_is_rfc3339nano() {
        let t = 1_795_618_800u64 * 1_000_000_000; // 2026-11-25T15:00:00Z
        assert_eq!(cri_time(t), "2026-11-25T15:00:00Z");
        assert_eq!(cri_time(t + 500_000_000), "2026-11-25T15:00:00.5Z");
        assert_eq!(cri_time(t + 2), "2026-11-25T15:00:00.000000002Z");
        assert_eq!(cri_time(t + 123_456_789), "2026-11-25T15:00:00.123456789Z");
    }

    #[test]
    fn fixture_names_and_meta() {
        let p = Pod::new("tool-foo", "myjob-x7k2p")
            .label("job-name", "myjob")
            .container("job");
        let id = p.container_id("job").to_string();
        assert_eq!(id.len(), 64);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(
            p.log_file_name("job"),
            format!("myjob-x7k2p_tool-foo_job-{id}.log")
        );
        let m = p.meta_json();
        assert_eq!(m["metadata"]["labels"]["job-name"], "myjob");
        assert_eq!(
            m["status"]["containerStatuses"][0]["containerID"],
            format!("containerd://{id}")
        );
    }

    #[test]
    fn split_line_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = CriLog::open(&dir.path().join("a.log")).unwrap();
        assert_eq!(log.line(0, Stream::Stdout, "x").unwrap(), 0);
        let first = log.offset();
        let text = "é".repeat(10);
        let off = log.split_line(0, Stream::Stderr, &text, 7).unwrap();
        log.flush().unwrap();
        let body = fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[1].starts_with("1970-01-01T00:00:00Z stderr P éé"));
        assert!(lines[4].contains(" F "));
        assert!(off > first);
        assert_eq!(
            &body[off as usize..off as usize + 20],
            "1970-01-01T00:00:00Z"
        );
        let joined: String = lines[1..]
            .iter()
            .map(|l| l.splitn(4, ' ').nth(3).unwrap())
            .collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn tag_prefix_and_render() {
        let p = Pipeline::new(Path::new("/tmp/x/logs"), Path::new("/tmp/x/meta"))
            .wasm(WasmStage::new(Path::new("/f.wasm")).accessible(Path::new("/tmp/x/conf")));
        assert_eq!(p.tag_prefix(), "kube.tmp.x.logs.");
        let y = p.render();
        assert!(y.contains("kube_tag_prefix: 'kube.tmp.x.logs.'"));
        assert!(y.contains("accessible_paths: '/tmp/x/conf'"));
        assert!(y.contains("function_name: 'afterlog_filter'"));
    }
}
