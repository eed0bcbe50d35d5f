//! The afterlog reader. Its core parses stored records and merges a job's
//! objects into one ordered, duplicate-free log (docs/design.md §4); it is pure — no
//! I/O — so the service and the compactor can share it and tests can drive
//! it. [`store`] and [`job`] are the I/O edge: opening the object store and
//! feeding a job's objects to the merge.
//!
//! The edge is the default `store` feature. Without it (`default-features =
//! false`) only the pure modules are built — `context`, `deletion`, `index`, `line_match`,
//! `merge`, `meta`, `object`, `quota`, `record`, `selection`, `volume` — with no object_store, tokio or
//! futures, so that the same code compiles to `wasm32-unknown-unknown` for
//! the JavaScript adapter (`adapter-wasm/`).

pub mod context;
#[cfg(feature = "store")]
pub mod counting;
pub mod deletion;
pub mod index;
#[cfg(feature = "store")]
pub mod job;
pub mod line_match;
pub mod merge;
pub mod meta;
pub mod object;
pub mod quota;
pub mod record;
pub mod selection;
#[cfg(feature = "store")]
pub mod store;
pub mod volume;

pub use context::{Context, Shown};
pub use deletion::{DeletionState, DeletionStatus, Tombstones};
#[cfg(feature = "store")]
pub use job::{
    JobIndex, JobLog, JobReader, JobSummary, ReadStats, RunSummary, Summary, job_runs, list_jobs,
    read_job, read_tail,
};
pub use line_match::{LineFilter, LineMatch, LineMatchError};
pub use merge::{Merge, sort_records, sorted};
pub use meta::PodMeta;
pub use object::{BadLine, Gate, Source, gunzip, open_raw, open_text, streamed_lines};
pub use record::{LogRecord, ParseError, QuotaEvent, TextStyle};
pub use selection::{Events, Limit, Position, Selection};
#[cfg(feature = "store")]
pub use store::{Store, StoreConfig, StoreError, open};
