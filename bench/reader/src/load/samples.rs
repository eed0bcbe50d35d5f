//! The server watched all along: its `VmRSS` and admission gauges.

use super::{METRICS_EVERY, SAMPLE_EVERY};
use crate::http;
use crate::server::memory;
use anyhow::{Result, ensure};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The server's `VmRSS` every 100 ms and its admission gauges every
/// 500 ms, for the whole run.
#[derive(Default)]
pub struct Samples {
    /// (when, VmRSS KiB).
    pub rss: Vec<(Instant, u64)>,
    /// (when, in use MiB, running, queued).
    pub admission: Vec<(Instant, f64, f64, f64)>,
}

impl Samples {
    pub fn max_rss(&self, from: Instant, to: Instant) -> u64 {
        self.rss
            .iter()
            .filter(|(t, _)| (from..=to).contains(t))
            .map(|&(_, k)| k)
            .max()
            .unwrap_or(0)
    }

    /// The largest in use, running and queued between `from` and `to`.
    pub fn max_admission(&self, from: Instant, to: Instant) -> (f64, f64, f64) {
        self.admission
            .iter()
            .filter(|(t, ..)| (from..=to).contains(t))
            .fold((0.0, 0.0, 0.0), |m, &(_, u, r, q)| {
                (m.0.max(u), m.1.max(r), m.2.max(q))
            })
    }
}

fn sample(pid: u32, addr: &str, samples: &Mutex<Samples>, stop: &AtomicBool) {
    let mut next_metrics = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if let Ok((_, rss)) = memory(pid) {
            samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .rss
                .push((now, rss));
        }
        if now >= next_metrics {
            next_metrics = now + METRICS_EVERY;
            if let Ok(m) = metrics(addr) {
                let g = |n: &str| metric(&m, n);
                samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .admission
                    .push((
                        now,
                        g("afterlog_admission_in_use_mib"),
                        g("afterlog_admission_running"),
                        g("afterlog_admission_queued"),
                    ));
            }
        }
        std::thread::sleep(SAMPLE_EVERY.saturating_sub(now.elapsed()));
    }
}

pub fn metrics(addr: &str) -> Result<String> {
    let (status, body) = http::fetch(addr, "/v1/metrics")?;
    ensure!(status == 200, "/v1/metrics: HTTP {status}");
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The sum of a metric's series (`name` or `name{…}`).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.as_bytes().first() {
                Some(b' ') => rest,
                Some(b'{') => &rest[rest.find('}')? + 1..],
                _ => return None,
            };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .fold(0.0, |a, b| a + b)
}

pub fn rss_now(pid: u32) -> u64 {
    memory(pid).map_or(0, |m| m.1)
}

/// [`sample`] on a thread of its own until [`Sampler::stop`].
pub struct Sampler {
    samples: std::sync::Arc<Mutex<Samples>>,
    stop: std::sync::Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: u32, addr: &str) -> Sampler {
        let samples = std::sync::Arc::new(Mutex::new(Samples::default()));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop, addr) = (samples.clone(), stop.clone(), addr.to_string());
            std::thread::spawn(move || sample(pid, &addr, &samples, &stop))
        };
        Sampler {
            samples,
            stop,
            thread,
        }
    }

    pub fn stop(self) -> Samples {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
