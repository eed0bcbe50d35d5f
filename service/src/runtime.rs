//! Where streamed reads and follows run.

/// A runtime of their own for streamed reads and follows, so that the
/// server's runtime, which accepts connections and answers health checks,
/// job lists and small tails, is never queued behind merges
/// (docs/benchmarks.md, "Load"). The kernel shares the cores between the
/// two runtimes' threads. Made on first use and kept for the life of the
/// process; if it cannot be made, reads run on the caller's runtime.
pub fn reads() -> tokio::runtime::Handle {
    static READS: std::sync::OnceLock<Option<tokio::runtime::Runtime>> = std::sync::OnceLock::new();
    let rt = READS.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
            .thread_name("afterlog-read")
            .enable_all()
            .build()
            .inspect_err(|e| tracing::warn!(error = %e, "no runtime of their own for reads"))
            .ok()
    });
    match rt {
        Some(rt) => rt.handle().clone(),
        None => tokio::runtime::Handle::current(),
    }
}
