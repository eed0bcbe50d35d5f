//! A download's progress on stderr.

use afterlog_reader::record::human_bytes;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// `12,345 lines, 3.4 MiB` on one rewritten stderr line, four times a
/// second at most, when stderr is a terminal and stdout is not (a download
/// into a file or pipe).
pub struct Progress<W: Write> {
    out: Option<W>,
    lines: u64,
    bytes: u64,
    last: Option<Instant>,
    every: Duration,
}

impl Progress<std::io::Stderr> {
    pub fn detect(enabled: bool) -> Self {
        let on = enabled && std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
        Progress::new(on.then(std::io::stderr), Duration::from_millis(250))
    }
}

impl<W: Write> Progress<W> {
    pub fn new(out: Option<W>, every: Duration) -> Self {
        Progress {
            out,
            lines: 0,
            bytes: 0,
            last: None,
            every,
        }
    }

    pub fn add(&mut self, lines: u64, bytes: u64) {
        self.lines += lines;
        self.bytes += bytes;
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            return;
        }
        self.last = Some(now);
        let _ = write!(
            out,
            "\r\x1b[2K{} lines, {}",
            self.lines,
            human_bytes(self.bytes)
        );
        let _ = out.flush();
    }

    /// Clears the progress line.
    pub fn done(&mut self) {
        if let (Some(out), Some(_)) = (self.out.as_mut(), self.last) {
            let _ = write!(out, "\r\x1b[2K");
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_writes_only_when_enabled_and_clears() {
        let mut p = Progress::new(Some(Vec::new()), Duration::ZERO);
        p.add(1, 10);
        p.add(2, 2048);
        p.done();
        let text = String::from_utf8(p.out.take().unwrap()).unwrap();
        assert!(text.contains("3 lines, 2.0 KiB"), "{text:?}");
        assert!(text.ends_with("\r\x1b[2K"), "{text:?}");
        let mut off: Progress<Vec<u8>> = Progress::new(None, Duration::ZERO);
        off.add(1, 1);
        off.done();
        assert!(off.out.is_none());
    }
}
