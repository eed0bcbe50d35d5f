//! Deterministic pseudo-random log text for the benchmarks' synthetic jobs.
#![allow(dead_code)]

/// xorshift64: deterministic, tiny.
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Words log lines are made of.
pub const WORDS: &[&str] = &[
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
