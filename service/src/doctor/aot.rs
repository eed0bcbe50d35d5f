//! The filter artifact (`.aot`, or the portable `.wasm`) against the Fluent
//! Bit binary that is to load it: Fluent Bit is run on a one-line log with
//! nothing but the wasm filter, as the drop-in configures it, and must load
//! the module and pass the line through. An `.aot` made by another WAMR
//! version, or for another machine, is refused at start with Fluent Bit's
//! own words, which the failing line quotes.

use super::report::Line;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long Fluent Bit may take to start, run one line and exit.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The line run through the filter.
const MARKER: &str = "afterlog doctor probe";

/// Quotes a YAML scalar.
fn yq(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', "''"))
}

/// A main config: `tail` reads `log` once and exits, the filter as the
/// drop-in loads it, the records to stdout.
pub fn config(log: &Path, db: &Path, module: &Path, dir: &Path) -> String {
    format!(
        "service:
  flush: 1
  grace: 1
  log_level: info
pipeline:
  inputs:
    - name: tail
      tag: doctor
      path: {log}
      db: {db}
      read_from_head: true
      exit_on_eof: true
  filters:
    - name: wasm
      match: doctor
      wasm_path: {module}
      function_name: afterlog_filter
      event_format: json
      accessible_paths: {dir}
      wasm_heap_size: 8M
      wasm_stack_size: 1M
  outputs:
    - name: stdout
      match: doctor
      format: json_lines
",
        log = yq(log),
        db = yq(db),
        module = yq(module),
        dir = yq(dir),
    )
}

/// The lines of Fluent Bit's output that say what went wrong (WAMR writes
/// its own to stdout), at most `n`.
pub fn errors(output: &str, n: usize) -> String {
    let picked: Vec<&str> = output
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            (l.contains("error") || l.contains("failed") || l.contains("cannot"))
                && !l.contains("[tls]")
        })
        .take(n)
        .collect();
    if picked.is_empty() {
        output
            .lines()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(n)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" / ")
    } else {
        picked.join(" / ")
    }
}

const FIX: &str = "build the .aot with the flb-wamrc of this Fluent Bit release \
    (FLB_WAMRC=/path/to/flb-wamrc scripts/build-filter, docs/admin-guide.md §2), \
    or set AFTERLOG_WASM to the portable afterlog_filter.wasm";

pub fn check(module: &Path, fluent_bit: &Path) -> Line {
    let subject = format!("aot {} in {}", module.display(), fluent_bit.display());
    if !module.is_file() {
        return Line::fail(
            subject,
            "no such file",
            "give --aot the filter artifact the DaemonSet loads",
        );
    }
    match run(module, fluent_bit) {
        Ok(()) => Line::pass(subject, "Fluent Bit loads it and runs a record through it"),
        Err(Failure::Setup(e)) => Line::fail(
            subject,
            e,
            "give --fluent-bit the Fluent Bit binary the nodes run (the same release)",
        ),
        Err(Failure::Refused(e)) => Line::fail(subject, format!("Fluent Bit refuses it: {e}"), FIX),
    }
}

enum Failure {
    /// Fluent Bit could not be run at all.
    Setup(String),
    /// It ran and did not take the module.
    Refused(String),
}

fn run(module: &Path, fluent_bit: &Path) -> Result<(), Failure> {
    let setup = |what: &str, e: std::io::Error| Failure::Setup(format!("{what}: {e}"));
    let dir = tempfile::tempdir().map_err(|e| setup("a temporary directory", e))?;
    let log = dir.path().join("probe.log");
    fs::write(&log, format!("{MARKER}\n")).map_err(|e| setup("writing the probe log", e))?;
    let cfg = dir.path().join("fluent-bit.yaml");
    let module = std::path::absolute(module).map_err(|e| setup("the module's path", e))?;
    let text = config(&log, &dir.path().join("tail.db"), &module, dir.path());
    fs::write(&cfg, text).map_err(|e| setup("writing the config", e))?;
    let out = fs::File::create(dir.path().join("out")).map_err(|e| setup("output file", e))?;
    let err = fs::File::create(dir.path().join("err")).map_err(|e| setup("output file", e))?;
    let mut child = Command::new(fluent_bit)
        .arg("-c")
        .arg(&cfg)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| setup(&format!("running {}", fluent_bit.display()), e))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(setup("waiting for Fluent Bit", e)),
        }
    };
    let read = |name: &str| {
        String::from_utf8_lossy(&fs::read(dir.path().join(name)).unwrap_or_default()).into_owned()
    };
    let (stdout, stderr) = (read("out"), read("err"));
    let all = format!("{stderr}\n{stdout}");
    let Some(status) = status else {
        return Err(Failure::Refused(format!(
            "did not finish a one-line log within {} s: {}",
            TIMEOUT.as_secs(),
            errors(&all, 5)
        )));
    };
    let passed = stdout
        .lines()
        .any(|l| l.starts_with('{') && l.contains(MARKER));
    if status.success() && passed {
        return Ok(());
    }
    let why = if status.success() {
        format!(
            "the record did not come through the filter: {}",
            errors(&all, 5)
        )
    } else {
        let code = status
            .code()
            .map_or_else(|| "by a signal".to_string(), |c| format!("with {c}"));
        format!("it exited {code}: {}", errors(&all, 5))
    };
    Err(Failure::Refused(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_quote_fluent_bits_words() {
        let out = "[info] start\n[error] Load wasm module failed. error: AOT module load failed: unknown binary version\n\
                   [error] [filter:wasm:wasm.0] failed to instantiate wasm program: /x.aot\n[ info] bye\n";
        assert_eq!(
            errors(out, 5),
            "[error] Load wasm module failed. error: AOT module load failed: unknown binary version / \
             [error] [filter:wasm:wasm.0] failed to instantiate wasm program: /x.aot"
        );
        assert_eq!(errors("a\nb\n\nc\n", 2), "b / c");
    }

    #[test]
    fn the_config_quotes_paths() {
        let c = config(
            Path::new("/t/it's.log"),
            Path::new("/t/db"),
            Path::new("/m.aot"),
            Path::new("/t"),
        );
        assert!(c.contains("path: '/t/it''s.log'"));
        assert!(c.contains("wasm_path: '/m.aot'"));
    }
}
