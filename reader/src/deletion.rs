//! Deletion requests (docs/design.md §12): a tool asks for some lines of a
//! job to be removed; readers hide them from the moment the request is
//! stored, and the compactor removes them from the store once it is due.
//!
//! A request is a few documents under `deletions/<tool>/<job>/`, each
//! written once and never changed (`afterlog_contract::layout::DeletionPart`):
//! the request; the decision, created only if absent, so that a cancel and
//! the compactor's start can never both win; what the rewrite removed; and
//! when the last object that held the lines was deleted. Immutable
//! documents need no conditional update, which a local directory lacks.

use crate::line_match::{LineFilter, LineMatch, LineMatchError};
use crate::record::LogRecord;
use crate::selection::Selection;
use afterlog_contract::keys;
use afterlog_contract::layout::{self, DeletionPart};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The documents' `version`; a reader refuses any other.
pub const DELETION_VERSION: u32 = 1;

/// What a request selects, named like a read's parameters. Every field set
/// must hold for a line to be selected; `{}` selects the whole job up to
/// the request's time. Times are ns since the epoch, `since <= ts < until`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selected {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// Always set in a stored request: a request never selects lines
    /// written after it was made (a job's later runs are not its business).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grep: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_case: bool,
}

impl Selected {
    /// The read [`Selection`] of exactly the selected lines.
    pub fn selection(&self) -> Result<Selection, LineMatchError> {
        let filter = LineFilter {
            grep: self.grep.clone(),
            regex: self.regex.clone(),
            ignore_case: self.ignore_case,
            invert: false,
        };
        Ok(Selection {
            pods: self.run.iter().cloned().collect(),
            container: self.container.clone(),
            stream: self.stream.clone(),
            since: self.since,
            until: self.until,
            lines: if filter.is_empty() {
                None
            } else {
                Some(LineMatch::new(&filter)?)
            },
            ..Selection::default()
        })
    }
}

/// How much a request reaches: counted when it is made, when the compactor
/// starts it and when its rewrite is done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    /// Selected lines, each once (as a read returns them).
    pub lines: u64,
    /// Bytes of their `log` text.
    pub bytes: u64,
    /// Stored objects holding at least one of them (a line held by a raw
    /// upload and by the chunk it was merged into counts in both).
    pub objects: u64,
}

/// `deletions/<tool>/<job>/<id>.json`: the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRequest {
    pub version: u32,
    pub id: String,
    pub tool: String,
    pub job: String,
    pub selected: Selected,
    /// The caller, as the service named them.
    pub requested_by: String,
    pub requested_ns: u64,
    /// When the compactor may apply it; until then it can be cancelled.
    pub due_ns: u64,
    /// What the selection held when it was asked.
    pub affected: Affected,
}

/// Who won the request's fate: the first to create the decision document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Withdrawn by a caller: its lines show again.
    Cancel,
    /// Taken by the compactor: no longer cancellable.
    Apply,
}

/// `deletions/<tool>/<job>/<id>.decision.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub version: u32,
    pub id: String,
    pub verdict: Verdict,
    pub by: String,
    pub at_ns: u64,
    /// What the request selected when the compactor took it (an apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected: Option<Affected>,
}

/// `deletions/<tool>/<job>/<id>.rewritten.json` and `….applied.json`: what
/// the compactor removed, and when. Once rewritten, no object the job's
/// index names holds a selected line; once applied, the replaced objects
/// are deleted too (a grace period later, for reads that were under way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub version: u32,
    pub id: String,
    pub at_ns: u64,
    pub removed: Affected,
    /// Objects the rewrite replaced (deleted after the grace period).
    #[serde(default)]
    pub replaced: u64,
}

/// Where a request is (in the order a request goes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionState {
    /// Stored; its lines are hidden; it can still be cancelled.
    Pending,
    /// Cancelled before it was applied: nothing changed.
    Cancelled,
    /// The compactor has started; its lines stay hidden.
    Applying,
    /// Every object that held its lines is gone.
    Applied,
}

/// A request with the documents written about it so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionStatus {
    pub request: DeletionRequest,
    pub decision: Option<Decision>,
    pub rewritten: Option<Outcome>,
    pub applied: Option<Outcome>,
}

impl DeletionStatus {
    pub fn state(&self) -> DeletionState {
        match &self.decision {
            None => DeletionState::Pending,
            Some(d) if d.verdict == Verdict::Cancel => DeletionState::Cancelled,
            Some(_) if self.applied.is_some() => DeletionState::Applied,
            Some(_) => DeletionState::Applying,
        }
    }

    /// Whether reads hide its lines: from the moment it is stored until it
    /// is cancelled. An applied request still hides: a raw upload Fluent
    /// Bit retries late may bring its lines back.
    pub fn hides(&self) -> bool {
        self.state() != DeletionState::Cancelled
    }

    /// Whether the compactor removes its lines when it merges.
    pub fn removes(&self) -> bool {
        matches!(
            self.state(),
            DeletionState::Applying | DeletionState::Applied
        )
    }

    /// Whether the job index's counts may still include its lines: every
    /// hiding request until its rewrite is done.
    pub fn in_index(&self) -> bool {
        self.hides() && self.rewritten.is_none()
    }
}

/// A request compiled for matching records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub id: String,
    pub selection: Selection,
}

impl Tombstone {
    pub fn new(request: &DeletionRequest) -> Result<Tombstone, LineMatchError> {
        Ok(Tombstone {
            id: request.id.clone(),
            selection: request.selected.selection()?,
        })
    }

    pub fn hides(&self, r: &LogRecord) -> bool {
        self.selection.accepts(r)
    }

    /// Whether it may select a line in `[since, until)`.
    pub fn overlaps(&self, since: u64, until: u64) -> bool {
        self.selection.since.is_none_or(|s| s < until)
            && self.selection.until.is_none_or(|u| u > since)
    }
}

/// The requests a read hides lines of: cheap to clone, empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones(Option<Arc<[Tombstone]>>);

impl Tombstones {
    pub fn new(mut all: Vec<Tombstone>) -> Tombstones {
        if all.is_empty() {
            return Tombstones(None);
        }
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all.dedup_by(|a, b| a.id == b.id);
        Tombstones(Some(all.into()))
    }

    /// Compiles the requests of `statuses` that `keep` keeps. A request
    /// whose line filter no longer compiles (a newer regex syntax) hides
    /// everything in its time range rather than nothing: it errs on the
    /// side of the secret. Its id is returned to be warned about.
    pub fn compile<'a>(
        statuses: impl IntoIterator<Item = &'a DeletionStatus>,
        keep: impl Fn(&DeletionStatus) -> bool,
    ) -> (Tombstones, Vec<String>) {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for s in statuses.into_iter().filter(|s| keep(s)) {
            match Tombstone::new(&s.request) {
                Ok(t) => out.push(t),
                Err(_) => {
                    bad.push(s.request.id.clone());
                    let mut lax = s.request.selected.clone();
                    lax.grep.clear();
                    lax.regex = None;
                    if let Ok(selection) = lax.selection() {
                        out.push(Tombstone {
                            id: s.request.id.clone(),
                            selection,
                        });
                    }
                }
            }
        }
        (Tombstones::new(out), bad)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tombstone> {
        self.0.iter().flat_map(|a| a.iter())
    }

    pub fn hides(&self, r: &LogRecord) -> bool {
        self.iter().any(|t| t.hides(r))
    }

    /// Both sets together.
    pub fn with(&self, other: &Tombstones) -> Tombstones {
        match (&self.0, &other.0) {
            (_, None) => self.clone(),
            (None, _) => other.clone(),
            _ => Tombstones::new(self.iter().chain(other.iter()).cloned().collect()),
        }
    }

    /// Whether one of them may select a line in `[since, until)`.
    pub fn overlaps(&self, since: u64, until: u64) -> bool {
        self.iter().any(|t| t.overlaps(since, until))
    }
}

/// The documents of requests as listed from a store, put together into
/// one status per request: what a store's listing of `deletions/` (or the
/// JavaScript adapter's caller) hands over.
#[derive(Debug, Default)]
pub struct Documents {
    by_request: BTreeMap<(String, String, String), Parts>,
}

#[derive(Debug, Default)]
struct Parts {
    request: Option<(String, Vec<u8>)>,
    decision: Option<(String, Vec<u8>)>,
    rewritten: Option<(String, Vec<u8>)>,
    applied: Option<(String, Vec<u8>)>,
}

impl Documents {
    /// Takes the document stored at `key` (from the layout's root). A key
    /// that is not a request's document is refused with the reason.
    pub fn add(&mut self, key: &str, body: &[u8]) -> Result<(), String> {
        let Some((tool, job, id, part)) = parse_deletion_key(key) else {
            return Err(format!("{key}: not a deletion request's document; ignored"));
        };
        let parts = self.by_request.entry((id, tool, job)).or_default();
        let slot = match part {
            DeletionPart::Request => &mut parts.request,
            DeletionPart::Decision => &mut parts.decision,
            DeletionPart::Rewritten => &mut parts.rewritten,
            DeletionPart::Applied => &mut parts.applied,
        };
        *slot = Some((key.to_string(), body.to_vec()));
        Ok(())
    }

    /// The requests, oldest first, and why any could not be used (a
    /// request whose own document is unreadable hides nothing; one whose
    /// later documents are unreadable is taken as it was before them).
    pub fn statuses(self) -> (Vec<DeletionStatus>, Vec<String>) {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for ((id, tool, job), parts) in self.by_request {
            let Some((key, body)) = parts.request else {
                bad.push(format!(
                    "deletion {id} of {tool}/{job}: documents without the request; ignored"
                ));
                continue;
            };
            let request = match parse::<DeletionRequest>(&key, &body) {
                Ok(r) if r.id == id && r.tool == tool && r.job == job => r,
                Ok(_) => {
                    bad.push(format!("{key}: names another request; it hides nothing"));
                    continue;
                }
                Err(why) => {
                    bad.push(format!("{why}; it hides nothing"));
                    continue;
                }
            };
            let decision: Option<Decision> = later(parts.decision, &mut bad);
            let rewritten: Option<Outcome> = later(parts.rewritten, &mut bad);
            let applied: Option<Outcome> = later(parts.applied, &mut bad);
            out.push(DeletionStatus {
                request,
                decision,
                rewritten,
                applied,
            });
        }
        (out, bad)
    }
}

fn later<T: DeserializeOwned + Versioned>(
    slot: Option<(String, Vec<u8>)>,
    bad: &mut Vec<String>,
) -> Option<T> {
    let (key, body) = slot?;
    parse(&key, &body).map_err(|w| bad.push(w)).ok()
}

fn parse<T: DeserializeOwned + Versioned>(key: &str, body: &[u8]) -> Result<T, String> {
    let doc: T = serde_json::from_slice(body).map_err(|e| format!("{key}: {e}"))?;
    if doc.version() != DELETION_VERSION {
        return Err(format!("{key}: version {} not understood", doc.version()));
    }
    Ok(doc)
}

trait Versioned {
    fn version(&self) -> u32;
}

impl Versioned for DeletionRequest {
    fn version(&self) -> u32 {
        self.version
    }
}
impl Versioned for Decision {
    fn version(&self) -> u32 {
        self.version
    }
}
impl Versioned for Outcome {
    fn version(&self) -> u32 {
        self.version
    }
}

/// `deletions/<tool>/<job>/<file>` → its decoded names, id and part.
pub fn parse_deletion_key(key: &str) -> Option<(String, String, String, DeletionPart)> {
    let rest = key.strip_prefix(layout::DELETIONS)?.strip_prefix('/')?;
    let mut it = rest.split('/');
    let (tool, job, file) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let (id, part) = layout::parse_deletion_file(file)?;
    Some((
        keys::decode(tool).ok()?,
        keys::decode(job).ok()?,
        id.to_string(),
        part,
    ))
}

/// One status per request id, from the copies several stores hold: a
/// request hides if any copy hides (a cancel that raced another store's
/// compactor lost there), and is as far along as the furthest such copy.
pub fn fold_copies<'a>(
    copies: impl IntoIterator<Item = &'a DeletionStatus>,
) -> Vec<DeletionStatus> {
    let mut by_id: BTreeMap<(&str, &str, &str), &DeletionStatus> = BTreeMap::new();
    for d in copies {
        let r = &d.request;
        let key = (r.id.as_str(), r.tool.as_str(), r.job.as_str());
        let better = by_id
            .get(&key)
            .is_none_or(|have| (d.hides(), d.state()) > (have.hides(), have.state()));
        if better {
            by_id.insert(key, d);
        }
    }
    by_id.into_values().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ts: u64, pod: &str, stream: &str, log: &str) -> LogRecord {
        let line = serde_json::json!({
            "ts": ts, "stream": stream, "log": log,
            "afterlog": {"pod": pod, "container": "job", "container_id": "c1"},
        });
        LogRecord::parse(line.to_string()).expect("a record")
    }

    fn status(selected: Selected, verdict: Option<Verdict>, applied: bool) -> DeletionStatus {
        let request = DeletionRequest {
            version: DELETION_VERSION,
            id: "00000000000000000001-0000000000000001".into(),
            tool: "t".into(),
            job: "j".into(),
            selected,
            requested_by: "alice".into(),
            requested_ns: 1,
            due_ns: 2,
            affected: Affected::default(),
        };
        let outcome = Outcome {
            version: DELETION_VERSION,
            id: request.id.clone(),
            at_ns: 3,
            removed: Affected::default(),
            replaced: 0,
        };
        DeletionStatus {
            decision: verdict.map(|verdict| Decision {
                version: DELETION_VERSION,
                id: request.id.clone(),
                verdict,
                by: "x".into(),
                at_ns: 2,
                affected: None,
            }),
            rewritten: applied.then(|| outcome.clone()),
            applied: applied.then_some(outcome),
            request,
        }
    }

    #[test]
    fn states_follow_the_documents() {
        let s = |v, a| status(Selected::default(), v, a).state();
        assert_eq!(s(None, false), DeletionState::Pending);
        assert_eq!(s(Some(Verdict::Cancel), false), DeletionState::Cancelled);
        assert_eq!(s(Some(Verdict::Apply), false), DeletionState::Applying);
        assert_eq!(s(Some(Verdict::Apply), true), DeletionState::Applied);
        let cancelled = status(Selected::default(), Some(Verdict::Cancel), false);
        assert!(!cancelled.hides() && !cancelled.removes());
        let pending = status(Selected::default(), None, false);
        assert!(pending.hides() && !pending.removes() && pending.in_index());
        let applied = status(Selected::default(), Some(Verdict::Apply), true);
        assert!(applied.hides() && applied.removes() && !applied.in_index());
    }

    #[test]
    fn a_tombstone_hides_exactly_its_selection() {
        let selected = Selected {
            run: Some("pod-1".into()),
            stream: Some("stderr".into()),
            since: Some(10),
            until: Some(20),
            grep: vec!["secret".into()],
            ignore_case: true,
            ..Selected::default()
        };
        let (t, bad) = Tombstones::compile([&status(selected, None, false)], DeletionStatus::hides);
        assert!(bad.is_empty());
        assert!(t.hides(&record(10, "pod-1", "stderr", "the SECRET is x")));
        assert!(!t.hides(&record(20, "pod-1", "stderr", "the secret is x")));
        assert!(!t.hides(&record(9, "pod-1", "stderr", "the secret is x")));
        assert!(!t.hides(&record(15, "pod-2", "stderr", "the secret is x")));
        assert!(!t.hides(&record(15, "pod-1", "stdout", "the secret is x")));
        assert!(!t.hides(&record(15, "pod-1", "stderr", "nothing here")));
        assert!(t.overlaps(19, 30) && !t.overlaps(20, 30) && !t.overlaps(0, 10));
    }

    #[test]
    fn cancelled_requests_hide_nothing_and_bad_filters_hide_their_range() {
        let cancelled = status(Selected::default(), Some(Verdict::Cancel), false);
        let (t, _) = Tombstones::compile([&cancelled], DeletionStatus::hides);
        assert!(t.is_empty());
        let odd = Selected {
            until: Some(100),
            regex: Some("(".into()),
            ..Selected::default()
        };
        let (t, bad) = Tombstones::compile([&status(odd, None, false)], DeletionStatus::hides);
        assert_eq!(bad.len(), 1);
        assert!(t.hides(&record(5, "p", "stdout", "anything")));
        assert!(!t.hides(&record(100, "p", "stdout", "anything")));
    }

    #[test]
    fn documents_make_statuses_and_refuse_strangers() {
        let s = status(Selected::default(), Some(Verdict::Cancel), false);
        let id = s.request.id.clone();
        let key = |part| layout::deletion_key("t", "j", &id, part);
        let mut docs = Documents::default();
        let req = serde_json::to_vec(&s.request).unwrap();
        docs.add(&key(DeletionPart::Request), &req).unwrap();
        let dec = serde_json::to_vec(s.decision.as_ref().unwrap()).unwrap();
        docs.add(&key(DeletionPart::Decision), &dec).unwrap();
        assert!(docs.add("deletions/t/j/notes.txt", b"x").is_err());
        assert!(docs.add("raw/t/j/p/c/x.gz", b"x").is_err());
        let (got, bad) = docs.statuses();
        assert!(bad.is_empty());
        assert_eq!(got, vec![s]);

        let mut docs = Documents::default();
        docs.add(&key(DeletionPart::Request), b"{not json").unwrap();
        docs.add(&key(DeletionPart::Applied), b"{}").unwrap();
        let (got, bad) = docs.statuses();
        assert!(got.is_empty());
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn copies_fold_to_the_furthest_hiding_state() {
        let pending = status(Selected::default(), None, false);
        let cancelled = status(Selected::default(), Some(Verdict::Cancel), false);
        let applied = status(Selected::default(), Some(Verdict::Apply), true);
        let state = |copies: &[&DeletionStatus]| {
            let folded = fold_copies(copies.iter().copied());
            assert_eq!(folded.len(), 1);
            folded[0].state()
        };
        assert_eq!(state(&[&cancelled, &pending]), DeletionState::Pending);
        assert_eq!(state(&[&pending, &cancelled]), DeletionState::Pending);
        assert_eq!(state(&[&pending, &applied]), DeletionState::Applied);
        assert_eq!(state(&[&cancelled, &cancelled]), DeletionState::Cancelled);
        let mut other = pending.clone();
        other.request.job = "k".into();
        assert_eq!(fold_copies([&pending, &other]).len(), 2, "by job too");
    }

    #[test]
    fn stored_documents_refuse_unknown_selection_fields() {
        let err = serde_json::from_str::<Selected>(r#"{"pod": "x"}"#);
        assert!(err.is_err());
        let back: Selected = serde_json::from_str(r#"{"grep": ["a"], "until": 5}"#).unwrap();
        assert_eq!(back.grep, vec!["a".to_string()]);
    }
}
