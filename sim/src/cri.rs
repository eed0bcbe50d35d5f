//! Container log files as containerd writes them on the node (the CRI
//! format): `<RFC3339Nano> <stdout|stderr> <F|P> <text>\n`, a long line cut
//! into `P` parts and a last `F` one.

use afterlog_contract::time::civil_from_days;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The size containerd cuts long lines into.
pub const PART_BYTES: usize = 16 * 1024;

/// A CRI stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Go's `time.RFC3339Nano` in UTC, as containerd writes CRI timestamps:
/// trailing zeros of the fraction are dropped, and the fraction entirely
/// when it is zero (`2026-11-25T15:00:00Z`, `2026-11-25T15:00:00.5Z`).
pub fn cri_time(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let frac = ns % 1_000_000_000;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The largest index `<= at` on a char boundary of `s`.
pub fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

/// `text` cut the way containerd cuts a long line: parts of at most
/// `part_bytes` (at char boundaries; at least 4, so each holds a char),
/// the last of which is the `F` line.
pub fn split(text: &str, part_bytes: usize) -> Vec<&str> {
    let part_bytes = part_bytes.max(4);
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > part_bytes {
        let cut = floor_char_boundary(rest, part_bytes);
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts.push(rest);
    parts
}

/// What precedes a line's text: `<time> <stream> <F|P> `.
pub fn head(ts_ns: u64, stream: Stream, partial: bool) -> String {
    let flag = if partial { 'P' } else { 'F' };
    format!("{} {} {flag} ", cri_time(ts_ns), stream.as_str())
}

/// An appending writer of one container log file.
pub struct CriLog {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
}

impl CriLog {
    pub fn open(path: &Path) -> io::Result<CriLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(CriLog {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            written,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the file so far: the offset the next line starts at.
    pub fn offset(&self) -> u64 {
        self.written
    }

    fn write(&mut self, ts_ns: u64, stream: Stream, partial: bool, text: &[u8]) -> io::Result<u64> {
        if text.contains(&b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a CRI line cannot contain a newline",
            ));
        }
        let start = self.written;
        let head = head(ts_ns, stream, partial);
        self.out.write_all(head.as_bytes())?;
        self.out.write_all(text)?;
        self.out.write_all(b"\n")?;
        self.written += (head.len() + text.len() + 1) as u64;
        Ok(start)
    }

    /// A full (`F`) line; returns the offset it starts at.
    pub fn line(&mut self, ts_ns: u64, stream: Stream, text: &str) -> io::Result<u64> {
        self.write(ts_ns, stream, false, text.as_bytes())
    }

    /// A full line of arbitrary bytes (e.g. invalid UTF-8).
    pub fn line_bytes(&mut self, ts_ns: u64, stream: Stream, text: &[u8]) -> io::Result<u64> {
        self.write(ts_ns, stream, false, text)
    }

    /// A partial (`P`) line: the runtime cut the line here.
    pub fn partial(&mut self, ts_ns: u64, stream: Stream, text: &str) -> io::Result<u64> {
        self.write(ts_ns, stream, true, text.as_bytes())
    }

    /// Writes `text` the way containerd writes a long line ([`split`]).
    /// Returns the offset of the last (`F`) physical line, which is the
    /// record's `off`.
    pub fn split_line(
        &mut self,
        ts_ns: u64,
        stream: Stream,
        text: &str,
        part_bytes: usize,
    ) -> io::Result<u64> {
        let parts = split(text, part_bytes);
        let (last, partials) = parts.split_last().expect("split gives a last part");
        for part in partials {
            self.partial(ts_ns, stream, part)?;
        }
        self.line(ts_ns, stream, last)
    }

    /// Raw bytes, for malformed lines.
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for CriLog {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_time_is_rfc3339nano() {
        let t = 1_795_618_800u64 * 1_000_000_000; // 2026-11-25T15:00:00Z
        assert_eq!(cri_time(t), "2026-11-25T15:00:00Z");
        assert_eq!(cri_time(t + 500_000_000), "2026-11-25T15:00:00.5Z");
        assert_eq!(cri_time(t + 2), "2026-11-25T15:00:00.000000002Z");
        assert_eq!(cri_time(t + 123_456_789), "2026-11-25T15:00:00.123456789Z");
    }

    #[test]
    fn split_line_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = CriLog::open(&dir.path().join("a.log")).unwrap();
        assert_eq!(log.line(0, Stream::Stdout, "x").unwrap(), 0);
        let first = log.offset();
        let text = "é".repeat(10);
        let off = log.split_line(0, Stream::Stderr, &text, 7).unwrap();
        log.flush().unwrap();
        let body = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[1].starts_with("1970-01-01T00:00:00Z stderr P éé"));
        assert!(lines[4].contains(" F "));
        assert!(off > first);
        assert_eq!(
            &body[off as usize..off as usize + 20],
            "1970-01-01T00:00:00Z"
        );
        let joined: String = lines[1..]
            .iter()
            .map(|l| l.splitn(4, ' ').nth(3).unwrap())
            .collect();
        assert_eq!(joined, text);
    }
}
