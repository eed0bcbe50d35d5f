//! What the filter must make of a tool's line (docs/design.md §2): the exact
//! `afterlog` labels object, and the fields of the record it emits.

use afterlog_contract::keys;
use afterlog_contract::record::{self as field, label};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// What the filter must derive for a tool's pod.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    pub tool: &'static str,
    pub job: &'static str,
    pub kind: &'static str,
    /// The routing class.
    pub class: &'static str,
}

impl Expect {
    /// In the default class.
    pub fn new(tool: &'static str, job: &'static str, kind: &'static str) -> Expect {
        Expect {
            tool,
            job,
            kind,
            class: "default",
        }
    }

    /// The `afterlog` object of an ordinary record of this container.
    pub fn labels(
        &self,
        namespace: &str,
        pod: &str,
        node: &str,
        container: &str,
        container_id: &str,
    ) -> Value {
        let route = [self.class, self.tool, self.job, pod, container]
            .map(keys::encode)
            .join(".");
        json!({
            label::TOOL: self.tool,
            label::JOB: self.job,
            label::KIND: self.kind,
            label::NAMESPACE: namespace,
            label::POD: pod,
            label::CONTAINER: container,
            label::CONTAINER_ID: container_id,
            label::NODE: node,
            label::ROUTE: route,
            label::CLASS: self.class,
        })
    }
}

/// The fields of an ordinary record the filter emits.
pub fn record_fields() -> BTreeSet<&'static str> {
    [
        field::TS,
        field::OFF,
        field::STREAM,
        field::LOG,
        field::AFTERLOG,
    ]
    .into()
}

/// The field names of `record`, an object.
pub fn field_names(record: &Value) -> BTreeSet<&str> {
    let fields = record.as_object();
    let fields = fields.unwrap_or_else(|| panic!("not an object: {record}"));
    fields.keys().map(String::as_str).collect()
}
