//! Drives the real Fluent Bit binary (`shared/bin/fluent-bit`, v5.1.1) for
//! end-to-end tests and benchmarks.
//!
//! - [`locate`]: the binaries ([`fluent_bit_path`], [`flb_wamrc_path`],
//!   [`filter_wasm_path`]);
//! - [`pipeline`]: a [`Pipeline`] renders the YAML config (tail → kubernetes
//!   → wasm or lua → stdout/counter/null);
//! - [`run`]: runs Fluent Bit to completion under a timeout and returns its
//!   output and CPU time ([`Run`]);
//! - [`drop_in`]: the shipped drop-in `fluent-bit/afterlog.yaml` pointed at
//!   a test's files, and a node's directories ([`Node`]);
//! - [`process`]: a long-running Fluent Bit (or service) to signal and
//!   watch ([`Proc`]).
//!
//! The world they read (pods, CRI log files) is `afterlog_sim`'s.
//!
//! What Fluent Bit really does with these pipelines is written down in
//! `docs/fluent-bit-facts.md`. Nothing here talks to the network: the
//! kubernetes filter gets its pods from files and points at 127.0.0.1.

pub mod drop_in;
pub mod locate;
pub mod pipeline;
pub mod process;
pub mod run;

pub use drop_in::{DropIn, Node, main_config, replace_lines};
pub use locate::{
    BUILD_FILTER, compile_aot, filter_wasm_path, flb_wamrc_path, fluent_bit_path,
    require_filter_wasm, target_dir, workspace_root,
};
pub use pipeline::{Pipeline, Sink, Stage, WasmStage};
pub use process::{Proc, wait_buffered};
pub use run::{Run, dry_run, dry_run_with, run_config, tail_lines};

use std::path::Path;
use std::time::Duration;

/// Overrides the Fluent Bit binary.
pub const FLUENT_BIT_ENV: &str = "AFTERLOG_FLUENT_BIT";
/// Overrides the `flb-wamrc` AOT compiler.
pub const FLB_WAMRC_ENV: &str = "AFTERLOG_FLB_WAMRC";
/// Overrides the filter `.wasm` the tests load.
pub const FILTER_WASM_ENV: &str = "AFTERLOG_FILTER_WASM";
/// The function the filter exports for Fluent Bit.
pub const FILTER_FUNCTION: &str = "afterlog_filter";
/// The longest a test or benchmark lets Fluent Bit run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the kubernetes filter "finds" its API server: nothing listens on
/// the discard port, and with the pods preloaded it is never asked anyway.
pub const KUBE_URL: &str = "https://127.0.0.1:9";

/// Quotes a YAML scalar.
pub fn yq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// [`yq`] of a path.
pub fn yp(p: &Path) -> String {
    yq(&p.to_string_lossy())
}
