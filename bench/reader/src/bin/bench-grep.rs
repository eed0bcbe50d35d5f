//! `bench-grep`: the logs' line filters over the big job against
//! `zcat | grep`, and a tool-wide search over many small jobs
//! ([`afterlog_bench_reader::grep`]).

fn main() -> std::process::ExitCode {
    afterlog_bench_reader::main("bench-grep", afterlog_bench_reader::grep::run)
}
