//! The user-facing subcommands of `afterlog`: `jobs`, `logs`, `push`,
//! `usage`. They only talk to the HTTP API (users never touch the store);
//! their arguments are in [`crate::args::client`].
//!
//! Output: data on stdout; the API's `messages`, progress and errors on
//! stderr ([`voice`], [`progress`]), coloured by level when stderr is a
//! terminal and `NO_COLOR` is unset.

pub mod listing;
pub mod logs;
pub mod progress;
pub mod push;
pub mod voice;

pub use listing::{run_jobs, run_usage};
pub use logs::run_logs;
pub use push::run_push;
pub use voice::{Level, Told, Voice};
