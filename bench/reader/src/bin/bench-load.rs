//! `bench-load`: `afterlog serve` under load, against one server it starts
//! ([`afterlog_bench_reader::load`]).

fn main() -> std::process::ExitCode {
    afterlog_bench_reader::main("bench-load", afterlog_bench_reader::load::run)
}
