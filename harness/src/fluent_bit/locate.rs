//! Where the binaries are: Fluent Bit, its AOT compiler, the filter module.

use super::{FILTER_WASM_ENV, FLB_WAMRC_ENV, FLUENT_BIT_ENV};
use anyhow::{Context, Result, ensure};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The cargo workspace root (the repository).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `<workspace root>/../shared/bin/<name>`: the shared tools sit beside the
/// clone (`/work/main` + `/work/shared` here, a copy of `shared/` in CI).
fn shared_bin(name: &str) -> PathBuf {
    let root = workspace_root();
    root.parent()
        .unwrap_or(&root)
        .join("shared")
        .join("bin")
        .join(name)
}

fn tool_path(env: &str, name: &str) -> Result<PathBuf> {
    let path = match std::env::var_os(env) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => shared_bin(name),
    };
    ensure!(
        path.is_file(),
        "{name} not found at {} (set {env} to its path)",
        path.display()
    );
    Ok(path)
}

/// The Fluent Bit binary: `$AFTERLOG_FLUENT_BIT`, else `<root>/../shared/bin/fluent-bit`.
pub fn fluent_bit_path() -> Result<PathBuf> {
    tool_path(FLUENT_BIT_ENV, "fluent-bit")
}

/// The AOT compiler: `$AFTERLOG_FLB_WAMRC`, else `<root>/../shared/bin/flb-wamrc`.
pub fn flb_wamrc_path() -> Result<PathBuf> {
    tool_path(FLB_WAMRC_ENV, "flb-wamrc")
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the workspace
/// root if relative), else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => workspace_root().join(d),
        _ => workspace_root().join("target"),
    }
}

/// The release filter module: `$AFTERLOG_FILTER_WASM`, else
/// `<target>/wasm32-wasip1/release/afterlog_filter.wasm`. May not exist.
pub fn filter_wasm_path() -> PathBuf {
    match std::env::var_os(FILTER_WASM_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => target_dir().join("wasm32-wasip1/release/afterlog_filter.wasm"),
    }
}

/// The command that builds [`filter_wasm_path`].
pub const BUILD_FILTER: &str = "cargo build --release --target wasm32-wasip1 -p afterlog-filter";

/// [`filter_wasm_path`], or a panic telling how to build it. Warns on stderr
/// when a file under `plugin/` or `contract/` is newer than the module.
pub fn require_filter_wasm() -> PathBuf {
    let path = filter_wasm_path();
    let Ok(meta) = fs::metadata(&path) else {
        panic!(
            "the filter module {} is missing: build it first with `{BUILD_FILTER}` \
             (or point {FILTER_WASM_ENV} at a .wasm)",
            path.display()
        );
    };
    if let Ok(built) = meta.modified() {
        let root = workspace_root();
        let newest = [root.join("plugin"), root.join("contract")]
            .iter()
            .filter_map(|d| newest_mtime(d, 4))
            .max();
        if newest.is_some_and(|n| n > built) {
            eprintln!(
                "warning: {} is older than the filter's sources; rebuild with `{BUILD_FILTER}`",
                path.display()
            );
        }
    }
    path
}

fn newest_mtime(dir: &Path, depth: u32) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let t = if meta.is_dir() {
            if depth == 0 {
                continue;
            }
            newest_mtime(&entry.path(), depth - 1)
        } else {
            meta.modified().ok()
        };
        newest = newest.max(t);
    }
    newest
}

/// Compiles `wasm` to a WAMR AOT file with the shared `flb-wamrc`
/// (`--target=x86_64 --cpu=generic`, loadable by the shared Fluent Bit).
pub fn compile_aot(wasm: &Path, aot: &Path) -> Result<()> {
    let wamrc = flb_wamrc_path()?;
    if let Some(dir) = aot.parent() {
        fs::create_dir_all(dir)?;
    }
    let out = Command::new(&wamrc)
        .arg("--target=x86_64")
        .arg("--cpu=generic")
        .arg("-o")
        .arg(aot)
        .arg(wasm)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", wamrc.display()))?;
    ensure!(
        out.status.success() && aot.is_file(),
        "flb-wamrc failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
