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

mod clock;
mod engine;
mod guest;
mod outcome;

pub use clock::TestClock;
pub use engine::release_wasm;
pub use outcome::{Drop, Outcome};

use anyhow::{Context as _, anyhow};
use clock::MonotonicView;
use engine::{Capture, check_signature, compiled};
use guest::{Guest, Heap, Live, grow, trap_text, unit_export};
use std::path::PathBuf;
use wasmtime::{InstancePre, Linker, Store};
use wasmtime_wasi::p1;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Fuel (roughly: wasm instructions) granted to every guest entry (one
/// record, or the start-up functions). Large enough for any sane record,
/// small enough that an infinite loop traps within a second or two.
pub const FUEL_PER_CALL: u64 = 1_000_000_000;

/// The wasm page size: linear memory only grows in these steps.
const PAGE: usize = 65_536;

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
