//! `jobs` and `usage`: tables of what a tool has stored.

use super::voice::Voice;
use crate::args::client::ListArgs;
use crate::client::Client;
use crate::wire::{JobsResponse, UsageResponse};
use afterlog_reader::record::human_bytes;
use anyhow::bail;
use serde::de::DeserializeOwned;

/// GETs `rest` of the tool: with `--json` printed as the API sent it
/// (`None`), else parsed.
async fn fetch<T: DeserializeOwned>(
    a: &ListArgs,
    voice: Voice,
    rest: &[&str],
) -> anyhow::Result<Option<T>> {
    let c = Client::for_args(&a.client)?;
    if a.json {
        let v: serde_json::Value = voice.told(c.get_json(rest).await)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(None);
    }
    voice.told(c.get_json(rest).await).map(Some)
}

/// Runs a client command: `Ok(())` or the error already told to the user
/// (`Err` carries it for the exit code).
pub async fn run_jobs(a: ListArgs, voice: Voice) -> anyhow::Result<()> {
    let Some(r): Option<JobsResponse> = fetch(&a, voice, &["jobs"]).await? else {
        return Ok(());
    };
    voice.messages(&r.messages);
    let mut rows = vec![["JOB", "KIND", "STATUS", "RUNS", "LAST LOG", "SIZE"].map(String::from)];
    for j in r.jobs {
        rows.push([
            j.job,
            j.kind.unwrap_or_else(|| "-".into()),
            j.status,
            j.runs.to_string(),
            j.last_time.unwrap_or_else(|| "-".into()),
            human_bytes(j.stored_bytes),
        ]);
    }
    print_table(&rows);
    Ok(())
}

pub async fn run_usage(a: ListArgs, voice: Voice) -> anyhow::Result<()> {
    let Some(r): Option<UsageResponse> = fetch(&a, voice, &["usage"]).await? else {
        return Ok(());
    };
    voice.messages(&r.messages);
    let mut rows = vec![["JOB", "SIZE", "OBJECTS"].map(String::from)];
    for j in r.jobs {
        rows.push([j.job, human_bytes(j.stored_bytes), j.objects.to_string()]);
    }
    rows.push(["total".into(), human_bytes(r.total_bytes), String::new()]);
    print_table(&rows);
    Ok(())
}

/// The tool's one job, for commands that may leave it out.
pub async fn only_job(c: &Client, voice: Voice) -> anyhow::Result<String> {
    let r: JobsResponse = voice.told(c.get_json(&["jobs"]).await)?;
    voice.messages(&r.messages);
    let names: Vec<String> = r.jobs.into_iter().map(|j| j.job).collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("tool {:?} has no logs stored", c.target.tool),
        many => bail!(
            "which job? tool {:?} has: {}",
            c.target.tool,
            many.join(", ")
        ),
    }
}

pub(super) fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    print!("{out}");
}
