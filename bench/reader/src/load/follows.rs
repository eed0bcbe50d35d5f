//! Follows of the big job held open while the reads run, and what they
//! came to.

use super::admission::{Outcome, admitted, refused_for};
use super::digest::{Digest, Reference};
use super::{Args, follow_from};
use crate::http;
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Open follows, cut when the reads are over.
#[derive(Default)]
pub struct Follows {
    streams: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
}

impl Follows {
    /// Keeps `s` to be cut; cuts it at once if the reads are over.
    pub fn hold(&self, s: &TcpStream) {
        let mut v = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        match s.try_clone() {
            Ok(c) if !self.stop.load(Ordering::SeqCst) => v.push(c),
            _ => {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    pub fn cut(&self) {
        let v = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        self.stop.store(true, Ordering::SeqCst);
        for s in v.iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

pub fn follow(
    addr: &str,
    path: &str,
    token: &str,
    retries: usize,
    follows: &Follows,
    answered: &std::sync::mpsc::Sender<()>,
    limit: u64,
) -> Outcome {
    let (mut out, body) = admitted(addr, path, token, retries, &follows.stop);
    let _ = answered.send(());
    if let Some((mut rd, head)) = body {
        follows.hold(rd.get_ref());
        let mut d = Digest::new(limit);
        let r = http::read_body(&mut rd, &head, |p| d.feed(p));
        out.ended_early = !follows.stop.load(Ordering::SeqCst);
        if out.ended_early
            && let Err(e) = r
        {
            out.error = Some(format!("mid-body: {e:#}"));
        }
        out.digest = Some(d);
    }
    out
}

/// What the follows came to.
pub struct FollowsSummary {
    pub admitted: usize,
    /// Had sent their whole stored part, identical to a read alone, when cut.
    pub whole: usize,
    /// Had not sent their whole stored part when cut.
    pub short: usize,
    pub ended_early: usize,
    pub refusals: Vec<&'static str>,
    /// Bytes after the stored part: new lines and heartbeats.
    pub extra: u64,
}

impl FollowsSummary {
    /// Sums up `follows` against `refr`, the stored part each must send;
    /// what went wrong is added to `bad`.
    pub fn of(follows: &[Outcome], refr: &Reference, bad: &mut Vec<String>) -> Self {
        for (i, f) in follows.iter().enumerate() {
            if let Some(e) = &f.error {
                bad.push(format!("follow {i}: {e}"));
            } else if let Some(d) = &f.digest
                && d.bytes == refr.bytes
                && !refr.matches(d)
            {
                bad.push(format!(
                    "follow {i}: its stored part differs from the read alone ({} lines, CRC-32 {:08x})",
                    d.lines,
                    d.crc.sum()
                ));
            }
        }
        let digests = || follows.iter().filter_map(|f| f.digest.as_ref());
        FollowsSummary {
            admitted: follows.iter().filter(|f| f.digest.is_some()).count(),
            whole: digests().filter(|d| refr.matches(d)).count(),
            short: digests().filter(|d| d.bytes < refr.bytes).count(),
            ended_early: follows.iter().filter(|f| f.ended_early).count(),
            refusals: follows.iter().flat_map(|f| f.refusals.clone()).collect(),
            extra: digests().map(|d| d.extra).sum(),
        }
    }

    pub fn print(&self, a: &Args) {
        println!(
            "  follows: {} of {} admitted ({} 429s: {} budget, {} caller, {} follow-max); {} had sent their whole stored part ({}) identical to a read alone when cut, {} had not; {} ended before they were cut; {} bytes after the stored part",
            self.admitted,
            a.follows,
            self.refusals.len(),
            refused_for(&self.refusals, "budget"),
            refused_for(&self.refusals, "caller"),
            refused_for(&self.refusals, "follow-max"),
            self.whole,
            follow_from(a),
            self.short,
            self.ended_early,
            self.extra,
        );
    }
}
