//! The simulated users: a token each, so that each is a caller of its own.

use crate::store;
use crate::synth::TOOL;
use anyhow::{Context, Result, ensure};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

/// One simulated user: a token of its own, so a caller of its own.
pub struct Caller {
    pub token: String,
}

/// `names` as callers: their tokens and `tokens.json` (written to `path`)
/// granting each the bench's tool, hashed by `afterlog hash-token`.
fn callers(afterlog: &Path, names: &[String], path: &Path) -> Result<Vec<Caller>> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let mut out = Vec::new();
    let mut entries = Vec::new();
    for name in names {
        let token = format!("bench-load-{nonce:x}-{name}");
        let mut child = store::afterlog_command(afterlog, "hash-token")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running afterlog hash-token")?;
        child
            .stdin
            .take()
            .context("no stdin")?
            .write_all(token.as_bytes())?;
        let o = child.wait_with_output()?;
        ensure!(
            o.status.success(),
            "afterlog hash-token: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let sha256 = String::from_utf8(o.stdout)?.trim().to_string();
        entries.push(serde_json::json!({"name": name, "sha256": sha256, "tools": [TOOL]}));
        out.push(Caller { token });
    }
    std::fs::write(
        path,
        serde_json::to_string_pretty(&serde_json::json!({ "tokens": entries }))?,
    )
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(out)
}

/// Every caller of a run, by role: one for the read alone, the readers
/// (`--caller-max` reads each), a caller per follow, the small requests'.
pub struct Cast {
    all: Vec<Caller>,
    readers: usize,
    follows: usize,
    /// The server's `tokens.json`.
    pub tokens: std::path::PathBuf,
}

impl Cast {
    /// Writes the tokens of `readers`, `follows` and `smalls` callers (and
    /// the solo one) to `dir`.
    pub fn new(
        afterlog: &Path,
        dir: &Path,
        readers: usize,
        follows: usize,
        smalls: usize,
    ) -> Result<Cast> {
        let mut names = vec!["solo".to_string()];
        names.extend((0..readers).map(|i| format!("reader-{i:03}")));
        names.extend((0..follows).map(|i| format!("follow-{i:03}")));
        names.extend((0..smalls).map(|i| format!("small-{i:03}")));
        let tokens = dir.join("bench-load-tokens.json");
        Ok(Cast {
            all: callers(afterlog, &names, &tokens)?,
            readers,
            follows,
            tokens,
        })
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn solo(&self) -> &Caller {
        &self.all[0]
    }

    pub fn readers(&self) -> &[Caller] {
        &self.all[1..1 + self.readers]
    }

    pub fn followers(&self) -> &[Caller] {
        &self.all[1 + self.readers..1 + self.readers + self.follows]
    }

    pub fn smalls(&self) -> &[Caller] {
        &self.all[1 + self.readers + self.follows..]
    }
}
