//! `afterlog demo`'s data set: the `afterlog-demo` crate, linked with the
//! cargo feature `demo` (on by default). The server image is built without
//! it (`--no-default-features`), and so without the filter crate the demo
//! runs; `afterlog demo` then says so.

#[cfg(feature = "demo")]
pub use afterlog_demo::{DemoJob, DemoSummary, build};

#[cfg(not(feature = "demo"))]
pub use absent::{DemoJob, DemoSummary, build};

#[cfg(not(feature = "demo"))]
mod absent {
    use std::path::Path;

    /// Never made: a build without the demo has no data set to describe.
    pub struct DemoSummary {
        pub jobs: Vec<DemoJob>,
        pub objects: usize,
        pub records: usize,
    }

    pub struct DemoJob {
        pub tool: String,
        pub job: String,
        pub kind: String,
        pub note: String,
    }

    pub fn build(_dir: &Path, _now_ns: u64) -> anyhow::Result<DemoSummary> {
        anyhow::bail!("this afterlog was built without the demo (cargo feature `demo`)")
    }
}
