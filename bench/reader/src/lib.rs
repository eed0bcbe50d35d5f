//! afterlog's benchmarks of reading, serving and compacting, one module per
//! bench binary (`reader`, `load`, `scale`, `compact`, `adapter`, `volume`) over the
//! pieces they share: the generated data (`synth`, `words`, `dataset`), the
//! store and the real `afterlog` binary on it (`store`, `server`), a small
//! HTTP client (`http`), gzip backends (`gz`) and how figures are printed
//! (`figures`). Results and commands: docs/benchmarks.md.

pub mod adapter;
pub mod compact;
pub mod dataset;
pub mod figures;
pub mod gz;
pub mod http;
pub mod load;
pub mod reader;
pub mod scale;
pub mod server;
pub mod store;
pub mod synth;
pub mod volume;
pub mod words;

use std::process::ExitCode;

/// A bench's `main`: its arguments parsed, then `run`; an error is printed
/// with its whole context chain, prefixed by the bench's `name`.
pub fn main<A: clap::Parser>(name: &str, run: fn(A) -> anyhow::Result<()>) -> ExitCode {
    match run(A::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
