//! What a body held: its lines and CRC-32, to compare the answers under
//! load with one read alone.

use super::BUF;
use crate::http;
use anyhow::{Result, ensure};
use std::io::BufReader;
use std::time::Instant;

pub fn newlines(b: &[u8]) -> u64 {
    // Vectorised by the compiler: no per-line work.
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// The lines and CRC-32 of a body's first `limit` bytes, and how many
/// bytes came after them (a follow's new lines and heartbeats).
pub struct Digest {
    pub limit: u64,
    pub bytes: u64,
    pub lines: u64,
    pub crc: flate2::Crc,
    pub extra: u64,
}

impl Digest {
    pub fn new(limit: u64) -> Digest {
        Digest {
            limit,
            bytes: 0,
            lines: 0,
            crc: flate2::Crc::new(),
            extra: 0,
        }
    }

    pub fn feed(&mut self, piece: &[u8]) {
        let take = (self.limit - self.bytes).min(piece.len() as u64) as usize;
        let (head, tail) = piece.split_at(take);
        self.lines += newlines(head);
        self.crc.update(head);
        self.bytes += take as u64;
        self.extra += tail.len() as u64;
    }

    pub fn sum(&self) -> (u64, u64, u32) {
        (self.bytes, self.lines, self.crc.sum())
    }
}

/// What the reference read gave.
#[derive(Clone, Copy)]
pub struct Reference {
    pub bytes: u64,
    pub lines: u64,
    pub crc: u32,
}

impl Reference {
    pub fn matches(&self, d: &Digest) -> bool {
        d.sum() == (self.bytes, self.lines, self.crc)
    }
}

/// One request alone, its `ts` order checked line by line: the reference
/// the loaded answers are compared with.
pub fn reference(addr: &str, path: &str, token: &str) -> Result<(Reference, http::Reply, f64)> {
    let t = Instant::now();
    let s = http::send_get_as(addr, path, Some(token))?;
    let mut rd = BufReader::with_capacity(BUF, s);
    let head = http::read_head(&mut rd)?;
    let mut lc = http::LineCounter::default();
    let mut d = Digest::new(u64::MAX);
    http::read_body(&mut rd, &head, |p| {
        lc.feed(p);
        d.feed(p);
    })?;
    let mut r = lc.finish();
    r.status = head.status;
    ensure!(
        r.status == 200,
        "{path}: HTTP {}: {}",
        r.status,
        r.start_text()
    );
    let (bytes, lines, crc) = d.sum();
    Ok((
        Reference { bytes, lines, crc },
        r,
        t.elapsed().as_secs_f64(),
    ))
}
