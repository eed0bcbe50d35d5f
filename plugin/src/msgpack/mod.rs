//! The msgpack mode's edge (`event_format: msgpack`): a record
//! arrives as a msgpack map, goes through the same JSON core, and leaves
//! in NF1 (`afterlog_contract::nf`), msgpack without a zero byte, because
//! Fluent Bit reads the result with `strlen`.
//!
//! Incoming msgpack becomes the JSON text Fluent Bit itself would have made
//! of it in the JSON mode, so both modes store the same records.
//!
//! - `decode`: msgpack in, JSON text out.
//! - `encode`: the core's JSON text in, NF1 out.
//! - `cache`: what both remember of a container's earlier records.

mod cache;
mod decode;
mod encode;

pub use cache::Caches;
pub use decode::{MsgpackError, to_json, to_json_cached, value_to_json};
pub use encode::{to_nf, to_nf_cached, value_to_nf};
