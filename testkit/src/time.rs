//! When the tests' stored logs begin.

/// 2026-11-25T15:00:00Z, in seconds: the key time of the first uploads.
pub const SECS: u64 = 1_795_618_800;
/// [`SECS`] in nanoseconds: the records' times count from here.
pub const T0: u64 = SECS * 1_000_000_000;
