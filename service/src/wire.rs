//! The API's JSON bodies, as the service writes them and its clients (the
//! CLI) read them: one definition for both ends. Every body carries the
//! envelope of docs/design.md §6, `{"messages": {"info": [], "warning": [],
//! "error": []}, …}`, errors too.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What the service has to tell the client besides the data.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Messages {
    pub info: Vec<String>,
    pub warning: Vec<String>,
    pub error: Vec<String>,
}

impl Messages {
    pub fn warnings(warning: Vec<String>) -> Messages {
        Messages {
            warning,
            ..Messages::default()
        }
    }

    pub fn info(info: Vec<String>) -> Messages {
        Messages {
            info,
            ..Messages::default()
        }
    }

    pub fn errors(error: Vec<String>) -> Messages {
        Messages {
            error,
            ..Messages::default()
        }
    }
}

// Also the line a stream ends with when it has something to say besides
// its records.
/// The body of every error response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub messages: Messages,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub messages: Messages,
    /// `ok`.
    pub status: String,
}

/// A job, from the listing of its objects.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobInfo {
    pub job: String,
    /// `job`, `cronjob`, `continuous`, `webservice`, `build`, `custom`, …
    pub kind: Option<String>,
    /// `active` if logs arrived recently, else `archived`.
    pub status: String,
    /// RFC 3339, from object keys (raw keys give whole seconds).
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    pub runs: usize,
    /// Compressed bytes stored.
    pub stored_bytes: u64,
    pub objects: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobsResponse {
    pub messages: Messages,
    pub jobs: Vec<JobInfo>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContainerInfo {
    pub name: String,
    /// Each id is one container instance: a restart adds one.
    pub container_ids: Vec<String>,
}

/// One run (pod) of a job.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunInfo {
    pub pod: String,
    pub node: Option<String>,
    pub containers: Vec<ContainerInfo>,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    pub stored_bytes: u64,
    pub objects: u64,
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobDetail {
    pub job: String,
    pub kind: Option<String>,
    pub status: String,
    pub runs: Vec<RunInfo>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobResponse {
    pub messages: Messages,
    pub job: JobDetail,
    /// Pass as `cursor` for the next (older) runs; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobUsage {
    pub job: String,
    pub stored_bytes: u64,
    pub objects: u64,
    /// Stored bytes by routing class (only classes that hold some).
    pub classes: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageResponse {
    pub messages: Messages,
    pub jobs: Vec<JobUsage>,
    pub total_bytes: u64,
    /// `total_bytes` by routing class (only classes that hold some).
    pub classes: BTreeMap<String, u64>,
}

/// One record as JSON pages show it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    /// RFC 3339 with nanoseconds.
    pub time: String,
    /// ns since the epoch.
    pub ts: u64,
    pub pod: String,
    pub container: String,
    pub stream: String,
    /// The line; for a quota event, what happened, in words.
    pub log: String,
    /// `quota_exceeded` or `quota_dropped` for the filter's quota events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// `quota_dropped`: what was dropped before this line, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_text: Option<String>,
    /// A Kubernetes event (container `@events`, stream `event`): its
    /// fields as stored — `type`, `reason`, `message`, `count`, `first`,
    /// `last`, `source`, `uid`, `object` (docs/design.md §13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub k8s_event: Option<serde_json::Value>,
    /// With `context`: a line around a match, not a match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub context: bool,
    /// With `context`: lines were left out before this one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_before: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogsResponse {
    pub messages: Messages,
    pub logs: Vec<LogLine>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A line a search found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchMatch {
    pub job: String,
    /// The run (pod) it came from.
    pub run: String,
    pub container: String,
    pub stream: String,
    /// RFC 3339 with nanoseconds.
    pub time: String,
    /// ns since the epoch.
    pub ts: u64,
    /// The line; for a quota event, what happened, in words.
    pub log: String,
    /// A Kubernetes event's fields as stored (see [`LogLine::k8s_event`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub k8s_event: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    pub messages: Messages,
    /// Newest or oldest first, as asked.
    pub matches: Vec<SearchMatch>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET …/jobs/{job}/volume`: a job's lines and bytes over time.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VolumeResponse {
    pub messages: Messages,
    /// The buckets' start (RFC 3339), a multiple of the step.
    pub since: String,
    /// The last bucket's end (RFC 3339).
    pub until: String,
    pub step_seconds: u64,
    /// Every step of `[since, until)`, oldest first, empty ones too.
    pub buckets: Vec<VolumeBucket>,
    /// The quota events in the window, by time.
    pub quota_events: Vec<VolumeQuotaEvent>,
    /// The runs with records in the window (or before and after it), by
    /// first record.
    pub runs: Vec<VolumeRun>,
}

/// One step's lines and bytes (of the `log` text) per stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VolumeBucket {
    /// RFC 3339.
    pub start: String,
    pub stdout_lines: u64,
    pub stdout_bytes: u64,
    pub stderr_lines: u64,
    pub stderr_bytes: u64,
    /// Kubernetes events (not in `stdout_*`).
    #[serde(default)]
    pub event_lines: u64,
    #[serde(default)]
    pub event_bytes: u64,
}

/// A quota event of the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VolumeQuotaEvent {
    /// RFC 3339 with nanoseconds.
    pub time: String,
    /// ns since the epoch.
    pub ts: u64,
    /// `quota_exceeded` (lines are dropped from here) or `quota_dropped`
    /// (lines are kept again; `records` and `bytes` were dropped).
    pub event: String,
    pub records: u64,
    pub bytes: u64,
}

/// A run's first and last record. A time before `since` or after `until`
/// says the run began before or ended after the window (it is exact
/// inside the window only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VolumeRun {
    /// The pod name.
    pub run: String,
    pub first_time: String,
    pub last_time: String,
}

/// One pushed line.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushedLine {
    pub log: String,
    /// `stdout` (default) or `stderr`.
    #[schema(schema_with = crate::api::openapi::pushed_stream)]
    pub stream: Option<String>,
    /// RFC 3339 or ns since the epoch; default: when it was received.
    #[schema(schema_with = crate::api::openapi::pushed_ts)]
    pub ts: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PushResponse {
    pub messages: Messages,
    /// Lines stored.
    pub lines: usize,
    /// The raw object they are in.
    pub key: String,
}

/// `POST …/jobs/{job}/deletions`: which lines of the job to remove. Every
/// field given must hold for a line to be selected; `{}` selects the whole
/// job up to now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletionBody {
    /// One run: a pod name, or `latest` for the run that started last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::api::openapi::nullable_name)]
    pub run: Option<String>,
    /// One container of the pod(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::api::openapi::nullable_name)]
    pub container: Option<String>,
    /// `stdout` or `stderr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::api::openapi::pushed_stream)]
    pub stream: Option<String>,
    /// Lines at or after: as a read's `since` (RFC 3339, ns since the
    /// epoch, or an age such as `2h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::api::openapi::nullable_time)]
    pub since: Option<String>,
    /// Lines before (same forms); never later than the request itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::api::openapi::nullable_time)]
    pub until: Option<String>,
    /// Text the line contains: one, or a list that must all occur.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::api::openapi::deletion_grep)]
    pub grep: Option<GrepTerms>,
    /// A regular expression the line matches (Rust `regex` syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::api::openapi::nullable_regex)]
    pub regex: Option<String>,
    /// `grep` and `regex` ignore case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::api::openapi::nullable_boolean)]
    pub ignore_case: Option<bool>,
    /// Only count what the request would select; store nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::api::openapi::nullable_boolean)]
    pub dry_run: Option<bool>,
}

/// `grep` of a deletion request: one term or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GrepTerms {
    One(String),
    Many(Vec<String>),
}

impl GrepTerms {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            GrepTerms::One(t) => vec![t],
            GrepTerms::Many(v) => v,
        }
    }
}

/// The lines a deletion request selects, as it stored them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeletionSelection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// RFC 3339 with nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// RFC 3339 with nanoseconds: the `until` given, or the request's own
    /// time if earlier (a request never selects lines written after it).
    pub until: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grep: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_case: bool,
}

/// Lines, bytes of their text, and stored objects holding them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeletionCounts {
    pub lines: u64,
    pub bytes: u64,
    /// A line held by a raw upload and by the object it was merged into
    /// counts in both.
    pub objects: u64,
}

/// A deletion request and how far it has gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeletionView {
    pub id: String,
    pub tool: String,
    pub job: String,
    /// `pending` (hidden; cancellable until `due_at`), `cancelled` (shown
    /// again), `applying` (the compactor is removing the lines) or
    /// `applied` (every object that held them is deleted).
    #[schema(schema_with = crate::api::openapi::deletion_state)]
    pub state: String,
    pub selection: DeletionSelection,
    pub requested_by: String,
    /// RFC 3339 with nanoseconds.
    pub requested_at: String,
    /// When the compactor may start removing the lines (RFC 3339).
    pub due_at: String,
    /// What the selection held when the request was made.
    pub affected: DeletionCounts,
    /// Who cancelled it, or which compactor started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// When the lines were gone from every object a read uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewritten_at: Option<String>,
    /// When the last object that held them was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    /// What the compactor removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<DeletionCounts>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletionResponse {
    pub messages: Messages,
    pub deletion: DeletionView,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletionsResponse {
    pub messages: Messages,
    /// Newest first.
    pub deletions: Vec<DeletionView>,
}

/// A dry run: what the request would select if it were made now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletionPreview {
    pub messages: Messages,
    pub selection: DeletionSelection,
    /// Lines already hidden by other requests are not counted.
    pub affected: DeletionCounts,
    /// When it would be due if it were made now (RFC 3339).
    pub due_at: String,
}
