//! `push`: lines of the user's own (stdin or a file) into a job's log, in
//! batches the server takes.

use super::voice::{Level, Voice};
use crate::args::client::PushArgs;
use crate::client::{Client, ClientError, error_chain};
use crate::wire::PushResponse;
use afterlog_contract::query::{Source, Stream};
use anyhow::{Context, bail};
use std::io::Read;

/// Largest body of one push; bigger inputs go in several.
const PUSH_BATCH_BYTES: usize = 512 * 1024;

pub async fn run_push(a: PushArgs, voice: Voice) -> anyhow::Result<()> {
    let c = Client::for_args(&a.client)?;
    let mut input = Vec::new();
    match &a.file {
        Some(p) => {
            input = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        }
        None => {
            std::io::stdin()
                .read_to_end(&mut input)
                .context("reading stdin")?;
        }
    }
    let records = to_records(&input, a.json, a.stream)?;
    if records.is_empty() {
        bail!("nothing to push: the input has no lines");
    }
    let q: Vec<(&str, String)> = if a.platform {
        vec![("source", Source::Platform.to_string())]
    } else {
        Vec::new()
    };
    let mut stored = 0;
    for batch in batches(&records, PUSH_BATCH_BYTES) {
        let url = c.url(&["jobs", &a.job, "logs"], &q);
        let resp = voice.told(
            c.send(reqwest::Method::POST, url.clone(), Some(batch))
                .await,
        )?;
        let r: PushResponse = voice.told(resp.json().await.map_err(|e| ClientError::Response {
            url: url.to_string(),
            reason: error_chain(&e),
        }))?;
        voice.messages(&r.messages);
        stored += r.lines;
    }
    voice.say(
        Level::Info,
        &format!(
            "{stored} {} pushed to {}/{}",
            if stored == 1 { "line" } else { "lines" },
            c.target.tool,
            a.job
        ),
    );
    Ok(())
}

/// The input as NDJSON records: text lines become `{"log", "stream"}`;
/// `--json` input is checked to be objects and passed on.
fn to_records(input: &[u8], json: bool, stream: Stream) -> anyhow::Result<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(input).context("the input is not UTF-8 text")?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if json {
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("line {}: not JSON", i + 1))?;
            if !v.is_object() {
                bail!("line {}: not a JSON object", i + 1);
            }
            out.push(line.as_bytes().to_vec());
        } else {
            let v = serde_json::json!({"log": line, "stream": stream});
            out.push(serde_json::to_vec(&v)?);
        }
    }
    Ok(out)
}

/// NDJSON bodies of at most `max` bytes (a longer single record goes alone;
/// the server then says whether it takes it).
fn batches(records: &[Vec<u8>], max: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    for r in records {
        if !cur.is_empty() && cur.len() + r.len() + 1 > max {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend_from_slice(r);
        cur.push(b'\n');
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_become_records_and_json_is_checked() {
        let r = to_records(b"one\ntwo \"q\"\n\n", false, Stream::Stderr).unwrap();
        let v: Vec<serde_json::Value> = r
            .iter()
            .map(|b| serde_json::from_slice(b).unwrap())
            .collect();
        assert_eq!(
            v,
            [
                serde_json::json!({"log": "one", "stream": "stderr"}),
                serde_json::json!({"log": "two \"q\"", "stream": "stderr"}),
                serde_json::json!({"log": "", "stream": "stderr"}),
            ]
        );
        assert!(
            to_records(b"{\"log\":\"a\"}\n\n", true, Stream::Stdout)
                .unwrap()
                .len()
                == 1
        );
        let err = to_records(b"{\"log\":\"a\"}\n[1]\n", true, Stream::Stdout).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(to_records(b"\xff", false, Stream::Stdout).is_err());
    }

    #[test]
    fn batches_stay_under_the_limit() {
        let recs: Vec<Vec<u8>> = (0..100).map(|i| format!("{i:09}").into_bytes()).collect();
        let b = batches(&recs, 100);
        assert!(b.iter().all(|x| x.len() <= 100), "{b:?}");
        assert_eq!(b.concat().len(), 100 * 10);
        let big = batches(&[vec![b'x'; 500], vec![b'y'; 5]], 100);
        assert_eq!(big.len(), 2);
    }
}
