//! A wasmtime host that calls a filter module exactly the way Fluent Bit's
//! `filter_wasm` plugin does with `event_format json` (Fluent Bit 5.1.1,
//! WAMR underneath), so the filter can be tested without Fluent Bit.
//!
//! What is emulated, and where it comes from (`plugins/filter_wasm/filter_wasm.c`,
//! `src/wasm/flb_wasm.c`, WAMR's `wasm_runtime.c`):
//!
//! - The module is instantiated once at start-up and kept for every later
//!   chunk ([`Lifetime::Persistent`], Fluent Bit >= 4), or instantiated anew
//!   for every chunk and destroyed after it ([`Lifetime::PerChunk`], older
//!   releases).
//! - After instantiation WAMR runs the start function, then `_initialize`
//!   (only if the module imports WASI), `__post_instantiate`, and
//!   `__wasm_call_ctors` (only if it does *not* import WASI); each only when
//!   exported with type `() -> ()`.
//! - Per record: the tag and the JSON record are copied NUL-terminated into
//!   memory owned by the runtime (WAMR's app heap, not the module's
//!   allocator; but if the module exports `malloc(i32)->i32` and
//!   `free(i32)`, WAMR uses those instead), the function is called with
//!   `(tag, tag_len, sec, nsec, record, record_len)` (lengths without the
//!   NUL), the result is judged, and both buffers are freed.
//! - The result must be a pointer to a NUL-terminated string inside linear
//!   memory; Fluent Bit copies it at once. A trap, an invalid pointer, an
//!   empty string or anything but a JSON object drops the record (see
//!   [`Drop`]). A trap does not destroy the instance: the next record is
//!   called on the same instance, whatever state the trap left behind.
//! - WASI: `accessible_paths` are preopened read-write under the same path
//!   in the guest, no args, no env. Unresolvable imports only trap when
//!   called (WAMR links them lazily).
//! - Wasm features WAMR in Fluent Bit is built without (SIMD, threads, tail
//!   calls, memory64, GC, exceptions, ...) are disabled, so a module that
//!   needs them fails to load here as it would there.
//!
//! Added for tests: a controllable WASI clock ([`TestClock`]), captured
//! stdout/stderr, and a fuel budget per call so a runaway guest traps
//! instead of hanging the test.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, anyhow, bail};
use wasmtime::{
    Config, Engine, ExternType, Instance, InstancePre, Linker, Memory, Module, Store, TypedFunc,
    ValType, WasmBacktrace,
};
use wasmtime_wasi::cli::OutputFile;
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtxBuilder};

/// Fuel (roughly: wasm instructions) granted to every guest entry (one
/// record, or the start-up functions). Large enough for any sane record,
/// small enough that an infinite loop traps within a second or two.
pub const FUEL_PER_CALL: u64 = 1_000_000_000;

/// The wasm page size: linear memory only grows in these steps.
const PAGE: usize = 65_536;

/// The signature Fluent Bit calls: six i32 in, one i32 (a pointer) out.
type FilterFn = TypedFunc<(i32, i32, i32, i32, i32, i32), i32>;

/// How to run a filter module: what Fluent Bit's `[FILTER] name wasm`
/// section configures, plus the test clock and the instance lifetime of the
/// Fluent Bit release being emulated.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// `wasm_path`: the compiled module (`.wasm`, or `.wat` text for tests).
    pub wasm: PathBuf,
    /// `function_name`: the exported filter function.
    pub function: String,
    /// `accessible_paths`: directories preopened read-write for the guest,
    /// under the same path inside the guest as on the host.
    pub preopens: Vec<PathBuf>,
    /// The wall and monotonic clocks the guest sees through WASI.
    pub clock: TestClock,
    /// Which Fluent Bit instance lifetime to emulate.
    pub lifetime: Lifetime,
    /// Meter fuel so a runaway guest traps instead of hanging a test. Off
    /// only for benchmarks: metering slows the guest down noticeably.
    pub fuel: bool,
}

impl HostConfig {
    /// A config with no preopens, a clock at 2026-01-01T00:00:00Z and the
    /// Fluent Bit 5 lifetime: the usual starting point for a test.
    pub fn new(wasm: impl Into<PathBuf>, function: impl Into<String>) -> Self {
        HostConfig {
            wasm: wasm.into(),
            function: function.into(),
            preopens: Vec::new(),
            clock: TestClock::new(1_767_225_600 * 1_000_000_000),
            lifetime: Lifetime::Persistent,
            fuel: true,
        }
    }

    /// The release afterlog filter ([`release_wasm`], `afterlog_filter`)
    /// with the defaults of [`HostConfig::new`].
    pub fn release() -> Self {
        HostConfig::new(release_wasm(), "afterlog_filter")
    }
}

/// The instance lifetime of the Fluent Bit release being emulated; it
/// decides whether state kept in guest memory survives between chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Fluent Bit >= 4: instantiated once when the filter starts, kept
    /// until it stops (memory state persists across chunks).
    Persistent,
    /// Older Fluent Bit: a fresh instance for every chunk, destroyed after
    /// it (memory state is lost between chunks; only files survive).
    PerChunk,
}

/// A shared, settable clock for the guest's WASI `clock_time_get`, so tests
/// can move time deterministically. Clones share the same time.
///
/// The wall clock (`realtime`) is whatever was set; the monotonic clock
/// starts at 0 and moves forward with every forward move of the wall clock
/// (never backwards, as a monotonic clock must).
#[derive(Clone, Debug)]
pub struct TestClock(Arc<ClockState>);

#[derive(Debug)]
struct ClockState {
    wall: AtomicU64,
    mono: AtomicU64,
}

impl TestClock {
    /// A clock whose wall time is `unix_nanos` nanoseconds since the epoch.
    pub fn new(unix_nanos: u64) -> Self {
        TestClock(Arc::new(ClockState {
            wall: AtomicU64::new(unix_nanos),
            mono: AtomicU64::new(0),
        }))
    }

    /// Jumps the wall clock to `unix_nanos` (backwards too, like an NTP
    /// step); the monotonic clock only follows forward jumps.
    pub fn set(&self, unix_nanos: u64) {
        let old = self.0.wall.swap(unix_nanos, Ordering::SeqCst);
        if unix_nanos > old {
            self.0.mono.fetch_add(unix_nanos - old, Ordering::SeqCst);
        }
    }

    /// Moves both clocks forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.wall.fetch_add(by, Ordering::SeqCst);
        self.0.mono.fetch_add(by, Ordering::SeqCst);
    }

    /// The wall time the guest currently sees, in Unix nanoseconds.
    pub fn now(&self) -> u64 {
        self.0.wall.load(Ordering::SeqCst)
    }

    /// The monotonic time the guest currently sees, in nanoseconds.
    pub fn monotonic(&self) -> u64 {
        self.0.mono.load(Ordering::SeqCst)
    }
}

impl HostWallClock for TestClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_nanos(TestClock::now(self))
    }
}

/// The monotonic view of a [`TestClock`] (a separate type because both
/// clock traits have a `now` with different return types).
struct MonotonicView(TestClock);

impl HostMonotonicClock for MonotonicView {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.0.monotonic()
    }
}

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

/// One filter module run like Fluent Bit runs it; see the module docs.
pub struct FilterHost {
    cfg: HostConfig,
    pre: InstancePre<Guest>,
    /// The module imports WASI: WAMR then calls `_initialize`.
    imports_wasi: bool,
    live: Option<Live>,
    stdout: Capture,
    stderr: Capture,
}

/// Store data: the WASI context of one instance.
struct Guest {
    wasi: WasiP1Ctx,
}

/// One instantiated module with everything `call` needs cached.
struct Live {
    store: Store<Guest>,
    func: FilterFn,
    memory: Memory,
    heap: Heap,
    fuel: bool,
}

/// Where the host puts the tag and the record for a call.
enum Heap {
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

impl FilterHost {
    /// Compiles the module (once per process and file version, cached),
    /// checks it and, for [`Lifetime::Persistent`], instantiates it like
    /// Fluent Bit's filter init. Fails where Fluent Bit would fail to start,
    /// and also (unlike Fluent Bit, which would then drop every record) when
    /// `function` is not exported with the expected signature.
    pub fn new(cfg: HostConfig) -> anyhow::Result<Self> {
        let module = compiled(&cfg.wasm, cfg.fuel)?;
        let engine = module.engine().clone();
        check_signature(&module, &cfg.function)?;
        let imports_wasi = module
            .imports()
            .any(|i| matches!(i.module(), "wasi_snapshot_preview1" | "wasi_unstable"));
        let mut linker: Linker<Guest> = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |g: &mut Guest| &mut g.wasi)?;
        // WAMR only warns about imports it cannot resolve and traps if they
        // are ever called.
        linker.define_unknown_imports_as_traps(&module)?;
        let pre = linker.instantiate_pre(&module)?;
        let mut host = FilterHost {
            cfg,
            pre,
            imports_wasi,
            live: None,
            stdout: Capture::new()?,
            stderr: Capture::new()?,
        };
        if host.cfg.lifetime == Lifetime::Persistent {
            host.live = Some(host.instantiate()?);
        }
        Ok(host)
    }

    /// Runs one record through the filter (`call` of
    /// `flb_wasm_call_function_format_json`). With [`Lifetime::PerChunk`]
    /// this is a chunk of one record, i.e. on a fresh instance.
    pub fn call(&mut self, tag: &[u8], sec: u32, nsec: u32, record: &[u8]) -> Outcome {
        match self.cfg.lifetime {
            Lifetime::Persistent => match self.persistent() {
                Ok(live) => live.call(tag, sec, nsec, record),
                Err(e) => Outcome::Dropped(Drop::Trap(format!("no instance: {e:#}"))),
            },
            Lifetime::PerChunk => match self.instantiate() {
                Ok(mut live) => live.call(tag, sec, nsec, record),
                Err(_) => Outcome::Kept(String::from_utf8_lossy(record).into_owned()),
            },
        }
    }

    /// One record in the msgpack mode (`flb_wasm_call_function_format_msgpack`
    /// with `event_format: msgpack`): the record is a msgpack map, and what
    /// Fluent Bit keeps is the bytes at the returned pointer up to the first
    /// NUL — `strlen`, as `filter_wasm.c` reads it — or nothing (NULL,
    /// trap, bad pointer). Persistent lifetime only.
    pub fn call_msgpack(
        &mut self,
        tag: &[u8],
        sec: u32,
        nsec: u32,
        record: &[u8],
    ) -> Result<Vec<u8>, Drop> {
        let live = self
            .persistent()
            .map_err(|e| Drop::Trap(format!("no instance: {e:#}")))?;
        live.raw(tag, sec, nsec, record, |mem, result| {
            let ptr = result.map_err(|e| Drop::Trap(trap_text(&e)))? as u32 as usize;
            if ptr == 0 {
                return Err(Drop::Null);
            }
            let rest = mem.get(ptr..).ok_or(Drop::InvalidPointer)?;
            let n = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(Drop::InvalidPointer)?;
            Ok(rest[..n].to_vec())
        })
    }

    /// Only what WAMR does before Fluent Bit's own parsing: the call and
    /// the length of the returned string (`None`: trap or bad pointer). For
    /// benchmarks, which should time the guest rather than this host's
    /// judgement of its answer. Persistent lifetime only.
    pub fn call_len(&mut self, tag: &[u8], sec: u32, nsec: u32, record: &[u8]) -> Option<usize> {
        let live = self.persistent().ok()?;
        live.raw(tag, sec, nsec, record, |mem, result| {
            let start = result.ok()? as u32 as usize;
            mem.get(start..)?.iter().position(|&b| b == 0)
        })
    }

    /// Runs one chunk (records of one tag, each `(sec, nsec, json)`) through
    /// the filter, as one `cb_filter` invocation. With
    /// [`Lifetime::PerChunk`] the chunk gets a fresh instance that is
    /// destroyed afterwards; if instantiating it fails, old Fluent Bit
    /// returns the chunk untouched, so every record comes back `Kept` as is.
    pub fn chunk(&mut self, tag: &[u8], records: &[(u32, u32, Vec<u8>)]) -> Vec<Outcome> {
        match self.cfg.lifetime {
            Lifetime::Persistent => match self.persistent() {
                Ok(live) => records
                    .iter()
                    .map(|(s, n, r)| live.call(tag, *s, *n, r))
                    .collect(),
                Err(e) => records
                    .iter()
                    .map(|_| Outcome::Dropped(Drop::Trap(format!("no instance: {e:#}"))))
                    .collect(),
            },
            Lifetime::PerChunk => match self.instantiate() {
                Ok(mut live) => records
                    .iter()
                    .map(|(s, n, r)| live.call(tag, *s, *n, r))
                    .collect(),
                Err(_) => records
                    .iter()
                    .map(|(_, _, r)| Outcome::Kept(String::from_utf8_lossy(r).into_owned()))
                    .collect(),
            },
        }
    }

    /// Emulates a Fluent Bit restart: the instance (and all guest memory)
    /// is dropped and, for [`Lifetime::Persistent`], a new one is created
    /// and initialised. Files in the preopened directories survive. Fails
    /// when the new instance cannot start (Fluent Bit would not start).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.live = None;
        if self.cfg.lifetime == Lifetime::Persistent {
            self.live = Some(self.instantiate()?);
        }
        Ok(())
    }

    /// The config this host runs with; its clock is shared, so tests move
    /// the guest's time through it.
    pub fn config(&self) -> &HostConfig {
        &self.cfg
    }

    /// Current size of the guest's linear memory in bytes (0 when no
    /// instance is alive, as between chunks with [`Lifetime::PerChunk`]),
    /// to show that memory stays flat over millions of records.
    pub fn memory_bytes(&self) -> usize {
        self.live
            .as_ref()
            .map_or(0, |l| l.memory.data_size(&l.store))
    }

    /// Everything the guest wrote to stderr so far (all instances).
    pub fn stderr(&self) -> String {
        self.stderr.read()
    }

    /// Everything the guest wrote to stdout so far (all instances).
    pub fn stdout(&self) -> String {
        self.stdout.read()
    }

    /// The persistent instance, re-created if a failed `restart` left none.
    fn persistent(&mut self) -> anyhow::Result<&mut Live> {
        if self.live.is_none() {
            self.live = Some(self.instantiate()?);
        }
        Ok(self.live.as_mut().expect("just set"))
    }

    /// `flb_wasm_instantiate` + WAMR's post-instantiation calls.
    fn instantiate(&self) -> anyhow::Result<Live> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(self.stdout.output()?)
            .stderr(self.stderr.output()?)
            .wall_clock(self.cfg.clock.clone())
            .monotonic_clock(MonotonicView(self.cfg.clock.clone()));
        for dir in &self.cfg.preopens {
            let guest = dir
                .to_str()
                .with_context(|| format!("preopen {} is not UTF-8", dir.display()))?;
            wasi.preopened_dir(dir, guest, FsPerms::ReadWrite)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot preopen {}", dir.display()))?;
        }
        let mut store = Store::new(
            self.pre.module().engine(),
            Guest {
                wasi: wasi.build_p1(),
            },
        );
        if self.cfg.fuel {
            store.set_fuel(FUEL_PER_CALL)?;
        }
        let instance = self.pre.instantiate(&mut store)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .context("the module exports no linear memory named `memory`")?;
        let heap = match (
            instance.get_typed_func::<i32, i32>(&mut store, "malloc"),
            instance.get_typed_func::<i32, ()>(&mut store, "free"),
        ) {
            (Ok(malloc), Ok(free)) => Heap::Exported { malloc, free },
            // WAMR reserves its app heap when it creates the memory, i.e.
            // before any guest code (but the start function) runs.
            _ => {
                let base = grow(&memory, &mut store, 1).context("cannot reserve the host heap")?;
                Heap::Region { base, len: PAGE }
            }
        };
        let mut post = Vec::new();
        if self.imports_wasi {
            post.push("_initialize");
        }
        post.push("__post_instantiate");
        if !self.imports_wasi {
            post.push("__wasm_call_ctors");
        }
        for name in post {
            if let Some(f) = unit_export(&instance, &mut store, name) {
                if self.cfg.fuel {
                    store.set_fuel(FUEL_PER_CALL)?;
                }
                f.call(&mut store, ())
                    .map_err(|e| anyhow!("{name} failed: {}", trap_text(&e)))?;
            }
        }
        let func = instance.get_typed_func(&mut store, &self.cfg.function)?;
        Ok(Live {
            store,
            func,
            memory,
            heap,
            fuel: self.cfg.fuel,
        })
    }
}

impl Live {
    /// One `flb_wasm_call_function_format_json` plus filter_wasm.c's
    /// judgement of the result.
    fn call(&mut self, tag: &[u8], sec: u32, nsec: u32, record: &[u8]) -> Outcome {
        self.raw(tag, sec, nsec, record, |mem, result| match result {
            Err(e) => Outcome::Dropped(Drop::Trap(trap_text(&e))),
            Ok(ptr) => judge(mem, ptr as u32),
        })
    }

    /// The call itself: copy in, call, let `read` look at the result while
    /// the buffers are still in place, free.
    fn raw<T>(
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
    fn dup(&mut self, tag: &[u8], record: &[u8]) -> (u32, u32) {
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
    fn free(&mut self, tag_ptr: u32, tag_len: usize, rec_ptr: u32, rec_len: usize) {
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

/// filter_wasm.c's judgement of a returned pointer, given linear memory.
fn judge(mem: &[u8], ptr: u32) -> Outcome {
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

/// A readable trap reason first, then the wasm backtrace if there is one.
fn trap_text(e: &wasmtime::Error) -> String {
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
fn grow(memory: &Memory, store: &mut Store<Guest>, pages: usize) -> anyhow::Result<usize> {
    let old = memory.grow(&mut *store, pages as u64)?;
    Ok(old as usize * PAGE)
}

/// An exported `() -> ()` function, as WAMR's `lookup_post_instantiate_func`
/// accepts (other types are ignored).
fn unit_export(
    instance: &Instance,
    store: &mut Store<Guest>,
    name: &str,
) -> Option<TypedFunc<(), ()>> {
    instance.get_typed_func::<(), ()>(store, name).ok()
}

/// Checks that `function` is exported as `(i32 x6) -> i32`.
fn check_signature(module: &Module, function: &str) -> anyhow::Result<()> {
    let Some(ExternType::Func(ty)) = module.get_export(function) else {
        bail!("the module exports no function `{function}`");
    };
    let is_i32 = |t: ValType| matches!(t, ValType::I32);
    let params: Vec<ValType> = ty.params().collect();
    let results: Vec<ValType> = ty.results().collect();
    if params.len() != 6 || results.len() != 1 || !params.into_iter().chain(results).all(is_i32) {
        bail!("`{function}` has type {ty:?}, Fluent Bit calls it as (i32 x6) -> i32");
    }
    Ok(())
}

/// The engine all hosts share (a module can only run on the engine that
/// compiled it), configured like WAMR in Fluent Bit plus fuel metering.
fn engine(fuel: bool) -> &'static Engine {
    static ENGINES: [OnceLock<Engine>; 2] = [OnceLock::new(), OnceLock::new()];
    ENGINES[fuel as usize].get_or_init(|| {
        let mut c = Config::new();
        c.consume_fuel(fuel)
            // Fluent Bit builds WAMR with WAMR_BUILD_SIMD=0; the other
            // features below are off by default in WAMR (the WASM_BUILD_*
            // switches in Fluent Bit's CMakeLists.txt are misspelt no-ops).
            .wasm_simd(false)
            .wasm_relaxed_simd(false)
            .wasm_threads(false)
            .wasm_tail_call(false)
            .wasm_memory64(false)
            .wasm_multi_memory(false)
            .wasm_extended_const(false)
            .wasm_gc(false)
            .wasm_function_references(false)
            .wasm_exceptions(false)
            .wasm_wide_arithmetic(false)
            .wasm_custom_page_sizes(false)
            .wasm_stack_switching(false)
            .wasm_component_model(false);
        Engine::new(&c).expect("valid wasmtime config")
    })
}

/// Compiles `path` once per process and file version (path, size, mtime):
/// compiling the release filter takes far longer than instantiating it.
fn compiled(path: &Path, fuel: bool) -> anyhow::Result<Module> {
    type Key = (PathBuf, u64, Option<SystemTime>, bool);
    static CACHE: OnceLock<Mutex<HashMap<Key, Module>>> = OnceLock::new();
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read wasm module {}", path.display()))?;
    let key = (path.canonicalize()?, meta.len(), meta.modified().ok(), fuel);
    // Held while compiling so parallel tests compile a module only once.
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(m) = cache.get(&key) {
        return Ok(m.clone());
    }
    let module = Module::from_file(engine(fuel), path)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile {}", path.display()))?;
    cache.insert(key, module.clone());
    Ok(module)
}

/// A guest output stream captured in an anonymous temporary file: unbounded
/// without holding it in memory, and never failing a guest write (Fluent
/// Bit's stderr does not fail either).
struct Capture(File);

impl Capture {
    fn new() -> anyhow::Result<Self> {
        Ok(Capture(tempfile::tempfile()?))
    }

    /// A WASI stdout/stderr writing into this capture.
    fn output(&self) -> anyhow::Result<OutputFile> {
        Ok(OutputFile::new(self.0.try_clone()?))
    }

    fn read(&self) -> String {
        use std::os::unix::fs::FileExt as _;
        let len = self.0.metadata().map_or(0, |m| m.len() as usize);
        let mut buf = vec![0; len];
        let n = self.0.read_at(&mut buf, 0).unwrap_or(0);
        buf.truncate(n);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Path of the release filter module; see
/// [`crate::fluent_bit::require_filter_wasm`] (one place decides it for the
/// wasmtime tests and the real Fluent Bit tests alike).
pub fn release_wasm() -> PathBuf {
    crate::fluent_bit::require_filter_wasm()
}
