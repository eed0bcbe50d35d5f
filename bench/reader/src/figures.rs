//! How the benches compute and print their figures.

pub use afterlog_testkit::stats::median;

pub const MIB: f64 = 1024.0 * 1024.0;

/// MiB per second.
pub fn mbs(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / MIB / secs
}

/// Each run's seconds: `1.02 0.98 1.10`.
pub fn fmt_runs(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.2}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// (p50, p99, max), nearest rank; NaN when there is nothing.
pub fn percentiles(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.50), at(0.99), v[v.len() - 1])
}

/// `x / y`, NaN when `y` is not positive.
pub fn ratio(x: f64, y: f64) -> f64 {
    if y > 0.0 { x / y } else { f64::NAN }
}

/// A markdown table row, an empty cell as `| |`.
pub fn md_row(cells: &[&str]) -> String {
    let mut s = String::from("|");
    for c in cells {
        if !c.is_empty() {
            s.push(' ');
            s.push_str(c);
        }
        s.push_str(" |");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentiles(&v), (50.0, 99.0, 100.0));
        assert!(percentiles(&[]).0.is_nan());
    }

    #[test]
    fn an_empty_cell_is_one_space() {
        assert_eq!(md_row(&["a", "1 s", ""]), "| a | 1 s | |");
    }
}
