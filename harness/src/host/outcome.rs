//! What Fluent Bit does with a record after calling the filter, and how
//! filter_wasm.c judges what the filter returned.

/// What Fluent Bit does with one record after calling the filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The record is kept with this body: the JSON object text the filter
    /// returned (Fluent Bit re-packs it and keeps the original timestamp and
    /// metadata). Also used, with the original record, when a per-chunk
    /// instantiation fails: old Fluent Bit then passes the chunk untouched.
    Kept(String),
    /// The record is gone.
    Dropped(Drop),
}

impl Outcome {
    /// The kept JSON text, if the record was kept.
    pub fn kept(&self) -> Option<&str> {
        match self {
            Outcome::Kept(s) => Some(s),
            Outcome::Dropped(_) => None,
        }
    }

    /// The kept record parsed, if it was kept (it always parses: only JSON
    /// objects are kept).
    pub fn json(&self) -> Option<serde_json::Value> {
        self.kept().and_then(|s| serde_json::from_str(s).ok())
    }

    /// Why the record was dropped, if it was.
    pub fn dropped(&self) -> Option<&Drop> {
        match self {
            Outcome::Kept(_) => None,
            Outcome::Dropped(d) => Some(d),
        }
    }
}

/// Why Fluent Bit dropped a record. All of these lose the record; only
/// [`Drop::Empty`] is a deliberate way for a filter to drop one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drop {
    /// The filter returned pointer 0. (WAMR itself does not special-case
    /// 0: it is a valid address, so Fluent Bit reads the string at address
    /// 0 of linear memory, normally zero bytes, i.e. an empty string that
    /// is dropped as well.)
    Null,
    /// The pointer is outside linear memory, or no NUL follows it before
    /// the end of memory (`wasm_runtime_validate_app_str_addr` fails).
    InvalidPointer,
    /// The call trapped (unreachable / Rust panic with `panic=abort`, out of
    /// bounds, stack overflow, `proc_exit`, fuel exhausted ...). The text is
    /// the trap reason and the wasm backtrace.
    Trap(String),
    /// The filter returned "" (Fluent Bit: "returned empty string. Skip.").
    Empty,
    /// The string is not a JSON object (or not UTF-8); Fluent Bit logs
    /// "invalid JSON format" and drops it. The text is what was returned
    /// (lossily decoded).
    NotObject(String),
}

/// filter_wasm.c's judgement of a returned pointer, given linear memory.
pub(super) fn judge(mem: &[u8], ptr: u32) -> Outcome {
    if ptr == 0 {
        return Outcome::Dropped(Drop::Null);
    }
    let start = ptr as usize;
    if start >= mem.len() {
        return Outcome::Dropped(Drop::InvalidPointer);
    }
    let Some(n) = mem[start..].iter().position(|&b| b == 0) else {
        return Outcome::Dropped(Drop::InvalidPointer);
    };
    let bytes = &mem[start..start + n];
    if bytes.is_empty() {
        return Outcome::Dropped(Drop::Empty);
    }
    // Fluent Bit's jsmn parser would take non-UTF-8 bytes; a filter that
    // emits them has a bug all the same, so they count as not an object.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Outcome::Dropped(Drop::NotObject(String::from_utf8_lossy(bytes).into_owned()));
    };
    if is_json_object(text) {
        Outcome::Kept(text.to_owned())
    } else {
        Outcome::Dropped(Drop::NotObject(text.to_owned()))
    }
}

/// Whether `text` is exactly one JSON object (surrounding whitespace
/// allowed), checked without building a value tree.
fn is_json_object(text: &str) -> bool {
    text.trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}
