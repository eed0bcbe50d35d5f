//! The afterlog filter for Fluent Bit's `wasm` filter plugin.
//!
//! - [`filter`]: the core — one record in, one verdict out; pure, no I/O.
//! - [`json`]: the allocation-free scanner the core reads records with.
//! - [`labels`], [`routing`], [`quota`], [`config`]: label rules, routing
//!   rules, byte budgets, settings.
//! - [`msgpack`], [`direct`]: the msgpack mode's codecs, general and direct.
//! - `reference` (feature `reference`): the executable specification the
//!   equivalence tests compare the core against.
//! - [`runtime`]: the edge — finds the config, checkpoints quota state.
//! - `abi` (wasm only): the exported function Fluent Bit calls.

pub mod config;
pub mod direct;
pub mod filter;
pub mod json;
pub mod k8s_event;
pub mod labels;
pub mod msgpack;
pub mod quota;
#[cfg(feature = "reference")]
pub mod reference;
pub mod routing;
pub mod runtime;

#[cfg(target_family = "wasm")]
mod abi;

pub use config::Config;
pub use filter::{Filter, Output};
pub use runtime::Runtime;
