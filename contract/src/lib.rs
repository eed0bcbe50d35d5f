//! The contracts between afterlog's parts (see docs/design.md): the names of the
//! record fields the filter writes and the reader reads, the reversible
//! encoding of key parts, the object key layout, the label rule and routing rule types,
//! the defaults of settings files, and the words the service's API takes
//! ([`query`]).
//!
//! Everything here is plain data and pure functions so that the filter (built
//! for `wasm32-wasip1`) and the reader share one source of truth.

pub mod defaults;
pub mod k8s_event;
pub mod keys;
pub mod layout;
pub mod nf;
pub mod query;
pub mod record;
pub mod routing;
pub mod rules;
pub mod time;
