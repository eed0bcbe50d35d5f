//! `bench-compact`: one compaction pass over a job of many small raw
//! objects, against `zcat` ([`afterlog_bench_reader::compact`]).

fn main() -> std::process::ExitCode {
    afterlog_bench_reader::main("bench-compact", afterlog_bench_reader::compact::run)
}
