//! The user-facing subcommands of `afterlog`: `jobs`, `logs`, `search`,
//! `push`, `usage`, `delete`, `deletions`. They only talk to the HTTP API (users never touch the
//! store); their arguments are in [`crate::args::client`]. And the CLI's own
//! `completions` and `man` ([`manual`]).
//!
//! Output: data on stdout; the API's `messages`, progress and errors on
//! stderr ([`voice`], [`progress`]), coloured by level when stderr is a
//! terminal and `NO_COLOR` is unset (`--color` decides otherwise); matches of
//! `--grep` painted on stdout the same way ([`highlight`]), and Kubernetes
//! events in their own colours ([`event_color`]).

pub mod delete;
pub mod event_color;
pub mod highlight;
pub mod listing;
pub mod logs;
pub mod manual;
pub mod ndjson;
pub mod progress;
pub mod push;
pub mod search;
pub mod voice;

pub use delete::{run_delete, run_deletions};
pub use listing::{run_jobs, run_usage};
pub use logs::run_logs;
pub use push::run_push;
pub use search::run_search;
pub use voice::{Level, Told, Voice};
