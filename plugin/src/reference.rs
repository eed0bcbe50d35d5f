//! A straightforward implementation of the filter's record transformation on
//! `serde_json::Value`, which the lean [`crate::filter`] must agree with.
//! Too slow for Fluent Bit's interpreter; kept as the executable
//! specification for the equivalence tests (native and through the `.wasm`).
//! Quotas are left out: they are tested on their own.

use crate::config::Config;
use crate::labels::{Labeller, Labels, PodMeta};
use crate::routing::{Route, Router};
use afterlog_contract::k8s_event::{self as ev, Event};
use afterlog_contract::record::{self as field, k8s_event, label};
use afterlog_contract::time;
use serde_json::{Map, Value, json};

/// What the filter should do with a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// This record (for error records the message is replaced by `"*"`).
    Record(Value),
    /// The input passed on unchanged (after replacing invalid UTF-8).
    Unchanged,
    /// Dropped: a routing rule says the container is not collected.
    Dropped,
}

fn pod_meta(k8s: &Map<String, Value>) -> PodMeta {
    let s = |k: &str| {
        k8s.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let pairs = |k: &str| -> Vec<(String, String)> {
        match k8s.get(k) {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect(),
            _ => vec![],
        }
    };
    PodMeta {
        namespace: s("namespace_name"),
        pod: s("pod_name"),
        container: s("container_name"),
        container_id: s("docker_id"),
        node: s("host"),
        labels: pairs("labels"),
        annotations: pairs("annotations"),
    }
}

/// The error form of a record the filter cannot read.
pub fn error_record(record: &[u8]) -> Value {
    json!({ field::LOG: String::from_utf8_lossy(record), field::AFTERLOG: { label::ERROR: "*" } })
}

/// The expected output for `record` under `cfg` with no quota in the way.
pub fn expected(cfg: &Config, labeller: &Labeller, sec: u32, nsec: u32, record: &[u8]) -> Expected {
    let text = String::from_utf8_lossy(record);
    let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(&text) else {
        return Expected::Record(error_record(record));
    };
    if !obj.contains_key(field::IN_KUBERNETES)
        && obj
            .get(k8s_event::input::INVOLVED_OBJECT)
            .is_some_and(Value::is_object)
    {
        return expected_event(cfg, labeller, sec, nsec, record, &obj);
    }
    let Some(Value::Object(k8s)) = obj.get(field::IN_KUBERNETES) else {
        return Expected::Unchanged;
    };
    let meta = pod_meta(k8s);
    let Some(labels) = labeller.derive(&meta) else {
        return Expected::Unchanged;
    };
    let Ok(router) = Router::new(cfg) else {
        return Expected::Unchanged;
    };
    let class = match router.route(&meta, &labels) {
        Route::Drop => return Expected::Dropped,
        Route::Class(c) => c.clone(),
    };
    let line_limit = class.line_limit_bytes.unwrap_or(cfg.line_limit_bytes);
    let fallback = sec as u64 * 1_000_000_000 + nsec.min(999_999_999) as u64;
    let ts = obj
        .get(field::IN_TIME)
        .and_then(Value::as_str)
        .and_then(|t| time::parse_rfc3339_nanos(t.as_bytes()))
        .unwrap_or(fallback);
    for k in [
        field::IN_TIME,
        field::IN_PARTIAL,
        field::TS,
        field::AFTERLOG,
    ] {
        obj.remove(k);
    }
    if !cfg.keep_kubernetes {
        obj.remove(field::IN_KUBERNETES);
    }
    if let Some(Value::String(log)) = obj.get_mut(field::LOG) {
        cut(log, line_limit);
    }
    obj.insert(field::TS.into(), json!(ts));
    obj.insert(field::AFTERLOG.into(), afterlog(&labels, &class.name));
    Expected::Record(Value::Object(obj))
}

fn cut(text: &mut String, limit: usize) {
    if text.len() > limit {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let marker = field::truncation_marker(text.len() - cut);
        text.truncate(cut);
        text.push_str(&marker);
    }
}

fn afterlog(labels: &Labels, class: &str) -> Value {
    json!({
        label::TOOL: labels.tool,
        label::JOB: labels.job,
        label::KIND: labels.kind,
        label::NAMESPACE: labels.namespace,
        label::POD: labels.pod,
        label::CONTAINER: labels.container,
        label::CONTAINER_ID: labels.container_id,
        label::NODE: labels.node,
        label::ROUTE: labels.origin().class_route(class),
        label::CLASS: class,
    })
}

/// docs/design.md §13, member by member.
fn expected_event(
    cfg: &Config,
    labeller: &Labeller,
    sec: u32,
    nsec: u32,
    record: &[u8],
    obj: &Map<String, Value>,
) -> Expected {
    let e = Event::from_json(obj);
    let name = e.object.name.clone().unwrap_or_default();
    let mut meta = PodMeta {
        namespace: e.namespace.clone(),
        pod: name.clone(),
        container: k8s_event::CONTAINER.into(),
        container_id: e.uid.clone().unwrap_or_default(),
        node: e.node.clone(),
        labels: vec![],
        annotations: vec![],
    };
    let Some(mut labels) = labeller.derive(&meta) else {
        return Expected::Unchanged;
    };
    if e.problem().is_some() {
        return Expected::Record(error_record(record));
    }
    if e.object.kind.as_deref() == Some("Pod") {
        if labels.kind == "other"
            && let Some((job, kind)) = ev::pod_job_kind(&name)
        {
            labels.kind = kind.into();
            if labels.job == name {
                labels.job = job.into();
            }
        }
    } else {
        let (job, kind) = ev::object_job_kind(e.object.kind.as_deref().unwrap_or_default(), &name);
        labels.job = job.into();
        labels.kind = kind.into();
        labels.pod = k8s_event::CONTAINER.into();
    }
    meta.pod = labels.pod.clone();
    let Ok(router) = Router::new(cfg) else {
        return Expected::Unchanged;
    };
    let class = match router.route(&meta, &labels) {
        Route::Drop => return Expected::Dropped,
        Route::Class(c) => c.clone(),
    };
    let line_limit = class.line_limit_bytes.unwrap_or(cfg.line_limit_bytes);
    let fallback = sec as u64 * 1_000_000_000 + nsec.min(999_999_999) as u64;
    let mut log = e.log();
    cut(&mut log, line_limit);
    let mut fields = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            fields.insert(k.into(), v);
        }
    };
    put(k8s_event::TYPE, e.kind.clone().map(Value::from));
    put(k8s_event::REASON, e.reason.clone().map(Value::from));
    put(
        k8s_event::MESSAGE,
        e.message.clone().map(|mut m| {
            cut(&mut m, line_limit);
            Value::from(m)
        }),
    );
    put(k8s_event::COUNT, e.count.map(Value::from));
    put(k8s_event::FIRST, e.first.clone().map(Value::from));
    put(k8s_event::LAST, e.last.clone().map(Value::from));
    put(k8s_event::SOURCE, e.source.clone().map(Value::from));
    put(k8s_event::UID, e.uid.clone().map(Value::from));
    let o = &e.object;
    let object: Map<String, Value> = [
        (k8s_event::object::KIND, &o.kind),
        (k8s_event::object::NAME, &o.name),
        (k8s_event::object::NAMESPACE, &o.namespace),
        (k8s_event::object::UID, &o.uid),
        (k8s_event::object::FIELD_PATH, &o.field_path),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), Value::from(v.clone()?))))
    .collect();
    put(k8s_event::OBJECT, Some(Value::Object(object)));
    Expected::Record(json!({
        field::STREAM: k8s_event::STREAM,
        field::LOG: log,
        field::OFF: e.count.unwrap_or(1),
        field::TS: e.ts.unwrap_or(fallback),
        k8s_event::FIELD: fields,
        field::AFTERLOG: afterlog(&labels, &class.name),
    }))
}

/// Puts an actual output in the form [`expected`] returns, for comparison:
/// `None` for a record passed on unchanged, the parsed value otherwise
/// (with an error message replaced by `"*"`).
pub fn normalise(input: &[u8], output: Option<&[u8]>) -> Result<Expected, String> {
    let Some(out) = output else {
        return Ok(Expected::Unchanged);
    };
    let mut v: Value =
        serde_json::from_slice(out).map_err(|e| format!("output is not JSON: {e}"))?;
    if !v.is_object() {
        return Err("output is not an object".into());
    }
    if let Some(err) = v
        .get_mut(field::AFTERLOG)
        .and_then(|a| a.get_mut(label::ERROR))
    {
        *err = json!("*");
    }
    // Unchanged after a lossy UTF-8 repair comes back as a record.
    if std::str::from_utf8(input).is_err()
        && let Ok(orig) = serde_json::from_str::<Value>(&String::from_utf8_lossy(input))
        && orig == v
    {
        return Ok(Expected::Unchanged);
    }
    Ok(Expected::Record(v))
}
