//! The process's memory as the allocator holds it: glibc's malloc, tuned
//! for a server whose heap swells with concurrent reads and must shrink
//! after them (a pod's RSS is what its memory limit and the node see).

/// Records are parsed on blocking threads and freed on the runtime's: with
/// glibc's default of one malloc arena per thread and core, freed memory
/// lingers in arenas other threads no longer use. Two arenas keep the
/// service's footprint near what it really holds. Call before any thread
/// is started.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns the free parts of the heap to the system. glibc keeps freed
/// memory for reuse, and after a spike of reads a fragmented heap is not
/// trimmed on its own (docs/benchmarks.md, "Load"). Costs milliseconds on
/// a large heap: called off the async threads when the last read ends.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
