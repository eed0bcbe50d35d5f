//! The afterlog reader's core: parsing stored records and merging a job's
//! objects into one ordered, duplicate-free log (DESIGN §4). Pure — no I/O —
//! so the service and the compactor can share it and tests can drive it.

pub mod merge;
pub mod record;

pub use merge::{Filter, Limit, Merge, sort_records, sorted};
pub use record::{LogRecord, ParseError, QuotaEvent};
