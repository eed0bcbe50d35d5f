//! A validating, allocation-free JSON scanner and a few writers.
//!
//! The filter runs interpreted inside Fluent Bit, where building a JSON tree
//! per record costs ten times the rest of the pipeline. Instead the scanner
//! checks the record once (RFC 8259, strict UTF-8, the same nesting limit as
//! `serde_json`) and hands out byte spans, so untouched values are copied to
//! the output as they are.
//!
//! - `scan`: the scanner and its errors.
//! - `span`: what it hands out — a string's or a member's span.
//! - `unescape`: reading a scanned string's escapes.
//! - `write`: writing JSON strings and numbers, and comparing bytes.

mod scan;
mod span;
mod unescape;
mod write;

pub use scan::{JsonError, MAX_DEPTH, Scanner, is_valid, nested_object, top_object};
pub use span::{Member, Str};
pub use unescape::{for_each_unescaped, unescape_into};
pub use write::{bytes_eq, u64_digits, write_str, write_str_body, write_u64};
