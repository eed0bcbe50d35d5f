//! The JavaScript `MergeOptions`: what a `Merger` selects, and whether it
//! is lenient.

use crate::error::AdapterError;
use afterlog_contract::query::Stream;
use afterlog_contract::time::parse_rfc3339_nanos;
use afterlog_reader::{Limit, Selection};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

const OPTIONS: [&str; 8] = [
    "pods",
    "container",
    "stream",
    "since",
    "until",
    "head",
    "tail",
    "lenient",
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

/// Reads MergeOptions; unknown names are errors (a typo must not select
/// everything silently).
pub(crate) fn parse(v: &JsValue) -> Result<(Selection, bool), AdapterError> {
    let mut f = Selection::default();
    if v.is_undefined() || v.is_null() {
        return Ok((f, false));
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
    Ok((f, lenient))
}
