//! Runs the afterlog filter natively over records as Fluent Bit would hand
//! them to it (one JSON object per line) and prints what Fluent Bit would
//! keep: a way to try label rules and quotas before deploying them.
//!
//! `afterlog-filter-run [--config-dir DIR] [FILE]` (FILE defaults to stdin)

use afterlog_filter::{Output, Runtime};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn main() -> ExitCode {
    let mut dirs = Vec::new();
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config-dir" => match args.next() {
                Some(d) => dirs.push(PathBuf::from(d)),
                None => return usage("--config-dir needs a directory"),
            },
            "-h" | "--help" => return usage(""),
            _ if file.is_none() => file = Some(PathBuf::from(a)),
            _ => return usage("more than one input file"),
        }
    }
    let input: Box<dyn BufRead> = match &file {
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) => {
                eprintln!("afterlog-filter-run: {}: {e}", p.display());
                return ExitCode::FAILURE;
            }
        },
        None => Box::new(BufReader::new(std::io::stdin())),
    };
    // Quota state is not written anywhere: this is a dry run.
    let mut rt = if dirs.is_empty() {
        Runtime::with_config(Default::default(), None, now_ns)
    } else {
        Runtime::open(&dirs, now_ns)
    };
    let now = now_ns();
    let (sec, nsec) = ((now / 1_000_000_000) as u32, (now % 1_000_000_000) as u32);
    let mut out = std::io::stdout().lock();
    let (mut kept, mut dropped) = (0u64, 0u64);
    for (n, line) in input.split(b'\n').enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("afterlog-filter-run: reading line {}: {e}", n + 1);
                return ExitCode::FAILURE;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let written = match rt.process(sec, nsec, &line) {
            Output::Record(b) => out.write_all(&b[..b.len() - 1]),
            Output::Unchanged => out.write_all(&line),
            Output::Drop => {
                dropped += 1;
                continue;
            }
        };
        kept += 1;
        if written.and_then(|_| out.write_all(b"\n")).is_err() {
            return ExitCode::FAILURE;
        }
    }
    eprintln!("afterlog-filter-run: {kept} records kept, {dropped} dropped by the quota");
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("afterlog-filter-run: {problem}");
    }
    eprintln!(
        "usage: afterlog-filter-run [--config-dir DIR] [FILE]\n  FILE: one Fluent Bit record (JSON) per line; default stdin"
    );
    if problem.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
