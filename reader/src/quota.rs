//! The quota events the filter leaves in the stream, and how a reader
//! shows them.

use afterlog_contract::record::event;
use afterlog_contract::time::rfc3339_nanos;
use std::fmt;

/// A quota marker or drop summary the filter left in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaEvent {
    /// The tool went over its budget; this record replaced the first line dropped.
    Exceeded {
        limit_bytes: u64,
        window_seconds: u64,
        /// ns since the epoch.
        resets_at: u64,
    },
    /// Rides on the first line admitted after drops: what was lost before it.
    Dropped {
        records: u64,
        bytes: u64,
        /// Event times (ns) of the first and last dropped line.
        from: u64,
        until: u64,
    },
}

/// `5.6 MiB`: binary units, one decimal, exact below 1 KiB.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    // Round first so that 1023.96 KiB shows as 1.0 MiB, not 1024.0 KiB.
    while (v * 10.0).round() >= 10240.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

impl QuotaEvent {
    /// The `afterlog.event` value.
    pub fn name(&self) -> &'static str {
        match self {
            QuotaEvent::Exceeded { .. } => event::QUOTA_EXCEEDED,
            QuotaEvent::Dropped { .. } => event::QUOTA_DROPPED,
        }
    }
}

/// The line a reader shows for the event, for people reading plain text.
impl fmt::Display for QuotaEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QuotaEvent::Exceeded {
                limit_bytes,
                window_seconds,
                resets_at,
            } => write!(
                f,
                "[afterlog] log quota of {} per {window_seconds} s reached; lines are dropped until {}",
                human_bytes(limit_bytes),
                rfc3339_nanos(resets_at)
            ),
            QuotaEvent::Dropped {
                records,
                bytes,
                from,
                until,
            } => write!(
                f,
                "[afterlog] {records} {} ({}) dropped by the quota between {} and {}",
                if records == 1 { "line" } else { "lines" },
                human_bytes(bytes),
                rfc3339_nanos(from),
                rfc3339_nanos(until)
            ),
        }
    }
}
