//! Field names of the record the filter emits and the reader parses
//! (docs/design.md §2). Changing one of these is a breaking change for stored data.

/// Event time, integer nanoseconds since the Unix epoch.
pub const TS: &str = "ts";
/// Byte offset of the record's last physical line in the container log file.
pub const OFF: &str = "off";
/// `stdout` or `stderr`.
pub const STREAM: &str = "stream";
/// The log line.
pub const LOG: &str = "log";
/// The object holding afterlog's labels.
pub const AFTERLOG: &str = "afterlog";

/// Fields of the input record the filter consumes and does not pass on.
pub const IN_TIME: &str = "time";
pub const IN_PARTIAL: &str = "_p";
pub const IN_KUBERNETES: &str = "kubernetes";

/// Keys inside the `afterlog` object.
pub mod label {
    pub const TOOL: &str = "tool";
    pub const JOB: &str = "job";
    pub const KIND: &str = "kind";
    pub const NAMESPACE: &str = "namespace";
    pub const POD: &str = "pod";
    pub const CONTAINER: &str = "container";
    pub const CONTAINER_ID: &str = "container_id";
    pub const NODE: &str = "node";
    /// `<class>.<tool>.<job>.<pod>.<container>`, key-encoded, for `rewrite_tag`.
    pub const ROUTE: &str = "route";
    /// The routing class (see [`crate::routing`]); absent in records written
    /// before classes existed, which are `default`.
    pub const CLASS: &str = "class";
    /// Set on marker and summary records, see [`super::event`].
    pub const EVENT: &str = "event";
    /// Set when the filter failed on a record and passed it on unchanged.
    pub const ERROR: &str = "error";
}

/// Values of `afterlog.event` and the fields that go with them.
pub mod event {
    /// The first record over a tool's budget is replaced by this marker.
    pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
    /// The first record admitted after a window with drops carries a summary.
    pub const QUOTA_DROPPED: &str = "quota_dropped";
    /// Marker: the budget in bytes per window.
    pub const LIMIT_BYTES: &str = "limit_bytes";
    /// Marker: the window length in seconds.
    pub const WINDOW_SECONDS: &str = "window_seconds";
    /// Marker: when the budget resets, ns since the epoch.
    pub const RESETS_AT: &str = "resets_at";
    /// Summary: records dropped (the record the marker replaced included).
    pub const DROPPED_RECORDS: &str = "dropped_records";
    /// Summary: bytes of the dropped records.
    pub const DROPPED_BYTES: &str = "dropped_bytes";
    /// Summary: event time of the first and last dropped record, ns.
    pub const DROPPED_FROM: &str = "dropped_from";
    pub const DROPPED_UNTIL: &str = "dropped_until";
}

/// A Kubernetes event stored in its job's log (docs/design.md §13).
pub mod k8s_event {
    /// The pseudo-container every event is stored under; also the pseudo-pod
    /// of events about objects above the pod (Job, CronJob, Deployment, …).
    pub const CONTAINER: &str = "@events";
    /// `stream` of an event, so that `stream=stdout|stderr` selects
    /// container lines only.
    pub const STREAM: &str = "event";
    /// The top-level object holding the event's own fields.
    pub const FIELD: &str = "k8s_event";
    /// Keys inside [`FIELD`].
    pub const TYPE: &str = "type";
    pub const REASON: &str = "reason";
    pub const MESSAGE: &str = "message";
    pub const COUNT: &str = "count";
    /// RFC 3339, as Kubernetes wrote them; `last` is the record's `ts`.
    pub const FIRST: &str = "first";
    pub const LAST: &str = "last";
    /// `{kind, name, namespace, uid, field_path}` of the involved object.
    pub const OBJECT: &str = "object";
    /// Keys inside [`OBJECT`].
    pub mod object {
        pub const KIND: &str = "kind";
        pub const NAME: &str = "name";
        pub const NAMESPACE: &str = "namespace";
        pub const UID: &str = "uid";
        pub const FIELD_PATH: &str = "field_path";
    }
    /// The reporting component (`kubelet`, `default-scheduler`, …).
    pub const SOURCE: &str = "source";
    /// The Event object's `metadata.uid`.
    pub const UID: &str = "uid";

    /// Members of the input record (the Event object as Kubernetes writes it).
    pub mod input {
        pub const INVOLVED_OBJECT: &str = "involvedObject";
        pub const METADATA: &str = "metadata";
    }
}

/// Values of `afterlog.kind`.
pub mod kind {
    pub const JOB: &str = "job";
    pub const CRONJOB: &str = "cronjob";
    pub const CONTINUOUS: &str = "continuous";
    pub const WEBSERVICE: &str = "webservice";
    pub const BUILD: &str = "build";
    pub const OTHER: &str = "other";
    /// Lines a tool pushed through the API itself.
    pub const CUSTOM: &str = "custom";
    /// Deploy and build events the platform pushed (admins only).
    pub const PLATFORM: &str = "platform";
}

/// The marker appended to a line cut at the line limit; `{}` is the number of
/// bytes cut.
pub fn truncation_marker(cut_bytes: usize) -> String {
    format!("…[truncated {cut_bytes} bytes]")
}
