//! The wall clock, as the service's records and keys count time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch (0 on a clock before it).
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Nanoseconds since the epoch (0 on a clock before it).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// RFC 3339 with nanoseconds of a time in ns since the epoch, if known.
pub fn rfc3339(ns: Option<u64>) -> Option<String> {
    ns.map(afterlog_contract::time::rfc3339_nanos)
}
