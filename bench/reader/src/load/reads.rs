//! Full reads of the big job under load, and what they came to against
//! the read alone.

use super::Args;
use super::admission::{Outcome, admitted, refused_for};
use super::digest::{Digest, Reference};
use super::small::fmt_ms;
use crate::figures::percentiles;
use crate::http;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// A full read: what it came to, and its seconds from the first attempt
/// and from the answer's head to the end of the body.
#[derive(Default)]
pub struct Read {
    pub outcome: Outcome,
    pub secs: f64,
    pub body_secs: f64,
}

pub fn full_read(addr: &str, path: &str, token: &str, retries: usize) -> Read {
    let t = Instant::now();
    let never = AtomicBool::new(false);
    let (outcome, body) = admitted(addr, path, token, retries, &never);
    let mut out = Read {
        outcome,
        ..Read::default()
    };
    if let Some((mut rd, head)) = body {
        let tb = Instant::now();
        let mut d = Digest::new(u64::MAX);
        if let Err(e) = http::read_body(&mut rd, &head, |p| d.feed(p)) {
            out.outcome.error = Some(format!("mid-body: {e:#}"));
        }
        out.body_secs = tb.elapsed().as_secs_f64();
        out.outcome.digest = Some(d);
    }
    out.secs = t.elapsed().as_secs_f64();
    out
}

/// What the reads came to.
pub struct Reads {
    /// Complete and identical to the read alone.
    pub complete: usize,
    pub admitted: usize,
    pub refused_once: usize,
    /// Refused at least once, then complete.
    pub retried_ok: usize,
    /// Never admitted, without an error: out of retries.
    pub gave_up: usize,
    /// Every 429's reason.
    pub refusals: Vec<&'static str>,
    /// The most 429s one read got.
    pub most_refusals: usize,
    /// Per admitted read, ms: the body alone, and with the waits.
    pub body_ms: Vec<f64>,
    pub total_ms: Vec<f64>,
}

impl Reads {
    /// Sums up `reads` against `refr`; what went wrong is added to `bad`.
    pub fn of(reads: &[Read], refr: &Reference, bad: &mut Vec<String>) -> Reads {
        for (i, r) in reads.iter().enumerate() {
            if let Some(e) = &r.outcome.error {
                bad.push(format!("read {i}: {e}"));
            } else if let Some(d) = &r.outcome.digest
                && !refr.matches(d)
            {
                let (bytes, lines, crc) = d.sum();
                bad.push(format!(
                    "read {i}: {lines} lines, {bytes} bytes, CRC-32 {crc:08x}; alone: {} lines, {} bytes, {:08x}",
                    refr.lines, refr.bytes, refr.crc
                ));
            }
        }
        let outcomes = || reads.iter().map(|r| &r.outcome);
        let admitted: Vec<&Read> = reads
            .iter()
            .filter(|r| r.outcome.digest.is_some())
            .collect();
        Reads {
            complete: outcomes()
                .filter(|o| o.error.is_none() && o.digest.as_ref().is_some_and(|d| refr.matches(d)))
                .count(),
            admitted: admitted.len(),
            refused_once: outcomes().filter(|o| !o.refusals.is_empty()).count(),
            retried_ok: admitted
                .iter()
                .filter(|r| !r.outcome.refusals.is_empty() && r.outcome.error.is_none())
                .count(),
            gave_up: outcomes()
                .filter(|o| o.digest.is_none() && o.error.is_none())
                .count(),
            refusals: outcomes().flat_map(|o| o.refusals.clone()).collect(),
            most_refusals: outcomes().map(|o| o.refusals.len()).max().unwrap_or(0),
            body_ms: admitted.iter().map(|r| r.body_secs * 1000.0).collect(),
            total_ms: admitted.iter().map(|r| r.secs * 1000.0).collect(),
        }
    }

    pub fn refused_for(&self, reason: &str) -> usize {
        refused_for(&self.refusals, reason)
    }

    pub fn print(&self, a: &Args) {
        println!(
            "  full reads: {} of {} complete and identical to the solo read; {} admitted, {} gave up after {} retries",
            self.complete, a.readers, self.admitted, self.gave_up, a.retries
        );
        let (budget, caller) = (self.refused_for("budget"), self.refused_for("caller"));
        println!(
            "  429s: {} answers to {} reads (budget {budget}, caller {caller}, other {}), at most {} for one read; {} of those reads then succeeded",
            self.refusals.len(),
            self.refused_once,
            self.refusals.len() - budget - caller,
            self.most_refusals,
            self.retried_ok
        );
        println!(
            "  per read, ms: body p50 / p99 / max {}; with the waits {}",
            fmt_ms(percentiles(&self.body_ms)),
            fmt_ms(percentiles(&self.total_ms))
        );
    }
}
