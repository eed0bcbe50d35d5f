//! Lines around the matches of a line filter, as `grep -C N` shows them:
//! up to N lines before and after each match, groups that do not touch
//! marked apart.

use std::collections::VecDeque;

/// One line shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown<T> {
    pub line: T,
    /// A match, not a line of context.
    pub is_match: bool,
    /// Lines were left out between this one and the one shown before it.
    pub break_before: bool,
}

/// Picks the lines to show from every line in order, each told whether it
/// matched.
#[derive(Debug)]
pub struct Context<T> {
    around: usize,
    /// Lines since the last shown, at most `around` of them.
    before: VecDeque<T>,
    after_left: usize,
    /// Lines were left out since the last shown.
    gap: bool,
    shown_any: bool,
    matches: usize,
}

impl<T> Context<T> {
    pub fn new(around: usize) -> Context<T> {
        Context {
            around,
            before: VecDeque::with_capacity(around.min(1024)),
            after_left: 0,
            gap: false,
            shown_any: false,
            matches: 0,
        }
    }

    /// Matches seen so far.
    pub fn matches(&self) -> usize {
        self.matches
    }

    /// Whether the lines after the last match are all shown: a read that
    /// has its matches can stop.
    pub fn settled(&self) -> bool {
        self.after_left == 0
    }

    /// Takes the next line; what it makes shown goes to `out`.
    pub fn push(&mut self, line: T, is_match: bool, out: &mut Vec<Shown<T>>) {
        if is_match {
            self.matches += 1;
            for l in self.before.drain(..) {
                out.push(Shown {
                    line: l,
                    is_match: false,
                    break_before: self.gap && self.shown_any,
                });
                self.gap = false;
                self.shown_any = true;
            }
            self.show(line, true, out);
            self.after_left = self.around;
        } else if self.after_left > 0 {
            self.after_left -= 1;
            self.show(line, false, out);
        } else if self.around > 0 {
            if self.before.len() == self.around {
                self.before.pop_front();
                self.gap = true;
            }
            self.before.push_back(line);
        } else {
            self.gap = true;
        }
    }

    fn show(&mut self, line: T, is_match: bool, out: &mut Vec<Shown<T>>) {
        out.push(Shown {
            line,
            is_match,
            break_before: self.gap && self.shown_any,
        });
        self.gap = false;
        self.shown_any = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(matches: &[bool], around: usize) -> Vec<(usize, bool, bool)> {
        let mut c = Context::new(around);
        let mut out = Vec::new();
        for (i, &m) in matches.iter().enumerate() {
            c.push(i, m, &mut out);
        }
        out.into_iter()
            .map(|s| (s.line, s.is_match, s.break_before))
            .collect()
    }

    #[test]
    fn shows_lines_around_matches_like_grep() {
        let m = [false, false, true, false, false, false, false, true, false];
        assert_eq!(
            run(&m, 1),
            vec![
                (1, false, false),
                (2, true, false),
                (3, false, false),
                (6, false, true),
                (7, true, false),
                (8, false, false)
            ]
        );
        // Groups that touch are one.
        assert_eq!(run(&m, 2).iter().filter(|s| s.2).count(), 0);
        assert_eq!(run(&m, 0), vec![(2, true, false), (7, true, true)]);
    }

    proptest! {
        /// Against the naive rule: a line is shown if a match is within N
        /// lines; a break precedes a shown line whose predecessor was not
        /// shown, unless it is the first shown.
        #[test]
        fn agrees_with_the_naive_rule(matches in prop::collection::vec(prop::bool::weighted(0.2), 0..60), around in 0usize..4) {
            let shown: Vec<usize> = (0..matches.len())
                .filter(|&i| (i.saturating_sub(around)..=(i + around).min(matches.len().saturating_sub(1))).any(|j| matches[j]))
                .collect();
            let want: Vec<(usize, bool, bool)> = shown
                .iter()
                .enumerate()
                .map(|(k, &i)| (i, matches[i], k > 0 && shown[k - 1] + 1 != i))
                .collect();
            prop_assert_eq!(run(&matches, around), want);
        }
    }
}
