//! Reading one job from the store (docs/design.md §4, §5, §7): list its raw
//! objects and take the job's index (or, for the per-pod layout, each pod's
//! meta) as a snapshot, skip the raw keys it lists as consumed, and feed the objects to the pure [`Merge`](crate::merge::Merge)
//! in the order of their first event time, opening each only when the
//! output reaches it. Memory
//! therefore follows the objects that overlap in time, not the job's size,
//! and `tail=N` opens only the newest objects it needs.

mod bounds;
mod deletions;
mod fetch;
mod head;
mod listing;
mod log;
mod plan;
mod prefetch;
mod reader;
mod snapshot;
mod stats;
mod stores;
mod summary;

// Pure: shared with the JavaScript adapter (adapter-wasm/).
pub use crate::object::{BadLine, Source, gunzip};
pub use bounds::{EVENTS_BACK_NS, RAW_SLACK_NS};
pub use deletions::{
    DeletionScope, StoredDeletion, count_affected, create_deletion_doc, job_hidden, load_deletions,
};
pub use head::{FirstTimes, ObjectHead, first_line, read_head};
pub use listing::{Listed, list_raw};
pub use log::{JobLog, read_job, read_tail};
pub use plan::{Plan, Planned, plan};
pub use reader::JobReader;
pub use snapshot::{IndexedChunk, JobIndex, job_runs, read_meta};
pub use stats::ReadStats;
pub use stores::Stores;
pub use summary::{JobSummary, RunSummary, Summary, list_jobs, list_jobs_all};
