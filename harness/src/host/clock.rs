//! The guest's WASI clocks, set by the test.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// A shared, settable clock for the guest's WASI `clock_time_get`, so tests
/// can move time deterministically. Clones share the same time.
///
/// The wall clock (`realtime`) is whatever was set; the monotonic clock
/// starts at 0 and moves forward with every forward move of the wall clock
/// (never backwards, as a monotonic clock must).
#[derive(Clone, Debug)]
pub struct TestClock(Arc<ClockState>);

#[derive(Debug)]
struct ClockState {
    wall: AtomicU64,
    mono: AtomicU64,
}

impl TestClock {
    /// A clock whose wall time is `unix_nanos` nanoseconds since the epoch.
    pub fn new(unix_nanos: u64) -> Self {
        TestClock(Arc::new(ClockState {
            wall: AtomicU64::new(unix_nanos),
            mono: AtomicU64::new(0),
        }))
    }

    /// Jumps the wall clock to `unix_nanos` (backwards too, like an NTP
    /// step); the monotonic clock only follows forward jumps.
    pub fn set(&self, unix_nanos: u64) {
        let old = self.0.wall.swap(unix_nanos, Ordering::SeqCst);
        if unix_nanos > old {
            self.0.mono.fetch_add(unix_nanos - old, Ordering::SeqCst);
        }
    }

    /// Moves both clocks forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.wall.fetch_add(by, Ordering::SeqCst);
        self.0.mono.fetch_add(by, Ordering::SeqCst);
    }

    /// The wall time the guest currently sees, in Unix nanoseconds.
    pub fn now(&self) -> u64 {
        self.0.wall.load(Ordering::SeqCst)
    }

    /// The monotonic time the guest currently sees, in nanoseconds.
    pub fn monotonic(&self) -> u64 {
        self.0.mono.load(Ordering::SeqCst)
    }
}

impl HostWallClock for TestClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_nanos(TestClock::now(self))
    }
}

/// The monotonic view of a [`TestClock`] (a separate type because both
/// clock traits have a `now` with different return types).
pub(super) struct MonotonicView(pub(super) TestClock);

impl HostMonotonicClock for MonotonicView {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.0.monotonic()
    }
}
