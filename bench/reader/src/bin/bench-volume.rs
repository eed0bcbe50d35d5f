//! `bench-volume`: the volume of a month-long compacted job over HTTP
//! ([`afterlog_bench_reader::volume`]).

fn main() -> std::process::ExitCode {
    afterlog_bench_reader::main("bench-volume", afterlog_bench_reader::volume::run)
}
