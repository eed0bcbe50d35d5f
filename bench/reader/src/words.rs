//! Short log lines of a worker (`[INFO] fetched rows 4711 from …`): the
//! text of `bench-compact`'s and `bench-scale`'s jobs.

use afterlog_sim::Rng;
use std::fmt::Write as _;

const LEVELS: &[&str] = &["[INFO]", "[INFO]", "[INFO]", "[DEBUG]", "[WARN]"];

/// A level, then `words` words (one in six a number).
pub fn line(r: &mut Rng, words: std::ops::RangeInclusive<u64>) -> String {
    let mut s = String::from(r.pick(LEVELS));
    for _ in 0..r.range(*words.start(), *words.end()) {
        s.push(' ');
        if r.chance(17) {
            let _ = write!(s, "{}", r.below(100_000));
        } else {
            s.push_str(r.pick(WORDS));
        }
    }
    s
}

/// Words log lines are made of.
const WORDS: &[&str] = &[
    "processing",
    "batch",
    "item",
    "queue",
    "worker",
    "done",
    "retry",
    "fetched",
    "rows",
    "from",
    "replica",
    "wiki",
    "page",
    "revision",
    "user",
    "cache",
    "miss",
    "hit",
    "took",
    "ms",
    "updated",
    "index",
    "error",
    "warning",
    "connection",
    "reset",
    "by",
    "peer",
    "ok",
];
