//! The functions Fluent Bit calls. This is the only unsafe code: turning the
//! host's pointers into slices. Everything else is the safe [`Runtime`].
//!
//! Contract (docs/design.md §1): the host copies the tag and the record into our
//! memory NUL-terminated, calls us, `strdup`s the string we return and then
//! frees its copies. So a record passed on unchanged is returned as the very
//! pointer we were given, and a new record lives in the runtime's reused
//! buffer until the next call.

use crate::filter::Output;
use crate::runtime::Runtime;
use std::cell::RefCell;

thread_local! {
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

/// An empty string: the host drops the record.
static EMPTY: [u8; 1] = [0];

/// Fluent Bit's entry point, `event_format json` and `msgpack` alike.
#[unsafe(no_mangle)]
pub extern "C" fn afterlog_filter(
    tag: *const u8,
    tag_len: u32,
    sec: u32,
    nsec: u32,
    record: *const u8,
    record_len: u32,
) -> *const u8 {
    let input: &[u8] = if record.is_null() {
        &[]
    } else {
        // SAFETY: the host placed `record_len` bytes (plus a NUL) at `record`
        // in our linear memory and keeps them until we return.
        unsafe { std::slice::from_raw_parts(record, record_len as usize) }
    };
    RUNTIME.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return record;
        };
        let rt = slot.get_or_insert_with(|| Runtime::open(&preopened_dirs(), now_ns));
        rt.set_tag(if tag.is_null() {
            &[]
        } else {
            // SAFETY: as for the record, `tag_len` bytes the host placed.
            unsafe { std::slice::from_raw_parts(tag, tag_len as usize) }
        });
        // `event_format: msgpack` passes the record as a msgpack map, whose
        // first byte (0x80–0x8f, 0xde, 0xdf) never starts JSON text (ASCII
        // there): one export serves both modes. What does not parse as
        // msgpack is the JSON mode's, garbage included, kept as an error
        // record there.
        if input
            .first()
            .is_some_and(|&b| matches!(b, 0x80..=0x8f | 0xde | 0xdf))
        {
            match rt.process_msgpack(sec, nsec, input) {
                Some(Output::Record(buf)) => return buf.as_ptr(),
                // NULL: "Skip record" in the msgpack mode.
                Some(Output::Unchanged | Output::Drop) => return std::ptr::null(),
                None => {}
            }
        }
        match rt.process(sec, nsec, input) {
            Output::Record(buf) => buf.as_ptr(),
            Output::Unchanged if record.is_null() => EMPTY.as_ptr(),
            Output::Unchanged => record,
            Output::Drop => EMPTY.as_ptr(),
        }
    })
}

/// WASI reactor initialisation, so WAMR knows this is a reactor and runs
/// static constructors once. The runtime itself starts on the first record.
#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the linker-generated constructor list, run once by the host.
    unsafe { __wasm_call_ctors() }
}

/// The directories the host preopened (Fluent Bit's `accessible_paths`), by
/// their names inside the guest.
pub fn preopened_dirs() -> Vec<std::path::PathBuf> {
    let mut dirs = Vec::new();
    // WASI numbers preopens from 3 upwards without gaps.
    for fd in 3..1024u32 {
        // SAFETY: plain WASI calls; the buffer is sized from the prestat.
        let Ok(stat) = (unsafe { wasi::fd_prestat_get(fd) }) else {
            break;
        };
        if stat.tag != wasi::PREOPENTYPE_DIR.raw() {
            continue;
        }
        let len = unsafe { stat.u.dir.pr_name_len };
        let mut name = vec![0u8; len];
        if unsafe { wasi::fd_prestat_dir_name(fd, name.as_mut_ptr(), len) }.is_ok() {
            while name.last() == Some(&0) {
                name.pop();
            }
            if let Ok(s) = String::from_utf8(name) {
                dirs.push(std::path::PathBuf::from(s));
            }
        }
    }
    dirs
}

/// Wall-clock time through WASI (the host may control it).
fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
