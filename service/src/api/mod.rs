//! The HTTP API (docs/design.md §6), laid out as axum's examples lay theirs out:
//! [`state`], what every handler shares; [`extract`], who asks about what;
//! a module per resource with thin handlers over pure planning ([`health`],
//! [`jobs`], [`logs`], [`push`], [`search`], [`deletions`]); [`load`], the store reads they
//! share; [`router`], the one place that names the handlers; and
//! [`openapi`], the schemas that make the OpenAPI document an exact contract.

pub mod deletions;
pub mod extract;
pub mod health;
pub mod jobs;
pub mod load;
pub mod logs;
pub mod openapi;
pub mod push;
pub mod router;
pub mod search;
pub mod state;

pub use crate::clock::now_ns;
pub use router::{ApiDoc, router};
pub use state::{App, AppState, Settings};
