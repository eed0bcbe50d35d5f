//! Which periods of a manifest a read loads.

use super::schema::{JobManifest, PeriodRef};
use crate::selection::Selection;

/// Which periods of a manifest a read needs: those that overlap
/// `[since, until)`, and of those, with `newest_lines` or `newest_runs`,
/// only the newest ones that hold that many lines and runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope {
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub newest_lines: Option<u64>,
    pub newest_runs: Option<u64>,
}

impl Scope {
    /// Every period.
    pub const ALL: Scope = Scope {
        since: None,
        until: None,
        newest_lines: None,
        newest_runs: None,
    };

    /// The periods a read with `selection` can need.
    pub fn of_selection(selection: &Selection) -> Scope {
        Scope {
            since: selection.lower_ts(),
            until: selection.until,
            ..Scope::ALL
        }
    }

    /// The periods of `m` to load, and whether older periods were left out
    /// for the newest-limits (their records then are not in the index
    /// loaded: a read that needs them loads again without the limits).
    pub fn select<'a>(&self, m: &'a JobManifest) -> (Vec<&'a PeriodRef>, bool) {
        let window: Vec<&PeriodRef> = m
            .periods
            .iter()
            .filter(|p| {
                self.since.is_none_or(|s| p.last_ts >= s)
                    && self.until.is_none_or(|u| p.first_ts < u)
            })
            .collect();
        if self.newest_lines.is_none() && self.newest_runs.is_none() {
            return (window, false);
        }
        let (mut lines, mut runs) = (0u64, 0u64);
        let mut from = window.len();
        while from > 0
            && (self.newest_lines.is_some_and(|n| lines < n)
                || self.newest_runs.is_some_and(|n| runs < n))
        {
            from -= 1;
            lines += window[from].lines;
            runs += window[from].runs;
        }
        // A run that began the day before is counted there: one more day
        // holds its start.
        if self.newest_runs.is_some() && from > 0 {
            from -= 1;
        }
        (window[from..].to_vec(), from > 0)
    }
}
