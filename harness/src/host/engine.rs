//! Compiling modules on an engine configured like WAMR in Fluent Bit, and
//! capturing the guest's output.

use anyhow::{Context as _, bail};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;
use wasmtime::{Config, Engine, ExternType, Module, ValType};
use wasmtime_wasi::cli::OutputFile;

/// The engine all hosts share (a module can only run on the engine that
/// compiled it), configured like WAMR in Fluent Bit plus fuel metering.
pub(super) fn engine(fuel: bool) -> &'static Engine {
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
pub(super) fn compiled(path: &Path, fuel: bool) -> anyhow::Result<Module> {
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
pub(super) struct Capture(File);

impl Capture {
    pub(super) fn new() -> anyhow::Result<Self> {
        Ok(Capture(tempfile::tempfile()?))
    }

    /// A WASI stdout/stderr writing into this capture.
    pub(super) fn output(&self) -> anyhow::Result<OutputFile> {
        Ok(OutputFile::new(self.0.try_clone()?))
    }

    pub(super) fn read(&self) -> String {
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

/// Checks that `function` is exported as `(i32 x6) -> i32`.
pub(super) fn check_signature(module: &Module, function: &str) -> anyhow::Result<()> {
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
