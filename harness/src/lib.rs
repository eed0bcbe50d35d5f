//! The afterlog filter's test and benchmark harness: a wasmtime host that
//! calls the `.wasm` the way Fluent Bit's `filter_wasm` does ([`host`]),
//! drivers of the real Fluent Bit binary ([`fluent_bit`]), what the filter
//! must make of a line ([`expect`]), and generated input records
//! ([`records`]). The benchmarks are its binaries.

pub mod expect;
pub mod fluent_bit;
pub mod host;
pub mod records;
