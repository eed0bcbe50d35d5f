//! Test-side hosts for the afterlog filter: a wasmtime host that calls the
//! `.wasm` the way Fluent Bit's `filter_wasm` does, and helpers that drive
//! the real Fluent Bit binary.

pub mod fluent_bit;
pub mod host;
pub mod records;
