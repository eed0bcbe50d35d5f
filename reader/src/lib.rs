//! The afterlog reader. Its core parses stored records and merges a job's
//! objects into one ordered, duplicate-free log (DESIGN §4); it is pure — no
//! I/O — so the service and the compactor can share it and tests can drive
//! it. [`store`] and [`job`] are the I/O edge: opening the object store and
//! feeding a job's objects to the merge.

pub mod job;
pub mod merge;
pub mod meta;
pub mod record;
pub mod store;

pub use job::{
    JobIndex, JobLog, JobReader, JobSummary, ReadStats, RunSummary, Summary, job_runs, list_jobs,
    read_job, read_tail,
};
pub use merge::{Filter, Limit, Merge, Position, sort_records, sorted};
pub use meta::PodMeta;
pub use record::{LogRecord, ParseError, QuotaEvent, TextStyle};
pub use store::{Store, StoreConfig, StoreError, open};
