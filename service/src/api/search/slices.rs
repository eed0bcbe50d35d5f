//! The time windows a search reads one after another, from the end it
//! starts at: each four times as wide as the one before, so that a search
//! whose matches are near that end answers after reading little, and one
//! whose matches are rare or far reads a long window in few steps. Every
//! match of a window comes before (in the search's order) every match of
//! the next, so each window's matches can be sent as soon as it is read.

/// The first window's width: an hour.
pub const FIRST_NS: u64 = 3_600_000_000_000;

/// Windows `[a, b)` that cover `lo..hi` exactly, newest or oldest first.
#[derive(Debug, Clone)]
pub struct Slices {
    newest: bool,
    lo: u64,
    hi: u64,
    width: u64,
    /// Where the first window is placed, if known: the newest (or oldest)
    /// record time of the jobs searched.
    near: Option<u64>,
}

impl Slices {
    pub fn new(newest: bool, lo: u64, hi: u64, near: Option<u64>) -> Slices {
        Slices {
            newest,
            lo,
            hi,
            width: FIRST_NS,
            near,
        }
    }
}

impl Iterator for Slices {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if self.lo >= self.hi {
            return None;
        }
        let near = self.near.take();
        let slice = if self.newest {
            // The first window reaches from just below the newest record
            // up to the window's end, however far that is.
            let base = near.map_or(self.hi, |n| n.clamp(self.lo, self.hi));
            let a = base.saturating_sub(self.width).max(self.lo);
            let s = (a, self.hi);
            self.hi = a;
            s
        } else {
            let base = near.map_or(self.lo, |n| n.clamp(self.lo, self.hi));
            let b = base.saturating_add(self.width).min(self.hi);
            let s = (self.lo, b);
            self.lo = b;
            s
        };
        self.width = self.width.saturating_mul(4);
        Some(slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn newest_first_widens_from_the_newest_record() {
        let h = FIRST_NS;
        let got: Vec<_> = Slices::new(true, 0, u64::MAX, Some(100 * h)).collect();
        assert_eq!(got[0], (99 * h, u64::MAX));
        assert_eq!(got[1], (95 * h, 99 * h));
        assert_eq!(got.last().unwrap().0, 0);
        let got: Vec<_> = Slices::new(false, 10 * h, 12 * h, None).collect();
        assert_eq!(got, vec![(10 * h, 11 * h), (11 * h, 12 * h)]);
        assert_eq!(Slices::new(true, 5, 5, None).count(), 0);
    }

    proptest! {
        /// The windows cover the search's window exactly, in order, in
        /// few steps.
        #[test]
        fn windows_cover_the_window_once(
            newest: bool,
            lo in 0u64..u64::MAX / 2,
            len in 0u64..u64::MAX / 2,
            near in proptest::option::of(any::<u64>()),
        ) {
            let hi = lo + len;
            let got: Vec<(u64, u64)> = Slices::new(newest, lo, hi, near).collect();
            prop_assert!(got.len() <= 40, "{}", got.len());
            let mut ordered = got.clone();
            if newest {
                ordered.reverse();
            }
            let mut at = lo;
            for (a, b) in ordered {
                prop_assert_eq!(a, at);
                prop_assert!(a < b);
                at = b;
            }
            prop_assert_eq!(at, if len == 0 { lo } else { hi });
        }
    }
}
