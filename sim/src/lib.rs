//! The cluster afterlog lives in, simulated, for the demo, the tests and the
//! benchmarks: every one of them builds its world from these parts, so the
//! world is the same everywhere.
//!
//! - [`rng`]: the seeded randomness;
//! - [`k8s`]: pods, their ids and JSON;
//! - [`cri`]: the container log files on the node;
//! - [`fluent_bit`]: the records Fluent Bit makes of them, in its JSON.

pub mod cri;
pub mod fluent_bit;
pub mod k8s;
pub mod k8s_event;
pub mod rng;
pub use rng::Rng;
