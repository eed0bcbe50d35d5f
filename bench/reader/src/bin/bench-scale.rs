//! `bench-scale`: how the service's answers scale with a job's history
//! ([`afterlog_bench_reader::scale`]).

fn main() -> std::process::ExitCode {
    afterlog_bench_reader::main("bench-scale", afterlog_bench_reader::scale::run)
}
