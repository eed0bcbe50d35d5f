//! What the `s3` output makes of the filter's output: one route's records
//! cut into uploads.

use crate::{ALNUM, MINUTE, S};
use afterlog_contract::layout::Origin;
use afterlog_sim::Rng;

/// The drop-in's `upload_timeout`: a buffer is uploaded this long after it was started.
const UPLOAD_TIMEOUT: u64 = 5 * MINUTE;

/// The records of one `rewrite_tag` route, in the order the filter emitted them.
pub(crate) struct Route {
    pub(crate) origin: Origin,
    pub(crate) kind: String,
    pub(crate) node: String,
    /// The newest container id (a restart changes it).
    pub(crate) container_id: String,
    pub(crate) records: Vec<(u64, Vec<u8>)>,
}

/// One PUT of the `s3` output.
#[derive(Clone)]
pub(crate) struct Upload {
    pub(crate) origin: Origin,
    pub(crate) first_ts: u64,
    pub(crate) key: String,
    pub(crate) lines: Vec<Vec<u8>>,
    pub(crate) put_ns: u64,
}

impl Upload {
    pub(crate) fn first_secs(&self) -> i64 {
        (self.first_ts / S) as i64
    }
}

impl Route {
    /// Cuts the route's records into uploads as the `s3` output does: one
    /// per `upload_timeout` of buffering, keyed by its first record's time.
    pub(crate) fn uploads(&self, ids: &mut Rng) -> Vec<Upload> {
        let mut out: Vec<Upload> = Vec::new();
        for (ts, line) in &self.records {
            match out.last_mut() {
                Some(u) if *ts < u.first_ts + UPLOAD_TIMEOUT => u.lines.push(line.clone()),
                _ => {
                    let first_secs = (*ts / S) as i64;
                    out.push(Upload {
                        origin: self.origin.clone(),
                        first_ts: *ts,
                        key: self.origin.raw_key(first_secs, &ids.word(ALNUM, 8)),
                        lines: vec![line.clone()],
                        put_ns: ts + UPLOAD_TIMEOUT + ids.below(20 * S),
                    })
                }
            }
        }
        out
    }
}
