//! Fluent Bit `wasm` filters that do nothing, for benchmark floors.
//! `passthrough` (`event_format json`) passes every record on unchanged,
//! without looking at it: Fluent Bit copies the record into
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

/// `{"log":"x"}` in msgpack, NUL-terminated: the msgpack mode's floor (the
/// call and Fluent Bit's re-packing of a tiny map, nothing else).
static TINY_MAP: [u8; 8] = [0x81, 0xa3, b'l', b'o', b'g', 0xa1, b'x', 0];

/// For `event_format msgpack`: answers every record with the same tiny map.
#[unsafe(no_mangle)]
pub extern "C" fn constant_map(
    _tag: *const u8,
    _tag_len: u32,
    _sec: u32,
    _nsec: u32,
    _record: *const u8,
    _record_len: u32,
) -> *const u8 {
    TINY_MAP.as_ptr()
}
