//! The cluster afterlog lives in, simulated, for the demo, the tests and the
//! benchmarks: every one of them builds its world from these parts, so the
//! world is the same everywhere.

pub mod rng;
pub use rng::Rng;
