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
    pub stream: Option<String>,
    /// RFC 3339 or ns since the epoch; default: when it was received.
    #[schema(value_type = Option<String>)]
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
