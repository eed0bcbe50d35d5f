//! The JavaScript `MergeOptions`: what a `Merger` selects, and whether it
//! is lenient.

use crate::error::AdapterError;
use afterlog_contract::query::{Events, Stream};
use afterlog_contract::time::parse_rfc3339_nanos;
use afterlog_reader::deletion::{DeletionStatus, Documents, Tombstones};
use afterlog_reader::{Limit, Selection};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

const OPTIONS: [&str; 10] = [
    "pods",
    "container",
    "stream",
    "events",
    "since",
    "until",
    "head",
    "tail",
    "lenient",
    "deletions",
];

pub(crate) fn time_value(name: &str, v: &JsValue) -> Result<u64, AdapterError> {
    let bad = |why: &str| AdapterError::option(name, why.to_string());
    if v.is_bigint() {
        return u64::try_from(v.clone()).map_err(|_| bad("a bigint outside 0..2^64"));
    }
    if let Some(s) = v.as_string() {
        let s = s.trim();
        if let Some(t) = parse_rfc3339_nanos(s.as_bytes()) {
            return Ok(t);
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().map_err(|_| bad("more nanoseconds than 2^64"));
        }
    }
    Err(bad(
        "expected a bigint of nanoseconds since the epoch or an RFC 3339 string",
    ))
}

fn count_value(name: &str, v: &JsValue) -> Result<usize, AdapterError> {
    match v.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX) => Ok(n as usize),
        _ => Err(AdapterError::option(name, "expected a whole number ≥ 0")),
    }
}

fn string_value(name: &str, v: &JsValue) -> Result<String, AdapterError> {
    v.as_string()
        .ok_or_else(|| AdapterError::option(name, "expected a string"))
}

/// The job's deletion requests: their documents by key, as listed under
/// `deletions/<tool>/<job>/`. Their lines are hidden as the service hides
/// them. Strict: a document that cannot be used throws; lenient: it is
/// reported (a request without a usable request document hides nothing).
fn deletions(v: &JsValue, lenient: bool) -> Result<(Tombstones, Vec<String>), AdapterError> {
    let bad = |why: String| AdapterError::option("deletions", why);
    if !v.is_object() || Array::is_array(v) {
        return Err(bad(
            "expected an object of document texts by key (deletions/<tool>/<job>/…)".into(),
        ));
    }
    let obj = Object::from(v.clone());
    let mut docs = Documents::default();
    let mut warnings = Vec::new();
    for k in Object::keys(&obj).iter() {
        let key = k.as_string().unwrap_or_default();
        let text = Reflect::get(&obj, &k)
            .ok()
            .and_then(|t| t.as_string())
            .ok_or_else(|| bad(format!("{key}: expected the document's JSON text")))?;
        if let Err(why) = docs.add(&key, text.as_bytes()) {
            warnings.push(why);
        }
    }
    let (statuses, unusable) = docs.statuses();
    warnings.extend(unusable);
    let (hidden, uncompiled) = Tombstones::compile(&statuses, DeletionStatus::hides);
    warnings.extend(uncompiled.into_iter().map(|id| {
        format!("deletion {id}: its line filter does not compile here; every line of its range is hidden")
    }));
    match warnings.first() {
        Some(w) if !lenient => Err(bad(w.clone())),
        _ => Ok((hidden, warnings)),
    }
}

/// Reads MergeOptions; unknown names are errors (a typo must not select
/// everything silently). Returns the selection, whether lenient, and
/// warnings a lenient merger reports.
pub(crate) fn parse(v: &JsValue) -> Result<(Selection, bool, Vec<String>), AdapterError> {
    let mut f = Selection::default();
    if v.is_undefined() || v.is_null() {
        return Ok((f, false, Vec::new()));
    }
    if !v.is_object() {
        return Err(AdapterError::option("options", "expected an object"));
    }
    let obj = Object::from(v.clone());
    for k in Object::keys(&obj).iter() {
        let k = k.as_string().unwrap_or_default();
        if !OPTIONS.contains(&k.as_str()) {
            return Err(AdapterError::option(
                k,
                format!("unknown; expected one of {}", OPTIONS.join(", ")),
            ));
        }
    }
    let get = |name: &str| -> Option<JsValue> {
        Reflect::get(&obj, &JsValue::from_str(name))
            .ok()
            .filter(|x| !x.is_undefined() && !x.is_null())
    };
    if let Some(p) = get("pods") {
        if !Array::is_array(&p) {
            return Err(AdapterError::option("pods", "expected an array of strings"));
        }
        for x in Array::from(&p).iter() {
            f.pods.push(string_value("pods", &x)?);
        }
    }
    f.container = get("container")
        .map(|c| string_value("container", &c))
        .transpose()?;
    if let Some(s) = get("stream") {
        let s = string_value("stream", &s)?;
        let stream: Stream = s.parse().map_err(|_| {
            AdapterError::option(
                "stream",
                format!("{s:?}: expected \"stdout\" or \"stderr\""),
            )
        })?;
        f.stream = Some(stream.to_string());
    }
    if let Some(e) = get("events") {
        let e = string_value("events", &e)?;
        f.events = e.parse::<Events>().map_err(|_| {
            AdapterError::option(
                "events",
                format!("{e:?}: expected \"include\", \"only\" or \"none\""),
            )
        })?;
    }
    f.since = get("since").map(|t| time_value("since", &t)).transpose()?;
    f.until = get("until").map(|t| time_value("until", &t)).transpose()?;
    if let (Some(s), Some(u)) = (f.since, f.until)
        && s >= u
    {
        return Err(AdapterError::option("since", "must be before until"));
    }
    f.limit = match (get("head"), get("tail")) {
        (Some(_), Some(_)) => {
            return Err(AdapterError::option(
                "head",
                "head and tail exclude each other",
            ));
        }
        (Some(h), None) => Limit::Head(count_value("head", &h)?),
        (None, Some(t)) => Limit::Tail(count_value("tail", &t)?),
        (None, None) => Limit::All,
    };
    let lenient = match get("lenient") {
        None => false,
        Some(l) => l
            .as_bool()
            .ok_or_else(|| AdapterError::option("lenient", "expected a boolean"))?,
    };
    let mut warnings = Vec::new();
    if let Some(d) = get("deletions") {
        let (hidden, w) = deletions(&d, lenient)?;
        f.hidden = hidden;
        warnings = w;
    }
    Ok((f, lenient, warnings))
}
