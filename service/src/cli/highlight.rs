//! What `--grep`/`--regex` matched in a line, painted bold red on a
//! terminal as grep does. The server filters; the client recomputes the
//! same question from the same arguments, so that it needs nothing from the
//! server besides the lines, and so that the JSON and NDJSON it passes
//! through stay the server's bytes.

use regex::{Regex, RegexBuilder};
use std::ops::Range;

/// The line filter of a command line, as the API's parameters take it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Plain strings, each of which must occur (`grep`).
    pub grep: Vec<String>,
    /// A `regex` crate pattern that must match (`regex`).
    pub regex: Option<String>,
    pub ignore_case: bool,
    /// Lines the filter does not match (`invert`).
    pub invert: bool,
}

impl Filter {
    /// Whether there is a filter at all.
    pub fn is_set(&self) -> bool {
        !self.grep.is_empty() || self.regex.is_some()
    }

    /// The filter's query parameters (SPEC §1, §2): each `grep`, `regex`,
    /// and the flags only when set, so that an unfiltered request is the
    /// same as before filters existed.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q: Vec<(&'static str, String)> =
            self.grep.iter().map(|g| ("grep", g.clone())).collect();
        if let Some(r) = &self.regex {
            q.push(("regex", r.clone()));
        }
        if self.is_set() {
            if self.ignore_case {
                q.push(("ignore_case", "true".into()));
            }
            if self.invert {
                q.push(("invert", "true".into()));
            }
        }
        q
    }
}

/// The patterns of a [`Filter`], compiled: which lines match, and where.
#[derive(Debug, Clone)]
pub struct Highlighter {
    /// One per `grep` string and one for `regex`: a line matches when every
    /// one does.
    parts: Vec<Regex>,
    invert: bool,
}

/// Bold red, and back, as grep paints a match.
pub const START: &str = "\x1b[1;31m";
pub const END: &str = "\x1b[0m";

impl Highlighter {
    /// `None` without patterns. A pattern the `regex` crate refuses is an
    /// error; callers leave the verdict (and its wording) to the server.
    pub fn new(f: &Filter) -> Result<Option<Highlighter>, regex::Error> {
        if !f.is_set() {
            return Ok(None);
        }
        let build = |pattern: &str| {
            RegexBuilder::new(pattern)
                .case_insensitive(f.ignore_case)
                .build()
        };
        let mut parts = f
            .grep
            .iter()
            .map(|g| build(&regex::escape(g)))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(r) = &f.regex {
            parts.push(build(r)?);
        }
        Ok(Some(Highlighter {
            parts,
            invert: f.invert,
        }))
    }

    /// Whether the filter (inverted or not) selects `log`: lines it does
    /// not select are context lines.
    pub fn selects(&self, log: &str) -> bool {
        self.parts.iter().all(|p| p.is_match(log)) != self.invert
    }

    /// The byte ranges of `log` to paint: every pattern's matches, merged,
    /// in order. Nothing for a line the filter does not match, nor with
    /// `invert` (a selected line is one where nothing matched).
    pub fn ranges(&self, log: &str) -> Vec<Range<usize>> {
        if self.invert || !self.parts.iter().all(|p| p.is_match(log)) {
            return Vec::new();
        }
        let mut all: Vec<Range<usize>> = self
            .parts
            .iter()
            .flat_map(|p| p.find_iter(log).map(|m| m.range()))
            .filter(|r| !r.is_empty())
            .collect();
        merge(&mut all);
        all
    }

    /// `log` with its matches painted.
    pub fn paint(&self, log: &str) -> String {
        paint(log, &self.ranges(log))
    }
}

/// Sorts and merges overlapping or touching ranges.
fn merge(ranges: &mut Vec<Range<usize>>) {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges.drain(..) {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    *ranges = out;
}

/// `text` with each range wrapped in [`START`] and [`END`]. Ranges are
/// sorted, disjoint and on char boundaries (as regex matches are).
pub fn paint(text: &str, ranges: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len() + ranges.len() * (START.len() + END.len()));
    let mut at = 0;
    for r in ranges {
        out.push_str(&text[at..r.start]);
        out.push_str(START);
        out.push_str(&text[r.clone()]);
        out.push_str(END);
        at = r.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn filter(grep: &[&str], regex: Option<&str>) -> Filter {
        Filter {
            grep: grep.iter().map(|s| s.to_string()).collect(),
            regex: regex.map(str::to_string),
            ..Filter::default()
        }
    }

    fn hl(f: &Filter) -> Highlighter {
        Highlighter::new(f).unwrap().unwrap()
    }

    #[test]
    fn no_patterns_no_highlighter() {
        assert!(Highlighter::new(&Filter::default()).unwrap().is_none());
        let f = Filter {
            ignore_case: true,
            invert: true,
            ..Filter::default()
        };
        assert!(Highlighter::new(&f).unwrap().is_none());
        assert!(f.query().is_empty(), "flags alone send nothing");
    }

    #[test]
    fn grep_terms_are_literal_and_all_must_occur() {
        let h = hl(&filter(&["a.b", "(x"], None));
        assert!(h.selects("a.b and (x"));
        assert!(!h.selects("axb and (x"), "the dot is a dot");
        assert!(!h.selects("a.b alone"), "every term");
        assert_eq!(h.ranges("(x a.b"), [0..2, 3..6]);
        assert_eq!(h.paint("a.b (x"), format!("{START}a.b{END} {START}(x{END}"));
        assert!(h.ranges("a.b alone").is_empty(), "no paint on context");
    }

    #[test]
    fn regex_and_grep_together() {
        let h = hl(&filter(&["err"], Some(r"code=\d+")));
        assert_eq!(
            h.paint("err: code=42, err again"),
            format!("{START}err{END}: {START}code=42{END}, {START}err{END} again")
        );
        assert!(!h.selects("err without a code"));
    }

    #[test]
    fn overlapping_matches_merge() {
        let h = hl(&filter(&["abc", "bcd"], None));
        assert_eq!(h.ranges("xabcdx"), vec![Range { start: 1, end: 5 }]);
        // Touching ones too: one painted run, not two.
        let h = hl(&filter(&["ab", "cd"], None));
        assert_eq!(h.paint("abcd"), format!("{START}abcd{END}"));
    }

    #[test]
    fn ignore_case_applies_to_both() {
        let mut f = filter(&["Error"], Some("TIME[a-z]+"));
        f.ignore_case = true;
        let h = hl(&f);
        assert_eq!(h.ranges("ERROR timeout"), [0..5, 6..13]);
        f.ignore_case = false;
        assert!(!hl(&f).selects("ERROR timeout"));
    }

    #[test]
    fn invert_selects_the_rest_and_paints_nothing() {
        let mut f = filter(&["debug"], None);
        f.invert = true;
        let h = hl(&f);
        assert!(h.selects("an info line"));
        assert!(!h.selects("a debug line"));
        assert!(h.ranges("a debug line").is_empty());
        assert_eq!(h.paint("a debug line"), "a debug line");
    }

    #[test]
    fn empty_matches_paint_nothing() {
        let h = hl(&filter(&[], Some("x*")));
        assert!(h.selects("abc"));
        assert_eq!(h.paint("abc"), "abc");
        assert_eq!(h.ranges("axxb"), vec![Range { start: 1, end: 3 }]);
    }

    #[test]
    fn multibyte_text_is_painted_on_char_boundaries() {
        let mut f = filter(&["é"], None);
        f.ignore_case = true;
        let h = hl(&f);
        assert_eq!(h.paint("cafÉ ok"), format!("caf{START}É{END} ok"));
    }

    #[test]
    fn a_bad_regex_is_an_error() {
        assert!(Highlighter::new(&filter(&[], Some("(unclosed"))).is_err());
    }

    #[test]
    fn query_has_the_apis_names() {
        let f = Filter {
            grep: vec!["a b".into(), "c".into()],
            regex: Some("^x".into()),
            ignore_case: true,
            invert: true,
        };
        assert_eq!(
            f.query(),
            [
                ("grep", "a b".to_string()),
                ("grep", "c".into()),
                ("regex", "^x".into()),
                ("ignore_case", "true".into()),
                ("invert", "true".into()),
            ]
        );
    }

    proptest! {
        /// Painting then removing the escapes gives the line back, and
        /// every painted part contains a term, case aside.
        #[test]
        fn painting_keeps_the_text(
            line in "[a-cA-C é]{0,40}",
            terms in proptest::collection::vec("[a-cé]{1,3}", 1..3),
            ignore_case in any::<bool>(),
        ) {
            let f = Filter { grep: terms.clone(), ignore_case, ..Filter::default() };
            let h = hl(&f);
            let painted = h.paint(&line);
            prop_assert_eq!(painted.replace(START, "").replace(END, ""), line.clone());
            let ranges = h.ranges(&line);
            for w in ranges.windows(2) {
                prop_assert!(w[0].end < w[1].start, "disjoint and apart: {:?}", ranges);
            }
            let folded = |s: &str| if ignore_case { s.to_lowercase() } else { s.to_string() };
            for r in &ranges {
                let part = folded(&line[r.clone()]);
                prop_assert!(terms.iter().any(|t| part.contains(&folded(t))), "{:?}", part);
            }
            prop_assert_eq!(ranges.is_empty(), !h.selects(&line));
        }
    }
}
