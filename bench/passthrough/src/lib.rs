//! Fluent Bit `wasm` filter (`event_format json`) that passes every record
//! on unchanged, without looking at it: Fluent Bit copies the record into
//! our memory NUL-terminated and `strdup`s whatever we return before freeing
//! its copy, so returning the very pointer we were given is valid.

/// An empty string: what we return if the host could not copy the record.
static EMPTY: [u8; 1] = [0];

#[unsafe(no_mangle)]
pub extern "C" fn passthrough(
    _tag: *const u8,
    _tag_len: u32,
    _sec: u32,
    _nsec: u32,
    record: *const u8,
    _record_len: u32,
) -> *const u8 {
    if record.is_null() {
        EMPTY.as_ptr()
    } else {
        record
    }
}
