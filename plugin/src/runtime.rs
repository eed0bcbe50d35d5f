//! The filter's edge: finds its config in the accessible directories and
//! keeps quota state across restarts.
//!
//! Quota state is kept in memory and checkpointed to a snapshot (written to a
//! temporary file and renamed over the old one, so a crash never leaves half
//! a snapshot). That alone would lose the counts of an instance that lives
//! shorter than the checkpoint interval — every instance, on a Fluent Bit that
//! re-instantiates the module per chunk. So while an instance is young it
//! also appends each changed tool's whole state to a journal; on start the
//! snapshot is loaded and the journal replayed on top. Journal lines carry the
//! snapshot generation they follow, so lines a newer snapshot already holds
//! are ignored, and a line replayed twice sets the same state twice: counts
//! are neither lost nor doubled.

use crate::config::{self, Config};
use crate::direct::{Direct, Outcome};
use crate::filter::{Filter, Output, Verdict};
use crate::msgpack;
use crate::quota::{self, ToolState};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    generation: u64,
    saved_at_ns: u64,
    tools: Vec<(String, ToolState)>,
}

struct Persist {
    path: PathBuf,
    journal_path: PathBuf,
    journal: Option<File>,
    generation: u64,
    last_snapshot_ns: u64,
}

pub struct Runtime {
    filter: Filter,
    persist: Option<Persist>,
    clock: fn() -> u64,
    started_ns: u64,
    now_ns: u64,
    calls: u64,
    interval_ns: u64,
    /// The msgpack mode's input as JSON text, and its NF1 output.
    mp_json: Vec<u8>,
    mp_out: Vec<u8>,
    mp_caches: msgpack::Caches,
    direct: Direct,
    direct_records: u64,
    /// Off only to test the general path against it.
    direct_enabled: bool,
    watch: Option<Watch>,
}

/// The config file, looked at now and then for changes.
struct Watch {
    path: PathBuf,
    stamp: Option<Stamp>,
    next_ns: u64,
}

/// What tells a changed file: its modification time and length.
type Stamp = (Option<std::time::SystemTime>, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    fs::metadata(path)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

/// Reads a config file; the error names the file.
fn load(path: &Path) -> Result<Config, String> {
    let text = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn complain(msg: &str) {
    eprintln!("[afterlog filter] {msg}");
}

impl Runtime {
    /// The journal is folded into a new snapshot when it is this long at start.
    const JOURNAL_FOLD_LINES: usize = 10_000;
    /// How often an old instance reads the clock, in calls.
    const CLOCK_EVERY: u64 = 32;

    /// Looks for the config in `dirs` (the first that has one wins), starts
    /// the filter and reloads quota state. Problems are reported once on
    /// stderr and never stop the filter: a bad config means built-in
    /// defaults, an unwritable state directory means memory-only quotas.
    pub fn open(dirs: &[PathBuf], clock: fn() -> u64) -> Runtime {
        let mut filter = None;
        let mut cfg_dir = dirs.first().cloned();
        let mut watched = cfg_dir.as_ref().map(|d| d.join(config::FILE_NAME));
        for d in dirs {
            let p = d.join(config::FILE_NAME);
            match fs::metadata(&p) {
                Ok(_) => {
                    cfg_dir = Some(d.clone());
                    // Rules that do not compile are a mistake in this file
                    // too: say which file, as for a syntax error.
                    let made = load(&p)
                        .and_then(|c| Filter::new(c).map_err(|e| format!("{}: {e}", p.display())));
                    match made {
                        Ok(f) => filter = Some(f),
                        Err(e) => complain(&format!("{e}; using the built-in defaults")),
                    }
                    watched = Some(p);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => complain(&format!("{}: {e}", p.display())),
            }
        }
        let filter = filter.unwrap_or_else(default_filter);
        let state = filter
            .config()
            .state_file
            .as_ref()
            .map(PathBuf::from)
            .or_else(|| cfg_dir.map(|d| d.join(config::STATE_FILE_NAME)));
        let mut rt = Self::with_filter(filter, state, clock);
        if let Some(path) = watched
            && rt.filter.config().reload_seconds > 0
        {
            rt.watch = Some(Watch {
                stamp: stamp(&path),
                path,
                next_ns: rt.now_ns + rt.reload_ns(),
            });
        }
        rt
    }

    fn reload_ns(&self) -> u64 {
        self.filter
            .config()
            .reload_seconds
            .saturating_mul(1_000_000_000)
    }

    /// Takes the config file again if it changed. A config that does not
    /// load is reported once (per change) and the running one kept, so a
    /// typo never turns routing or quotas off.
    fn reload_if_changed(&mut self) {
        let Some(w) = self.watch.as_mut() else {
            return;
        };
        let now = stamp(&w.path);
        if now == w.stamp {
            return;
        }
        w.stamp = now;
        if now.is_none() {
            complain(&format!(
                "{}: removed; keeping the running config",
                w.path.display()
            ));
            return;
        }
        let path = w.path.clone();
        let taken = load(&path).and_then(|c| {
            self.filter
                .reconfigure(c)
                .map_err(|e| format!("{}: {e}", path.display()))
        });
        match taken {
            Ok(()) => {
                // Cached labels were derived under the old rules.
                self.direct = Direct::default();
                self.mp_caches = msgpack::Caches::default();
                complain(&format!("{}: reloaded", path.display()));
            }
            Err(e) => complain(&format!("{e}; keeping the running config")),
        }
    }

    /// Starts with a given config and state file (`None`: memory only).
    pub fn with_config(cfg: Config, state: Option<PathBuf>, clock: fn() -> u64) -> Runtime {
        let filter = Filter::new(cfg).unwrap_or_else(|e| {
            complain(&format!("{e}; using the built-in defaults"));
            default_filter()
        });
        Self::with_filter(filter, state, clock)
    }

    fn with_filter(filter: Filter, state: Option<PathBuf>, clock: fn() -> u64) -> Runtime {
        let interval_ns = filter
            .config()
            .checkpoint_seconds
            .saturating_mul(1_000_000_000);
        let now = clock();
        let mut rt = Runtime {
            filter,
            persist: None,
            clock,
            started_ns: now,
            now_ns: now,
            calls: 0,
            interval_ns,
            mp_json: Vec::new(),
            mp_out: Vec::new(),
            mp_caches: msgpack::Caches::default(),
            direct: Direct::default(),
            direct_records: 0,
            direct_enabled: true,
            watch: None,
        };
        if let Some(path) = state {
            match rt.load(&path) {
                Ok(p) => rt.persist = Some(p),
                Err(e) => complain(&format!(
                    "quota state {}: {e}; quotas are kept in memory only",
                    path.display()
                )),
            }
        }
        rt
    }

    /// Whether the msgpack mode may take its direct path ([`crate::direct`]);
    /// on by default. Turning it off is for tests comparing the two paths.
    pub fn set_direct(&mut self, on: bool) {
        self.direct_enabled = on;
    }

    /// How many records took the direct path.
    pub fn direct_records(&self) -> u64 {
        self.direct_records
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// See [`Filter::set_tag`].
    pub fn set_tag(&mut self, tag: &[u8]) {
        self.filter.set_tag(tag);
    }

    /// Counts a call and reads the clock when due; whether the instance
    /// is young (see the module's doc).
    fn tick(&mut self) -> bool {
        self.calls += 1;
        let young = self.now_ns.saturating_sub(self.started_ns) < self.interval_ns;
        if young || self.calls.is_multiple_of(Self::CLOCK_EVERY) {
            self.now_ns = (self.clock)();
            if self
                .watch
                .as_ref()
                .is_some_and(|w| self.now_ns >= w.next_ns)
            {
                self.reload_if_changed();
                let every = self.reload_ns();
                if every == 0 {
                    self.watch = None;
                } else if let Some(w) = self.watch.as_mut() {
                    w.next_ns = self.now_ns + every;
                }
            }
        }
        young
    }

    /// Journals and checkpoints what the last record changed.
    fn settle(&mut self, young: bool) {
        if self.filter.last_charged().is_some() && self.persist.is_some() {
            self.after_change(young);
        }
    }

    /// Filters one record and checkpoints quota state when it is due.
    pub fn process(&mut self, sec: u32, nsec: u32, record: &[u8]) -> Output<'_> {
        let young = self.tick();
        let verdict = self.filter.judge(sec, nsec, record);
        self.settle(young);
        match verdict {
            Verdict::Out => Output::Record(self.filter.output()),
            Verdict::Unchanged => Output::Unchanged,
            Verdict::Drop => Output::Drop,
        }
    }

    /// [`Runtime::process`] for the msgpack mode: a msgpack map in, NF1
    /// out (with a NUL), never [`Output::Unchanged`] — a record the filter
    /// leaves alone is re-encoded too, since its own msgpack may hold zero
    /// bytes. `None`: the input is not one msgpack value (then it is the
    /// JSON mode's, however garbled; Fluent Bit's msgpack mode always
    /// passes a well-formed map).
    pub fn process_msgpack(&mut self, sec: u32, nsec: u32, record: &[u8]) -> Option<Output<'_>> {
        // The clock is not needed to judge a record, only to checkpoint
        // after it: a declined record is counted once, by the general path.
        if self.direct_enabled {
            match self
                .direct
                .record(&mut self.filter, sec, nsec, record, &mut self.mp_out)
            {
                Outcome::Record => {
                    self.direct_records += 1;
                    let young = self.tick();
                    self.settle(young);
                    return Some(Output::Record(&self.mp_out));
                }
                Outcome::Drop => {
                    self.direct_records += 1;
                    self.tick();
                    return Some(Output::Drop);
                }
                Outcome::Declined => {}
            }
        }
        let mut json_in = std::mem::take(&mut self.mp_json);
        json_in.clear();
        if msgpack::to_json_cached(record, &mut json_in, &mut self.mp_caches).is_err() {
            self.mp_json = json_in;
            return None;
        }
        let kept = match self.process(sec, nsec, &json_in) {
            Output::Record(_) => true,
            Output::Unchanged => false,
            Output::Drop => {
                self.mp_json = json_in;
                return Some(Output::Drop);
            }
        };
        self.mp_out.clear();
        if kept {
            let text = self.filter.output();
            msgpack::to_nf_cached(
                &text[..text.len() - 1],
                &mut self.mp_out,
                &mut self.mp_caches,
            );
        } else {
            msgpack::to_nf_cached(&json_in, &mut self.mp_out, &mut self.mp_caches);
        }
        self.mp_json = json_in;
        Some(Output::Record(&self.mp_out))
    }

    fn after_change(&mut self, young: bool) {
        let Some(p) = self.persist.as_mut() else {
            return;
        };
        let mut failed = None;
        if young
            && let (Some(tool), Some(j)) = (self.filter.last_charged(), p.journal.as_mut())
            && let Some(st) = self.filter.quotas().get(tool)
        {
            let line = quota::journal_line(p.generation, tool, st);
            if let Err(e) = j.write_all(line.as_bytes()) {
                failed = Some(format!("journal {}: {e}", p.journal_path.display()));
            }
        }
        if failed.is_none()
            && self.now_ns.saturating_sub(p.last_snapshot_ns) >= self.interval_ns
            && let Err(e) = snapshot(p, &self.filter, self.now_ns)
        {
            failed = Some(format!("{}: {e}", p.path.display()));
        }
        if let Some(msg) = failed {
            complain(&format!(
                "quota state {msg}; quotas are kept in memory only from now on"
            ));
            self.persist = None;
        }
    }

    fn load(&mut self, path: &Path) -> std::io::Result<Persist> {
        let journal_path = path.with_extension("journal");
        let mut generation = 0;
        match fs::read(path) {
            Ok(text) => match serde_json::from_slice::<Snapshot>(&text) {
                Ok(s) => {
                    generation = s.generation;
                    for (tool, st) in s.tools {
                        self.filter.quotas_mut().restore(&tool, st);
                    }
                }
                Err(e) => complain(&format!(
                    "quota state {} is unreadable ({e}); starting afresh",
                    path.display()
                )),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut lines = 0;
        match fs::read_to_string(&journal_path) {
            Ok(text) => {
                // A torn last line (no newline) is ignored.
                let complete = text.rfind('\n').map_or("", |i| &text[..i]);
                for line in complete.lines() {
                    lines += 1;
                    if let Some((g, tool, st)) = quota::parse_journal_line(line)
                        && g == generation
                    {
                        self.filter.quotas_mut().restore(&tool, st);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut p = Persist {
            path: path.to_path_buf(),
            journal_path,
            journal: None,
            generation,
            last_snapshot_ns: self.now_ns,
        };
        if lines >= Self::JOURNAL_FOLD_LINES || !path.exists() {
            // Also proves at start that the directory is writable.
            snapshot(&mut p, &self.filter, self.now_ns)?;
        }
        p.journal = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p.journal_path)?,
        );
        Ok(p)
    }
}

/// Writes a new snapshot generation and empties the journal.
fn snapshot(p: &mut Persist, filter: &Filter, now_ns: u64) -> std::io::Result<()> {
    let generation = p.generation + 1;
    let snap = Snapshot {
        version: 1,
        generation,
        saved_at_ns: now_ns,
        tools: filter
            .quotas()
            .entries()
            .into_iter()
            .map(|(t, s)| (t.to_string(), *s))
            .collect(),
    };
    let tmp = p.path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(&snap).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &p.path)?;
    p.generation = generation;
    p.last_snapshot_ns = now_ns;
    // Lines of older generations are ignored from now on; truncating only saves space.
    p.journal = Some(File::create(&p.journal_path)?);
    Ok(())
}

fn default_filter() -> Filter {
    // The built-in defaults are covered by tests: they always make a filter.
    Filter::new(Config::default()).unwrap_or_else(|_| std::process::abort())
}
