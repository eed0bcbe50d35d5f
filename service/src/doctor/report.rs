//! What a check found, one line each, and the verdict over all of them.

use std::fmt;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    /// The check's input was not given.
    Skip,
}

/// One check's line: what was checked, what was found, and for a failure
/// what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub status: Status,
    /// What was checked, e.g. `store default (s3://logs)`.
    pub subject: String,
    /// What was found.
    pub detail: String,
    /// What to do about a failure.
    pub fix: Option<String>,
}

impl Line {
    pub fn pass(subject: impl Into<String>, detail: impl Into<String>) -> Line {
        Line {
            status: Status::Pass,
            subject: subject.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Line {
        Line {
            status: Status::Fail,
            subject: subject.into(),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn skip(subject: impl Into<String>, detail: impl Into<String>) -> Line {
        Line {
            status: Status::Skip,
            subject: subject.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn failed(&self) -> bool {
        self.status == Status::Fail
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        // One physical line per check, whatever the error texts hold.
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        write!(f, "{word}  {}: {}", self.subject, flat(&self.detail))?;
        if let Some(fix) = &self.fix {
            write!(f, " — fix: {}", flat(fix))?;
        }
        Ok(())
    }
}

/// The closing line: how many checks ran and failed.
pub fn summary(lines: &[Line]) -> String {
    let count = |s| lines.iter().filter(|l| l.status == s).count();
    let (failed, passed, skipped) = (
        count(Status::Fail),
        count(Status::Pass),
        count(Status::Skip),
    );
    let ran = failed + passed;
    let skipped = if skipped == 0 {
        String::new()
    } else {
        format!("; {skipped} skipped (their input was not given)")
    };
    if failed == 0 {
        format!("afterlog doctor: all {ran} checks passed{skipped}")
    } else {
        format!("afterlog doctor: {failed} of {ran} checks failed{skipped}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_line_with_its_fix() {
        let l = Line::fail("drop-in a.yaml", "no `wasm`\nfilter", "add it");
        assert_eq!(
            l.to_string(),
            "FAIL  drop-in a.yaml: no `wasm` filter — fix: add it"
        );
        assert_eq!(Line::pass("x", "fine").to_string(), "pass  x: fine");
        assert_eq!(
            Line::skip("aot", "no --aot").to_string(),
            "skip  aot: no --aot"
        );
    }

    #[test]
    fn the_summary_counts_what_ran() {
        let ok = Line::pass("a", "b");
        let bad = Line::fail("a", "b", "c");
        let skip = Line::skip("a", "b");
        assert_eq!(
            summary(std::slice::from_ref(&ok)),
            "afterlog doctor: all 1 checks passed"
        );
        assert_eq!(
            summary(&[ok, bad, skip]),
            "afterlog doctor: 1 of 2 checks failed; 1 skipped (their input was not given)"
        );
    }
}
