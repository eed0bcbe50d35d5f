//! A heavy request sent until the service lets it in: each 429's reason,
//! and its `Retry-After` slept.

use super::BUF;
use super::digest::Digest;
use crate::http;
use anyhow::{Result, ensure};
use std::io::BufReader;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why a 429 came, from its message.
pub fn reason(body: &[u8]) -> &'static str {
    let b = String::from_utf8_lossy(body);
    if b.contains("memory budget") {
        "budget"
    } else if b.contains("large reads or follows running") {
        "caller"
    } else if b.contains("following logs") {
        "follow-max"
    } else {
        "other"
    }
}

/// What a heavy request came to.
#[derive(Default)]
pub struct Outcome {
    /// The reason of each 429, in order.
    pub refusals: Vec<&'static str>,
    /// A status other than 200 and 429, a transport error, or one mid-body.
    pub error: Option<String>,
    /// What its body held, if it was let in.
    pub digest: Option<Digest>,
    /// A follow that ended before it was cut.
    pub ended_early: bool,
}

/// The reply's body, next to be read.
pub type Body = (BufReader<TcpStream>, http::Head);

/// What one attempt at a heavy request got.
pub enum Attempt {
    Admitted(Body),
    /// 429: why, and the seconds to wait.
    Refused(&'static str, u64),
}

pub fn attempt(addr: &str, path: &str, token: &str) -> Result<Attempt> {
    let s = http::send_get_as(addr, path, Some(token))?;
    let mut rd = BufReader::with_capacity(BUF, s);
    let head = http::read_head(&mut rd)?;
    if head.status == 200 {
        return Ok(Attempt::Admitted((rd, head)));
    }
    let mut body = Vec::new();
    http::read_body(&mut rd, &head, |p| body.extend_from_slice(p))?;
    ensure!(
        head.status == 429,
        "HTTP {}: {}",
        head.status,
        String::from_utf8_lossy(&body)
    );
    let secs = head
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    Ok(Attempt::Refused(reason(&body), secs))
}

/// Sends `GET path` until it is answered with anything but 429, sleeping
/// each 429's `Retry-After` in between, at most `retries` times, or until
/// `stop`: the outcome so far, and the body to read if it was let in.
pub fn admitted(
    addr: &str,
    path: &str,
    token: &str,
    retries: usize,
    stop: &AtomicBool,
) -> (Outcome, Option<Body>) {
    let mut out = Outcome::default();
    for _ in 0..=retries {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match attempt(addr, path, token) {
            Ok(Attempt::Admitted(body)) => return (out, Some(body)),
            Ok(Attempt::Refused(why, secs)) => {
                out.refusals.push(why);
                std::thread::sleep(Duration::from_secs(secs));
            }
            Err(e) => {
                out.error = Some(format!("{e:#}"));
                break;
            }
        }
    }
    (out, None)
}

/// How many of `refusals` were for `reason`.
pub fn refused_for(refusals: &[&str], reason: &str) -> usize {
    refusals.iter().filter(|&&r| r == reason).count()
}
