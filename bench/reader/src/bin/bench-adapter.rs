//! `bench-adapter`: the native side of the JavaScript adapter's benchmark
//! ([`afterlog_bench_reader::adapter`]).

fn main() -> std::process::ExitCode {
    afterlog_bench_reader::main("bench-adapter", afterlog_bench_reader::adapter::run)
}
