//! `bench-reader`: how fast the afterlog reader reassembles a large job,
//! against `zcat` of the same objects, and at what memory cost
//! ([`afterlog_bench_reader::reader`]).

fn main() -> std::process::ExitCode {
    afterlog_bench_reader::main("bench-reader", afterlog_bench_reader::reader::run)
}
