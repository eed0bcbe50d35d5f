//! A tail → kubernetes → filter → output pipeline, rendered as Fluent Bit's
//! YAML config and run to completion.

use super::run::{Run, run_config};
use super::{FILTER_FUNCTION, KUBE_URL, yp, yq};
use afterlog_sim::fluent_bit::kube_tag_prefix;
use anyhow::Result;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `wasm` filter stage.
#[derive(Clone, Debug)]
pub struct WasmStage {
    /// A `.wasm`, or an `.aot` made by [`compile_aot`](super::compile_aot).
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
        kube_tag_prefix(&self.log_dir.to_string_lossy())
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

#[cfg(test)]
mod tests {
    use super::*;

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
