//! Per-tool byte budgets per time window.
//!
//! Windows are aligned to multiples of their length in event time, so every
//! instance of the filter (and every restart) agrees on where a window
//! starts. A window never moves backwards: a late record counts against the
//! current window. Once a window's budget is spent, everything is dropped
//! until the next window, so a tool's log has one gap, not a sieve. The state is bounded: past `max_tools` tools, the least
//! recently seen eighth is forgotten.

use crate::config::Budget;
use afterlog_contract::keys;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// What was dropped since the last admitted record of a tool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    pub records: u64,
    pub bytes: u64,
    pub from_ns: u64,
    pub until_ns: u64,
}

impl Dropped {
    fn add(&mut self, ts_ns: u64, bytes: u64) {
        if self.records == 0 {
            self.from_ns = ts_ns;
            self.until_ns = ts_ns;
        }
        self.records += 1;
        self.bytes += bytes;
        self.from_ns = self.from_ns.min(ts_ns);
        self.until_ns = self.until_ns.max(ts_ns);
    }
}

/// The start of the window `ts_ns` falls in, in seconds.
fn window_of(ts_ns: u64, budget: Budget) -> u64 {
    let secs = ts_ns / 1_000_000_000;
    secs - secs % budget.window_seconds.max(1)
}

/// One tool's accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolState {
    /// Start of the current window, seconds since the epoch.
    pub window: u64,
    pub used: u64,
    /// Whether this window's marker record was emitted.
    pub marked: bool,
    pub dropped: Dropped,
    #[serde(skip)]
    last_seen: u64,
}

/// The verdict on one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Pass it on; with a summary of what was dropped before it, if anything.
    Admit(Option<Dropped>),
    /// Replace it with the marker: the budget is spent until `resets_at_ns`.
    Marker { budget: Budget, resets_at_ns: u64 },
    /// Drop it.
    Drop,
}

#[derive(Debug, Default, Clone)]
pub struct Quotas {
    tools: FxHashMap<Box<str>, ToolState>,
    tick: u64,
    max_tools: usize,
}

impl Quotas {
    pub fn new(max_tools: usize) -> Self {
        Quotas {
            tools: FxHashMap::default(),
            tick: 0,
            max_tools: max_tools.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    pub fn get(&self, tool: &str) -> Option<&ToolState> {
        self.tools.get(tool)
    }

    /// Accounts a record of `bytes` at event time `ts_ns` against `tool`.
    pub fn charge(&mut self, tool: &str, budget: Budget, ts_ns: u64, bytes: u64) -> Decision {
        self.tick += 1;
        let tick = self.tick;
        let window = window_of(ts_ns, budget);
        let st = match self.tools.get_mut(tool) {
            Some(st) => st,
            None => {
                if self.tools.len() >= self.max_tools {
                    self.evict();
                }
                self.tools.entry(tool.into()).or_insert(ToolState {
                    window,
                    ..ToolState::default()
                })
            }
        };
        st.last_seen = tick;
        if window > st.window {
            st.window = window;
            st.used = 0;
            st.marked = false;
        }
        if !st.marked && st.used.saturating_add(bytes) <= budget.bytes {
            st.used += bytes;
            let summary = (st.dropped.records > 0).then(|| std::mem::take(&mut st.dropped));
            return Decision::Admit(summary);
        }
        st.dropped.add(ts_ns, bytes);
        if st.marked {
            return Decision::Drop;
        }
        st.marked = true;
        let resets_at_ns = (st.window + budget.window_seconds).saturating_mul(1_000_000_000);
        Decision::Marker {
            budget,
            resets_at_ns,
        }
    }

    /// [`Quotas::charge`] when it would give `Admit(None)` — a known tool
    /// within its budget, nothing dropped to report — then `true`; anything
    /// else leaves the state untouched and gives `false`. Lets a fast path
    /// handle the common record and leave every other to `charge`.
    pub fn charge_plain(&mut self, tool: &str, budget: Budget, ts_ns: u64, bytes: u64) -> bool {
        let window = window_of(ts_ns, budget);
        let Some(st) = self.tools.get_mut(tool) else {
            return false;
        };
        let fresh = window > st.window;
        let (used, marked) = if fresh {
            (0, false)
        } else {
            (st.used, st.marked)
        };
        if marked || st.dropped.records > 0 || used.saturating_add(bytes) > budget.bytes {
            return false;
        }
        self.tick += 1;
        st.last_seen = self.tick;
        if fresh {
            st.window = window;
            st.marked = false;
        }
        st.used = used + bytes;
        true
    }

    fn evict(&mut self) {
        let n = (self.max_tools / 8).max(1);
        let mut seen: Vec<u64> = self.tools.values().map(|s| s.last_seen).collect();
        let cut = n.min(seen.len()) - 1;
        let (_, &mut threshold, _) = seen.select_nth_unstable(cut);
        self.tools.retain(|_, s| s.last_seen > threshold);
    }

    /// All entries, least recently seen first, for a snapshot.
    pub fn entries(&self) -> Vec<(&str, &ToolState)> {
        let mut v: Vec<_> = self.tools.iter().map(|(k, s)| (&**k, s)).collect();
        v.sort_by_key(|(_, s)| s.last_seen);
        v
    }

    /// Puts back an entry from a snapshot or journal (later calls win).
    pub fn restore(&mut self, tool: &str, state: ToolState) {
        self.tick += 1;
        if !self.tools.contains_key(tool) && self.tools.len() >= self.max_tools {
            self.evict();
        }
        self.tools.insert(
            tool.into(),
            ToolState {
                last_seen: self.tick,
                ..state
            },
        );
    }
}

/// One journal line: a tool's whole state, so replaying a line twice is harmless.
pub fn journal_line(generation: u64, tool: &str, s: &ToolState) -> String {
    let d = &s.dropped;
    format!(
        "{generation} {} {} {} {} {} {} {} {}\n",
        keys::encode(tool),
        s.window,
        s.used,
        s.marked as u8,
        d.records,
        d.bytes,
        d.from_ns,
        d.until_ns
    )
}

/// Parses a [`journal_line`] (without its newline).
pub fn parse_journal_line(line: &str) -> Option<(u64, String, ToolState)> {
    let mut it = line.split(' ');
    let generation = it.next()?.parse().ok()?;
    let tool = keys::decode(it.next()?).ok()?;
    let mut n = || it.next().and_then(|v| v.parse::<u64>().ok());
    let (window, used, marked) = (n()?, n()?, n()?);
    let dropped = Dropped {
        records: n()?,
        bytes: n()?,
        from_ns: n()?,
        until_ns: n()?,
    };
    if it.next().is_some() || marked > 1 {
        return None;
    }
    Some((
        generation,
        tool,
        ToolState {
            window,
            used,
            marked: marked == 1,
            dropped,
            last_seen: 0,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: u64 = 1_000_000_000;
    const B: Budget = Budget {
        bytes: 100,
        window_seconds: 60,
    };

    #[test]
    fn exceed_marker_drop_summary_reset() {
        let mut q = Quotas::new(10);
        let t0 = 1_800_000_000 * S; // a window start
        assert_eq!(q.charge("a", B, t0, 60), Decision::Admit(None));
        assert_eq!(q.charge("a", B, t0 + S, 40), Decision::Admit(None));
        assert_eq!(
            q.charge("a", B, t0 + 2 * S, 1),
            Decision::Marker {
                budget: B,
                resets_at_ns: t0 + 60 * S
            }
        );
        assert_eq!(q.charge("a", B, t0 + 3 * S, 5), Decision::Drop);
        // Other tools are not affected.
        assert_eq!(q.charge("b", B, t0 + 3 * S, 100), Decision::Admit(None));
        // Next window: admitted, with the summary.
        let d = Dropped {
            records: 2,
            bytes: 6,
            from_ns: t0 + 2 * S,
            until_ns: t0 + 3 * S,
        };
        assert_eq!(q.charge("a", B, t0 + 61 * S, 10), Decision::Admit(Some(d)));
        assert_eq!(q.charge("a", B, t0 + 62 * S, 10), Decision::Admit(None));
    }

    #[test]
    fn late_records_count_in_the_current_window() {
        let mut q = Quotas::new(10);
        let t0 = 1_800_000_000 * S;
        q.charge("a", B, t0 + 61 * S, 100);
        assert!(matches!(q.charge("a", B, t0, 1), Decision::Marker { .. }));
    }

    #[test]
    fn bounded_with_lru_eviction() {
        let mut q = Quotas::new(16);
        for i in 0..1000 {
            q.charge(&format!("t{i}"), B, 0, 1);
            q.charge("hot", B, 0, 0);
            assert!(q.len() <= 16);
        }
        assert!(q.get("hot").is_some(), "recently seen tools survive");
        assert!(q.get("t0").is_none());
    }

    proptest! {
        #[test]
        fn journal_lines_roundtrip(tool in "\\PC{1,20}", w in any::<u64>(), u in any::<u64>(), m in any::<bool>(),
                                   r in any::<u64>(), b in any::<u64>(), f in any::<u64>(), t in any::<u64>(), g in any::<u64>()) {
            let s = ToolState { window: w, used: u, marked: m, dropped: Dropped { records: r, bytes: b, from_ns: f, until_ns: t }, last_seen: 0 };
            let line = journal_line(g, &tool, &s);
            prop_assert_eq!(parse_journal_line(line.trim_end()), Some((g, tool, s)));
        }

        #[test]
        fn never_admits_more_than_the_budget(sizes in proptest::collection::vec(0u64..50, 1..200)) {
            let mut q = Quotas::new(4);
            let mut admitted = 0;
            let mut markers = 0;
            for (i, &n) in sizes.iter().enumerate() {
                match q.charge("a", B, 1_800_000_000 * S + i as u64, n) {
                    Decision::Admit(_) => admitted += n,
                    Decision::Marker { .. } => markers += 1,
                    Decision::Drop => prop_assert!(markers == 1),
                }
            }
            prop_assert!(admitted <= B.bytes);
            prop_assert!(markers <= 1);
        }

        /// `charge_plain` is `charge` where that admits plainly, and a
        /// no-op elsewhere.
        #[test]
        fn charge_plain_is_charge_when_plain(steps in proptest::collection::vec((0u8..3, 0u64..200, 0u64..45), 1..150)) {
            let mut q = Quotas::new(2);
            let mut t = 1_800_000_000 * S;
            for (tool, secs, n) in steps {
                let tool = ["a", "b", "c"][tool as usize];
                t += secs * S / 10;
                let mut full = q.clone();
                let before = q.clone();
                let d = full.charge(tool, B, t, n);
                if q.charge_plain(tool, B, t, n) {
                    prop_assert_eq!(d, Decision::Admit(None));
                    prop_assert_eq!(q.get(tool), full.get(tool));
                    prop_assert_eq!(q.entries(), full.entries());
                } else {
                    prop_assert_eq!(q.entries(), before.entries());
                    q = full;
                }
            }
        }
    }
}
