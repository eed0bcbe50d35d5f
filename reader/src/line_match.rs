//! Line filters (`grep`, `regex`, `ignore_case`, `invert`): whether a
//! record's decoded `log` text matches, and a cheap test of the stored line's
//! bytes that rules most lines out before they are parsed.
//!
//! The stored line is JSON (or NF1, docs/design.md §10) and a match must be
//! a match in the decoded text, so the bytes alone never decide a match:
//! they only rule lines out. What makes that sound is that printable ASCII
//! other than `"` and `\` is stored as it is, in every writer of stored
//! lines (Fluent Bit escapes the rest, or writes non-ASCII raw; NF1 only
//! escapes U+0000 and U+0001). So any run of such bytes in every text a
//! filter can match must appear verbatim in the stored line, whatever the
//! escaping of its neighbours — unless NF1 cut a long string into parts
//! (a run may straddle a cut): such lines are always candidates.

use afterlog_contract::nf;
use memchr::memmem;
use regex::Regex;
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use std::ops::Range;
use std::sync::Arc;
use thiserror::Error;

/// Longest `grep` term or `regex`, in characters: longer ones are almost
/// surely mistakes, and a regex's compiled size grows with it.
pub const MAX_PATTERN: usize = 256;

/// A regex's compiled program may use this much memory at most.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What a line filter asks for, as the request named it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineFilter {
    /// Each must occur in the text.
    pub grep: Vec<String>,
    /// Must match the text (the `regex` crate's syntax).
    pub regex: Option<String>,
    pub ignore_case: bool,
    /// Select the lines the filter does not match.
    pub invert: bool,
}

impl LineFilter {
    /// Whether the filter selects anything less than every line.
    pub fn is_empty(&self) -> bool {
        self.grep.is_empty() && self.regex.is_none()
    }
}

/// Why a filter cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LineMatchError {
    #[error("grep: an empty term matches every line; leave it out")]
    EmptyGrep,
    #[error("{what}: longer than {MAX_PATTERN} characters")]
    TooLong { what: &'static str },
    #[error("regex: {0}")]
    Regex(String),
}

/// One term of a filter: what the text must contain, and the byte runs any
/// stored line holding such a text must contain (one of them).
#[derive(Debug)]
struct Term {
    text: TextTest,
    bytes: Option<Prefilter>,
}

#[derive(Debug)]
enum TextTest {
    Substring(Box<memmem::Finder<'static>>),
    Regex(Regex),
}

impl TextTest {
    fn is_match(&self, text: &str) -> bool {
        match self {
            TextTest::Substring(f) => f.find(text.as_bytes()).is_some(),
            TextTest::Regex(r) => r.is_match(text),
        }
    }

    fn find_all(&self, text: &str, out: &mut Vec<Range<usize>>) {
        match self {
            TextTest::Substring(f) => {
                let n = f.needle().len();
                out.extend(memmem::find_iter(text.as_bytes(), f.needle()).map(|i| i..i + n));
            }
            TextTest::Regex(r) => out.extend(r.find_iter(text).map(|m| m.range())),
        }
    }
}

/// A necessary condition on the stored bytes.
#[derive(Debug)]
enum Prefilter {
    One(Box<memmem::Finder<'static>>),
    /// Any of several runs, searched at once.
    Any(regex::bytes::Regex),
}

impl Prefilter {
    fn is_match(&self, line: &[u8]) -> bool {
        match self {
            Prefilter::One(f) => f.find(line).is_some(),
            Prefilter::Any(r) => r.is_match(line),
        }
    }

    /// From the runs of which a stored line must hold one; `None` if a
    /// run is empty (nothing to rule out).
    fn of(runs: Vec<Vec<u8>>) -> Option<Prefilter> {
        if runs.is_empty() || runs.iter().any(Vec::is_empty) {
            return None;
        }
        if let [one] = &runs[..] {
            return Some(Prefilter::One(Box::new(
                memmem::Finder::new(one).into_owned(),
            )));
        }
        let alternation = runs
            .iter()
            .map(|r| regex::escape(std::str::from_utf8(r).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("|");
        regex::bytes::Regex::new(&alternation)
            .ok()
            .map(Prefilter::Any)
    }
}

/// Bytes stored verbatim in every stored form of a text.
fn is_plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'
}

/// The longest run of plain bytes of `lit`.
fn longest_plain_run(lit: &[u8]) -> &[u8] {
    lit.split(|&b| !is_plain(b))
        .max_by_key(|r| r.len())
        .unwrap_or_default()
}

/// Stored-byte runs of which a line matching `hir` must contain one, from
/// the regex crate's literal extraction (its prefixes, or else suffixes).
fn required_runs(hir: &regex_syntax::hir::Hir) -> Option<Vec<Vec<u8>>> {
    let runs = |kind: ExtractKind| -> Option<Vec<Vec<u8>>> {
        let prefix = matches!(kind, ExtractKind::Prefix);
        let mut seq: Seq = Extractor::new().kind(kind).extract(hir);
        if prefix {
            seq.optimize_for_prefix_by_preference();
        } else {
            seq.optimize_for_suffix_by_preference();
        }
        let lits = seq.literals()?;
        let mut runs: Vec<Vec<u8>> = lits
            .iter()
            .map(|l| longest_plain_run(l.as_bytes()).to_vec())
            .collect();
        runs.sort();
        runs.dedup();
        (!runs.is_empty() && runs.iter().all(|r| !r.is_empty())).then_some(runs)
    };
    let shortest = |r: &Vec<Vec<u8>>| r.iter().map(Vec::len).min().unwrap_or(0);
    match (runs(ExtractKind::Prefix), runs(ExtractKind::Suffix)) {
        (Some(p), Some(s)) if shortest(&s) > shortest(&p) => Some(s),
        (Some(p), _) => Some(p),
        (None, s) => s,
    }
}

/// A compiled line filter. Cheap to clone: reads share it across threads.
#[derive(Debug, Clone)]
pub struct LineMatch {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    spec: LineFilter,
    terms: Vec<Term>,
}

impl PartialEq for LineMatch {
    fn eq(&self, other: &Self) -> bool {
        self.inner.spec == other.inner.spec
    }
}

impl Eq for LineMatch {}

impl LineMatch {
    pub fn new(spec: &LineFilter) -> Result<LineMatch, LineMatchError> {
        let mut terms = Vec::new();
        for g in &spec.grep {
            if g.is_empty() {
                return Err(LineMatchError::EmptyGrep);
            }
            if g.chars().count() > MAX_PATTERN {
                return Err(LineMatchError::TooLong { what: "grep" });
            }
            terms.push(if spec.ignore_case {
                regex_term(&regex::escape(g), true)?
            } else {
                let run = longest_plain_run(g.as_bytes());
                Term {
                    text: TextTest::Substring(Box::new(
                        memmem::Finder::new(g.as_bytes()).into_owned(),
                    )),
                    bytes: Prefilter::of(vec![run.to_vec()]),
                }
            });
        }
        if let Some(re) = &spec.regex {
            if re.chars().count() > MAX_PATTERN {
                return Err(LineMatchError::TooLong { what: "regex" });
            }
            terms.push(regex_term(re, spec.ignore_case)?);
        }
        Ok(LineMatch {
            inner: Arc::new(Inner {
                spec: spec.clone(),
                terms,
            }),
        })
    }

    pub fn spec(&self) -> &LineFilter {
        &self.inner.spec
    }

    /// Whether a record whose decoded text is `log` is selected.
    pub fn is_match(&self, log: &str) -> bool {
        self.inner.terms.iter().all(|t| t.text.is_match(log)) != self.inner.spec.invert
    }

    /// Whether a stored line may be selected: `false` only if no text it
    /// can hold is. (A line that is not a record and lacks the text is
    /// ruled out too: a filtered read reports only the damage it parses.)
    pub fn candidate(&self, stored: &[u8]) -> bool {
        if self.inner.spec.invert || memmem::find(stored, nf::SPLIT_STRING_JSON).is_some() {
            return true;
        }
        self.inner
            .terms
            .iter()
            .all(|t| t.bytes.as_ref().is_none_or(|p| p.is_match(stored)))
    }

    /// The parts of `log` that matched, sorted and merged, for
    /// highlighting; none for an inverted filter (its lines match by not
    /// containing anything).
    pub fn highlights(&self, log: &str) -> Vec<Range<usize>> {
        if self.inner.spec.invert {
            return Vec::new();
        }
        let mut all = Vec::new();
        for t in &self.inner.terms {
            t.text.find_all(log, &mut all);
        }
        all.retain(|r| !r.is_empty());
        all.sort_by_key(|r| (r.start, r.end));
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(all.len());
        for r in all {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        merged
    }
}

fn regex_term(pattern: &str, ignore_case: bool) -> Result<Term, LineMatchError> {
    let re = regex::RegexBuilder::new(pattern)
        .case_insensitive(ignore_case)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| LineMatchError::Regex(first_line(&e.to_string())))?;
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(ignore_case)
        .build()
        .parse(pattern)
        .map_err(|e| LineMatchError::Regex(first_line(&e.to_string())))?;
    Ok(Term {
        text: TextTest::Regex(re),
        bytes: required_runs(&hir).and_then(Prefilter::of),
    })
}

/// The regex crate's errors draw the pattern over several lines; an API
/// answer wants them on one.
fn first_line(e: &str) -> String {
    e.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(grep: &[&str], regex: Option<&str>, ignore_case: bool, invert: bool) -> LineMatch {
        LineMatch::new(&LineFilter {
            grep: grep.iter().map(|s| s.to_string()).collect(),
            regex: regex.map(str::to_string),
            ignore_case,
            invert,
        })
        .unwrap()
    }

    /// A stored line as Fluent Bit writes it: non-ASCII and controls
    /// escaped.
    fn fluent_bit_line(log: &str) -> Vec<u8> {
        let mut s = String::from(r#"{"stream":"stdout","log":""#);
        for c in log.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                c if (c as u32) < 0x20 || (c as u32) >= 0x7f => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        s.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => s.push(c),
            }
        }
        s.push_str(r#"","afterlog":{"pod":"p"}}"#);
        s.into_bytes()
    }

    /// As serde_json writes it (pushed lines): non-ASCII raw.
    fn serde_line(log: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"stream": "stdout", "log": log})).unwrap()
    }

    #[test]
    fn substrings_all_must_occur() {
        let f = m(&["disk", "full"], None, false, false);
        assert!(f.is_match("ERROR: disk is full"));
        assert!(!f.is_match("ERROR: disk is fine"));
        assert!(f.candidate(br#"{"log":"disk is full"}"#));
        assert!(!f.candidate(br#"{"log":"disk is fine"}"#));
    }

    #[test]
    fn invert_selects_what_does_not_match() {
        let f = m(&["debug"], None, false, true);
        assert!(f.is_match("info: started"));
        assert!(!f.is_match("debug: x"));
        assert!(f.candidate(b"anything"));
        assert!(f.highlights("info").is_empty());
    }

    #[test]
    fn escapes_are_matched_in_the_decoded_text() {
        let f = m(&["say \"hi\""], None, false, false);
        let line = fluent_bit_line("they say \"hi\" twice");
        assert!(f.candidate(&line));
        let f = m(&["café"], None, false, false);
        assert!(f.candidate(&fluent_bit_line("un café noir")));
        assert!(f.candidate(&serde_line("un café noir")));
        assert!(!f.candidate(&fluent_bit_line("un thé")));
    }

    #[test]
    fn ignore_case_and_regex() {
        let f = m(&["error"], None, true, false);
        assert!(f.is_match("An ERROR here"));
        assert!(f.candidate(&fluent_bit_line("An ERROR here")));
        let f = m(&[], Some(r"time(out|d out) after \d+s"), false, false);
        assert!(f.is_match("request timed out after 30s"));
        assert!(f.candidate(&fluent_bit_line("request timed out after 30s")));
        assert!(!f.candidate(&fluent_bit_line("all good")));
        // Anchors hold in the text, not in the stored line.
        let f = m(&[], Some("^start"), false, false);
        assert!(f.is_match("start up"));
        assert!(f.candidate(&fluent_bit_line("start up")));
    }

    #[test]
    fn a_string_nf1_cut_into_parts_is_always_a_candidate() {
        let f = m(&["needle"], None, false, false);
        let line = br#"{"\u0001nf":"\u0001n1","log":["\u0001s","x nee","dle x"]}"#;
        assert!(f.candidate(line));
        assert!(!f.candidate(br#"{"\u0001nf":"\u0001n1","log":"nee dle"}"#));
    }

    #[test]
    fn highlights_are_merged_ranges() {
        let f = m(&["ab", "bc"], Some("x+"), false, false);
        assert_eq!(f.highlights("abc xx ab"), vec![0..3, 4..6, 7..9]);
    }

    #[test]
    fn bad_filters_are_refused() {
        let e = LineMatch::new(&LineFilter {
            regex: Some("(unclosed".into()),
            ..LineFilter::default()
        })
        .unwrap_err();
        assert!(matches!(e, LineMatchError::Regex(m) if !m.contains('\n')));
        let e = LineMatch::new(&LineFilter {
            grep: vec![String::new()],
            ..LineFilter::default()
        });
        assert_eq!(e.unwrap_err(), LineMatchError::EmptyGrep);
        let e = LineMatch::new(&LineFilter {
            regex: Some("a".repeat(MAX_PATTERN + 1)),
            ..LineFilter::default()
        });
        assert_eq!(e.unwrap_err(), LineMatchError::TooLong { what: "regex" });
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-cA-CK\u{212a}é\"\\\\\n\u{1} ]{0,12}").unwrap()
    }

    fn needle() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-cA-CKk\u{212a}é\"\\\\ ]{1,3}").unwrap()
    }

    proptest! {
        /// The byte test never rules out a line the text test selects, in
        /// either stored form.
        #[test]
        fn the_byte_test_never_loses_a_match(
            log in text(),
            grep in proptest::collection::vec(needle(), 0..3),
            regex in proptest::option::of(proptest::string::string_regex("[abcK]{1,2}[+*?]?|\\^a|b\\$|\\w+|(a|b)c").unwrap()),
            ignore_case: bool,
            invert: bool,
        ) {
            let f = LineMatch::new(&LineFilter { grep, regex, ignore_case, invert }).unwrap();
            if f.is_match(&log) {
                prop_assert!(f.candidate(&fluent_bit_line(&log)));
                prop_assert!(f.candidate(&serde_line(&log)));
            }
        }

        /// Substrings agree with a naive reference.
        #[test]
        fn substrings_agree_with_a_reference(log in text(), grep in proptest::collection::vec(needle(), 1..3), invert: bool) {
            let f = LineMatch::new(&LineFilter { grep: grep.clone(), invert, ..LineFilter::default() }).unwrap();
            let want = grep.iter().all(|g| log.contains(g.as_str())) != invert;
            prop_assert_eq!(f.is_match(&log), want);
        }
    }
}
