//! One instance of the module: where the host puts the tag and the record,
//! the call, and the traps.

use super::outcome::{Drop, Outcome, judge};
use super::{FUEL_PER_CALL, PAGE};
use wasmtime::{Instance, Memory, Store, TypedFunc, WasmBacktrace};

/// The signature Fluent Bit calls: six i32 in, one i32 (a pointer) out.
pub(super) type FilterFn = TypedFunc<(i32, i32, i32, i32, i32, i32), i32>;
use wasmtime_wasi::p1::WasiP1Ctx;

/// Store data: the WASI context of one instance.
pub(super) struct Guest {
    pub(super) wasi: WasiP1Ctx,
}

/// One instantiated module with everything `call` needs cached.
pub(super) struct Live {
    pub(super) store: Store<Guest>,
    pub(super) func: FilterFn,
    pub(super) memory: Memory,
    pub(super) heap: Heap,
    pub(super) fuel: bool,
}

/// Where the host puts the tag and the record for a call.
pub(super) enum Heap {
    /// The emulated WAMR app heap: pages the host grew itself at the end of
    /// linear memory, `[base, base + len)`. The guest's own allocator never
    /// touches pages it did not grow. Both buffers are freed after every
    /// call, so allocation is a bump from `base` that resets per call.
    Region { base: usize, len: usize },
    /// The module exports `malloc`/`free`: WAMR disables its app heap and
    /// allocates through them.
    Exported {
        malloc: TypedFunc<i32, i32>,
        free: TypedFunc<i32, ()>,
    },
}

impl Live {
    /// One `flb_wasm_call_function_format_json` plus filter_wasm.c's
    /// judgement of the result.
    pub(super) fn call(&mut self, tag: &[u8], sec: u32, nsec: u32, record: &[u8]) -> Outcome {
        self.raw(tag, sec, nsec, record, |mem, result| match result {
            Err(e) => Outcome::Dropped(Drop::Trap(trap_text(&e))),
            Ok(ptr) => judge(mem, ptr as u32),
        })
    }

    /// The call itself: copy in, call, let `read` look at the result while
    /// the buffers are still in place, free.
    pub(super) fn raw<T>(
        &mut self,
        tag: &[u8],
        sec: u32,
        nsec: u32,
        record: &[u8],
        read: impl FnOnce(&[u8], wasmtime::Result<i32>) -> T,
    ) -> T {
        let (tag_ptr, rec_ptr) = self.dup(tag, record);
        // Each entry gets the full budget; a trap below leaves the instance
        // in place, as WAMR does.
        if self.fuel {
            let _ = self.store.set_fuel(FUEL_PER_CALL);
        }
        let result = self.func.call(
            &mut self.store,
            (
                tag_ptr as i32,
                tag.len() as i32,
                sec as i32,
                nsec as i32,
                rec_ptr as i32,
                record.len() as i32,
            ),
        );
        let outcome = read(self.memory.data(&self.store), result);
        self.free(tag_ptr, tag.len(), rec_ptr, record.len());
        outcome
    }

    /// `wasm_runtime_module_dup_data` for the tag and then the record, each
    /// with its NUL. A failed allocation yields address 0, which WAMR would
    /// pass on to the function just the same.
    pub(super) fn dup(&mut self, tag: &[u8], record: &[u8]) -> (u32, u32) {
        match &mut self.heap {
            Heap::Region { base, len } => {
                let tag_size = (tag.len() + 1).next_multiple_of(8);
                let need = tag_size + record.len() + 1;
                if need > *len {
                    let end = self.memory.data_size(&self.store);
                    // Extend the region if it still ends memory, else (the
                    // guest grew memory since) start a new one at the new
                    // pages and abandon the old one.
                    let contiguous = *base + *len == end;
                    let missing = if contiguous { need - *len } else { need };
                    let pages = missing.div_ceil(PAGE);
                    match grow(&self.memory, &mut self.store, pages) {
                        Ok(at) if contiguous => {
                            debug_assert_eq!(at, end);
                            *len += pages * PAGE;
                        }
                        Ok(at) => {
                            *base = at;
                            *len = pages * PAGE;
                        }
                        Err(_) => return (0, 0),
                    }
                }
                let (b, t) = (*base, tag.len());
                let mem = self.memory.data_mut(&mut self.store);
                mem[b..b + t].copy_from_slice(tag);
                mem[b + t] = 0;
                let r = b + tag_size;
                mem[r..r + record.len()].copy_from_slice(record);
                mem[r + record.len()] = 0;
                (b as u32, r as u32)
            }
            Heap::Exported { malloc, .. } => {
                let malloc = malloc.clone();
                let mut put = |bytes: &[u8]| -> u32 {
                    if self.fuel {
                        let _ = self.store.set_fuel(FUEL_PER_CALL);
                    }
                    let Ok(p) = malloc.call(&mut self.store, (bytes.len() + 1) as i32) else {
                        return 0;
                    };
                    let p = p as u32 as usize;
                    let mem = self.memory.data_mut(&mut self.store);
                    if p == 0 || p + bytes.len() + 1 > mem.len() {
                        return 0;
                    }
                    mem[p..p + bytes.len()].copy_from_slice(bytes);
                    mem[p + bytes.len()] = 0;
                    p as u32
                };
                (put(tag), put(record))
            }
        }
    }

    /// `wasm_runtime_module_free` of both buffers after the call. The host
    /// region is poisoned (no NUL) so a guest that keeps pointers into the
    /// input past the call reads garbage instead of the old record.
    pub(super) fn free(&mut self, tag_ptr: u32, tag_len: usize, rec_ptr: u32, rec_len: usize) {
        match &self.heap {
            Heap::Region { .. } => {
                let mem = self.memory.data_mut(&mut self.store);
                for (p, n) in [(tag_ptr, tag_len), (rec_ptr, rec_len)] {
                    if p != 0 {
                        mem[p as usize..=p as usize + n].fill(0xA5);
                    }
                }
            }
            Heap::Exported { free, .. } => {
                let free = free.clone();
                for p in [tag_ptr, rec_ptr] {
                    if p != 0 {
                        if self.fuel {
                            let _ = self.store.set_fuel(FUEL_PER_CALL);
                        }
                        let _ = free.call(&mut self.store, p as i32);
                    }
                }
            }
        }
    }
}

/// A readable trap reason first, then the wasm backtrace if there is one.
pub(super) fn trap_text(e: &wasmtime::Error) -> String {
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return format!("proc_exit({})", exit.0);
    }
    const BT: &str = "error while executing at wasm backtrace";
    let reason: Vec<String> = e
        .chain()
        .map(|c| c.to_string())
        .filter(|c| !c.starts_with(BT))
        .collect();
    match e.downcast_ref::<WasmBacktrace>() {
        Some(bt) => format!("{}\n{bt}", reason.join(": ")),
        None => reason.join(": "),
    }
}

/// Grows `memory` by `pages` and returns the byte address of the new pages.
pub(super) fn grow(
    memory: &Memory,
    store: &mut Store<Guest>,
    pages: usize,
) -> anyhow::Result<usize> {
    let old = memory.grow(&mut *store, pages as u64)?;
    Ok(old as usize * PAGE)
}

/// An exported `() -> ()` function, as WAMR's `lookup_post_instantiate_func`
/// accepts (other types are ignored).
pub(super) fn unit_export(
    instance: &Instance,
    store: &mut Store<Guest>,
    name: &str,
) -> Option<TypedFunc<(), ()>> {
    instance.get_typed_func::<(), ()>(store, name).ok()
}
