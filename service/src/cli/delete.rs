//! `delete` and `deletions`: asking for a job's lines to be removed (a dry
//! run first, shown and confirmed), listing requests, cancelling one.

use super::listing::print_table;
use super::voice::{Level, Told, Voice};
use crate::args::client::{ClientArgs, DeleteArgs, DeletionsArgs};
use crate::client::Client;
use crate::wire::{
    DeletionPreview, DeletionResponse, DeletionSelection, DeletionView, DeletionsResponse,
};
use afterlog_reader::record::human_bytes;
use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal, Write};

/// The body of the request `a` asks for.
fn body(a: &DeleteArgs, dry_run: bool) -> Value {
    let mut b = serde_json::Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            b.insert(k.to_string(), v);
        }
    };
    put("run", a.run.clone().map(Value::from));
    put("container", a.container.clone().map(Value::from));
    put("stream", a.stream.map(|s| Value::from(s.to_string())));
    put("since", a.since.clone().map(Value::from));
    put("until", a.until.clone().map(Value::from));
    put("grep", (!a.grep.is_empty()).then(|| json!(a.grep)));
    put("regex", a.regex.clone().map(Value::from));
    put("ignore_case", a.ignore_case.then_some(Value::Bool(true)));
    put("dry_run", dry_run.then_some(Value::Bool(true)));
    Value::Object(b)
}

/// A selection in words, as the flags that make it.
pub fn describe(s: &DeletionSelection) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("run", &s.run),
        ("container", &s.container),
        ("stream", &s.stream),
        ("since", &s.since),
    ] {
        if let Some(v) = v {
            parts.push(format!("--{k} {v}"));
        }
    }
    parts.push(format!("--until {}", s.until));
    parts.extend(s.grep.iter().map(|g| format!("-e {g:?}")));
    if let Some(r) = &s.regex {
        parts.push(format!("--regex {r:?}"));
    }
    if s.ignore_case {
        parts.push("-i".into());
    }
    parts.join(" ")
}

fn lines(n: u64) -> String {
    counted(n, "line")
}

fn counted(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

pub async fn run_delete(a: DeleteArgs, voice: Voice) -> anyhow::Result<()> {
    let c = Client::for_args(&a.client())?;
    let url = c.url(&["jobs", &a.job, "deletions"], &[]);
    let preview: DeletionPreview = voice.told(
        c.json_at(reqwest::Method::POST, url.clone(), Some(&body(&a, true)))
            .await,
    )?;
    voice.messages(&preview.messages);
    let n = preview.affected;
    eprintln!(
        "{}/{}: {} ({}) in {}: {}\n\
         They are hidden from every read at once, and removed from the store after {}.",
        c.target.tool,
        a.job,
        lines(n.lines),
        human_bytes(n.bytes),
        counted(n.objects, "stored object"),
        describe(&preview.selection),
        preview.due_at
    );
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            voice.say(
                Level::Error,
                "not asked: stdin is not a terminal to confirm on; pass --yes",
            );
            return Err(anyhow!(Told));
        }
        eprint!("Ask for these lines to be deleted? [y/N] ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .context("reading the answer")?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            voice.say(Level::Info, "not asked: nothing changed");
            return Ok(());
        }
    }
    let r: DeletionResponse = voice.told(
        c.json_at(reqwest::Method::POST, url, Some(&body(&a, false)))
            .await,
    )?;
    voice.messages(&r.messages);
    let d = &r.deletion;
    println!("{}", d.id);
    voice.say(
        Level::Info,
        &format!(
            "deletion {} requested: {} hidden from now on, removed after {}; until then: afterlog deletions {} {} --cancel {}",
            d.id,
            lines(d.affected.lines),
            d.due_at,
            d.tool,
            d.job,
            d.id
        ),
    );
    Ok(())
}

pub async fn run_deletions(a: DeletionsArgs, voice: Voice) -> anyhow::Result<()> {
    let tool = a.tool_name.clone().or(a.client.tool.clone());
    let Some(tool) = tool else {
        if a.job.is_some() || a.cancel.is_some() {
            bail!("a JOB needs its TOOL first");
        }
        // Every tool's requests: no tool to resolve.
        let c = Client::for_args(&ClientArgs {
            tool: Some(String::new()),
            ..a.client.clone()
        })?;
        return list(&c, c.root_url(&["deletions"]), &a, voice).await;
    };
    let c = Client::for_args(&ClientArgs {
        tool: Some(tool),
        ..a.client.clone()
    })?;
    match (&a.job, &a.cancel) {
        (Some(job), Some(id)) => {
            let url = c.url(&["jobs", job, "deletions", id, "cancel"], &[]);
            let r: DeletionResponse =
                voice.told(c.json_at(reqwest::Method::POST, url, None).await)?;
            voice.messages(&r.messages);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r.deletion)?);
            }
            Ok(())
        }
        (Some(job), None) => {
            let url = c.url(&["jobs", job, "deletions"], &[]);
            list(&c, url, &a, voice).await
        }
        (None, _) => list(&c, c.url(&["deletions"], &[]), &a, voice).await,
    }
}

async fn list(
    c: &Client,
    url: reqwest::Url,
    a: &DeletionsArgs,
    voice: Voice,
) -> anyhow::Result<()> {
    if a.json {
        let v: Value = voice.told(c.json_at(reqwest::Method::GET, url, None).await)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let r: DeletionsResponse = voice.told(c.json_at(reqwest::Method::GET, url, None).await)?;
    voice.messages(&r.messages);
    print_table(&table(&r.deletions));
    Ok(())
}

/// The listing's rows, a header first.
fn table(views: &[DeletionView]) -> Vec<[String; 7]> {
    let mut rows =
        vec![["ID", "STATE", "TOOL/JOB", "LINES", "BY", "DUE", "SELECTION"].map(String::from)];
    for d in views {
        rows.push([
            d.id.clone(),
            d.state.clone(),
            format!("{}/{}", d.tool, d.job),
            d.affected.lines.to_string(),
            d.requested_by.clone(),
            d.due_at.clone(),
            describe(&d.selection),
        ]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        delete: DeleteArgs,
    }

    #[test]
    fn the_body_has_the_apis_fields() {
        let a = Cmd::try_parse_from([
            "delete", "bot", "job", "-e", "token=", "-e", "x", "-i", "--stream", "stderr",
            "--since", "2h",
        ])
        .unwrap()
        .delete;
        assert_eq!(a.client().tool.as_deref(), Some("bot"));
        assert_eq!(
            body(&a, true),
            json!({"grep": ["token=", "x"], "ignore_case": true, "stream": "stderr",
                   "since": "2h", "dry_run": true})
        );
        let all = Cmd::try_parse_from(["delete", "bot", "job", "--yes"])
            .unwrap()
            .delete;
        assert!(all.yes);
        assert_eq!(body(&all, false), json!({}));
        assert!(Cmd::try_parse_from(["delete", "bot", "job", "-i"]).is_err());
        assert!(Cmd::try_parse_from(["delete", "bot"]).is_err());
    }

    #[test]
    fn selections_read_as_flags() {
        let s = DeletionSelection {
            run: Some("pod-1".into()),
            container: None,
            stream: None,
            since: None,
            until: "2030-01-01T00:00:00.000000000Z".into(),
            grep: vec!["key=".into()],
            regex: None,
            ignore_case: true,
        };
        assert_eq!(
            describe(&s),
            "--run pod-1 --until 2030-01-01T00:00:00.000000000Z -e \"key=\" -i"
        );
    }
}
