//! The markdown report `bench-scale` ends with, for docs/benchmarks.md.

use super::Args;
use super::case::{Case, Phase};
use super::measure::{Measured, REQS, fmt_ms, fmt_ops, fmt_req};
use crate::store;
use std::fmt::Write as _;

/// Markdown's alignment cells: numbers to the right.
const RIGHT: &str = "---:";
const LEFT: &str = "---";

/// A markdown table of `columns` (title, alignment) and `rows`.
fn table(s: &mut String, columns: &[(&str, &str)], rows: impl IntoIterator<Item = Vec<String>>) {
    s.push('|');
    for (title, _) in columns {
        let _ = write!(s, " {title} |");
    }
    s.push_str("\n|");
    for (_, align) in columns {
        let _ = write!(s, "{align}|");
    }
    s.push('\n');
    for row in rows {
        s.push('|');
        for cell in row {
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
}

/// A table of the requests' figures: a row per case and phase, a column
/// per request holding `cell` of its measure.
fn requests_table(s: &mut String, cases: &[Case], cell: impl Fn(&Measured) -> String) {
    let mut columns = vec![
        ("N", RIGHT),
        ("job", LEFT),
        ("store", LEFT),
        ("phase", LEFT),
        ("objects", RIGHT),
    ];
    columns.extend(REQS.iter().map(|r| (r.label(), RIGHT)));
    let rows = cases.iter().flat_map(|c| {
        c.phases.iter().map(|p: &Phase| {
            let mut row = vec![
                c.n.to_string(),
                c.kind.name().to_string(),
                c.store.name().to_string(),
                p.name.to_string(),
                p.objects.values().sum::<u64>().to_string(),
            ];
            row.extend(p.results.iter().map(|m| {
                let bad = m
                    .bad()
                    .map(|b| format!(" **WRONG: {b}**"))
                    .unwrap_or_default();
                format!("{}{bad}", cell(m))
            }));
            row
        })
    });
    table(s, &columns, rows);
}

/// What a request answered (runs or lines), against what it should have.
fn answer(m: &Measured) -> String {
    let mut got = m.cold.count.map_or("?".into(), |c| c.to_string());
    if m.cold.paged {
        got.push_str(" (page)");
    }
    match m.expect {
        Some((want, true)) if m.bad().is_none() => {
            if m.cold.paged {
                format!("{got} of {want}")
            } else {
                got
            }
        }
        Some((want, exact)) => {
            format!("{got} ({}{want})", if exact { "want " } else { "~" })
        }
        None => got,
    }
}

/// One row of the data and compaction table.
fn data_row(c: &Case) -> Vec<String> {
    let passes: Vec<String> = c.passes.iter().map(|(t, _)| format!("{t:.2} s")).collect();
    let total: f64 = c.passes.iter().map(|p| p.0).sum();
    vec![
        c.n.to_string(),
        c.kind.name().to_string(),
        c.store.name().to_string(),
        c.records.to_string(),
        format!(
            "{:.1} ({:.1})",
            c.bytes as f64 / 1048576.0,
            c.gz_bytes as f64 / 1048576.0
        ),
        format!("{:.1} s", c.gen_secs),
        c.phases
            .first()
            .map_or(String::new(), |p| store::describe_objects(&p.objects)),
        format!(
            "{} = {total:.2} s{}",
            passes.join(" + "),
            c.error
                .as_ref()
                .map(|e| format!(" **{e}**"))
                .unwrap_or_default()
        ),
        c.phases
            .last()
            .filter(|p| p.name == "compacted")
            .map_or("-".into(), |p| store::describe_objects(&p.objects)),
    ]
}

pub fn report(a: &Args, cases: &[Case]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n### Warm: median of {} after a warm-up (ms, store requests)\n",
        a.reps
    );
    requests_table(&mut s, cases, |m| {
        format!(
            "{} ms, {} req",
            fmt_ms(m.warm_ms()),
            fmt_req(m.warm_requests())
        )
    });

    let _ = writeln!(
        s,
        "\n### Cold: the first request on a fresh server (ms, store requests)\n"
    );
    requests_table(&mut s, cases, |m| {
        format!(
            "{} ms, {} req",
            fmt_ms(m.cold.ms),
            fmt_req(m.cold.delta.requests.as_ref().map(|r| r.0))
        )
    });

    let _ = writeln!(s, "\n### Answers (runs or lines, cold; expected)\n");
    requests_table(&mut s, cases, answer);

    let _ = writeln!(s, "\n### Store requests by op, cold (and KiB fetched)\n");
    requests_table(&mut s, cases, |m| fmt_ops(&m.cold.delta));

    let _ = writeln!(s, "\n### Data and compaction\n");
    table(
        &mut s,
        &[
            ("N", RIGHT),
            ("job", LEFT),
            ("store", LEFT),
            ("records", RIGHT),
            ("MiB (gz)", RIGHT),
            ("generated", RIGHT),
            ("objects raw", LEFT),
            ("compaction passes", LEFT),
            ("objects compacted", LEFT),
        ],
        cases.iter().map(data_row),
    );
    let _ = writeln!(s, "\nCompaction reports:\n");
    for c in cases {
        for (i, (_, r)) in c.passes.iter().enumerate() {
            let _ = writeln!(
                s,
                "- N={} {} {} pass {}: {}",
                c.n,
                c.kind.name(),
                c.store.name(),
                i + 1,
                r.replace('\n', " / ")
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_has_its_header_alignment_and_rows() {
        let mut s = String::new();
        table(
            &mut s,
            &[("N", RIGHT), ("job", LEFT)],
            [vec!["10".to_string(), "cron".to_string()]],
        );
        assert_eq!(s, "| N | job |\n|---:|---|\n| 10 | cron |\n");
    }
}
