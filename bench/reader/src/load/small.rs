//! Small requests (the job list, `tail=100`) at a steady rate, and their
//! latency.

use super::callers::Caller;
use crate::figures::percentiles;
use crate::http;
use crate::synth::{BIG_JOB, TOOL};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub struct Small {
    /// Since the phase began, when it was due.
    pub due: Duration,
    /// From when it was due (not when it was sent: a worker held up by a
    /// slow answer sends late, and that wait is part of what the user sees).
    pub ms: f64,
    pub ok: bool,
}

/// Small requests at `rps` from `callers` (one worker each, taking turns)
/// until `stop`, alternating the job list and `tail=100` of the big job.
pub fn small_load(
    addr: &str,
    callers: &[Caller],
    rps: f64,
    stop: &AtomicBool,
    start: Instant,
) -> Vec<Small> {
    let n = callers.len();
    let every = Duration::from_secs_f64(n as f64 / rps);
    let jobs = format!("/v1/tool/{TOOL}/jobs");
    let tail = format!("/v1/tool/{TOOL}/jobs/{BIG_JOB}/logs?tail=100&format=ndjson");
    std::thread::scope(|s| {
        let workers: Vec<_> = callers
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let (jobs, tail) = (&jobs, &tail);
                s.spawn(move || {
                    let mut out = Vec::new();
                    for j in 0u32.. {
                        let due = every.mul_f64(k as f64 / n as f64) + every * j;
                        let at = start + due;
                        if let Some(wait) = at.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let is_tail = (j as usize + k) % 2 == 1;
                        let path = if is_tail { tail } else { jobs };
                        let ok = match http::get_as(addr, path, Some(&c.token)) {
                            Ok(r) => r.status == 200 && (!is_tail || r.lines == 100),
                            Err(_) => false,
                        };
                        let ms = at.elapsed().as_secs_f64() * 1000.0;
                        out.push(Small { due, ms, ok });
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}

/// `p50 / p99 / max ms`.
pub fn fmt_ms((p50, p99, max): (f64, f64, f64)) -> String {
    format!("{p50:.1} / {p99:.1} / {max:.1} ms")
}

/// The latency of a group of small requests.
#[derive(Clone, Copy)]
pub struct Latency {
    pub n: usize,
    pub failed: usize,
    /// (p50, p99, max) ms.
    pub p: (f64, f64, f64),
}

impl Latency {
    pub fn of<'a>(requests: impl IntoIterator<Item = &'a Small>) -> Latency {
        let (mut ms, mut failed) = (Vec::new(), 0);
        for r in requests {
            ms.push(r.ms);
            failed += usize::from(!r.ok);
        }
        Latency {
            n: ms.len(),
            failed,
            p: percentiles(&ms),
        }
    }
}
