"""What a release holds: one file of each kind, and how to recognise each
kind's content (so that a file swapped for another of the wrong kind is
caught even when its checksums were recomputed)."""

import hashlib
import io
import json
import os
import re
import tarfile

# kind -> what it is, for messages.
KINDS = {
    "service": "the afterlog binary (service, CLI, compactor)",
    "filter-wasm": "the Fluent Bit filter, portable WebAssembly",
    "filter-aot": "the Fluent Bit filter, WAMR AOT native code",
    "adapter-node": "the JavaScript adapter, npm package for Node (CommonJS)",
    "adapter-web": "the JavaScript adapter, npm package for browsers (ES module)",
}

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"

WASM_MAGIC = b"\0asm\x01\0\0\0"
AOT_MAGIC = b"\0aot"
ELF_MAGIC = b"\x7fELF"

# The files each adapter package must hold, and its module type.
ADAPTER_FILES = ("package.json", "afterlog_adapter.js", "afterlog_adapter.d.ts",
                 "afterlog_adapter_bg.wasm")
ADAPTER_TYPE = {"adapter-node": "commonjs", "adapter-web": "module"}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe(path, kind):
    """file, kind, size and sha256 of one artifact, as the manifest lists it."""
    return {
        "file": os.path.basename(path),
        "kind": kind,
        "size": os.path.getsize(path),
        "sha256": sha256_file(path),
    }


def aot_format_version(path):
    """The AOT file format version in an .aot's header (the number a WAMR
    compares with its own when it loads the file), or None if the file is
    not an AOT module."""
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[:4] != AOT_MAGIC:
        return None
    return int.from_bytes(head[4:8], "little")


GLIBC_VERSION = re.compile(rb"GLIBC_(\d+)\.(\d+)(?:\.(\d+))?")


def glibc_min(path):
    """The newest glibc symbol version an ELF binary needs ("2.34"): the
    oldest glibc it runs on; "none" when it needs no glibc (static)."""
    with open(path, "rb") as f:
        data = f.read()
    versions = {tuple(int(p or 0) for p in m.groups()) for m in GLIBC_VERSION.finditer(data)}
    if not versions:
        return "none"
    newest = max(versions)
    return ".".join(str(p) for p in (newest if newest[2] else newest[:2]))


def content_problems(path, kind, afterlog_version):
    """Why a file's content is not what its kind says (empty: it is)."""
    with open(path, "rb") as f:
        head = f.read(8)
    if kind == "service":
        return [] if head.startswith(ELF_MAGIC) else [f"{os.path.basename(path)}: not an ELF executable"]
    if kind == "filter-wasm":
        return [] if head == WASM_MAGIC else [f"{os.path.basename(path)}: not a WebAssembly module"]
    if kind == "filter-aot":
        return [] if head.startswith(AOT_MAGIC) else [f"{os.path.basename(path)}: not a WAMR AOT module"]
    if kind in ADAPTER_TYPE:
        return adapter_problems(path, kind, afterlog_version)
    return [f"{os.path.basename(path)}: unknown kind {kind!r}"]


def adapter_problems(path, kind, afterlog_version):
    name = os.path.basename(path)
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            problems = []
            for member in members.values():
                parts = member.name.split("/")
                if parts[0] != "package" or ".." in parts or not member.isfile():
                    problems.append(f"{name}: unexpected entry {member.name!r} (npm packages hold files under package/)")
            for wanted in ADAPTER_FILES:
                if f"package/{wanted}" not in members:
                    problems.append(f"{name}: no package/{wanted}")
            if problems:
                return problems
            package = json.load(io.TextIOWrapper(tar.extractfile(members["package/package.json"]), "utf-8"))
            wasm_head = tar.extractfile(members["package/afterlog_adapter_bg.wasm"]).read(8)
    except (OSError, tarfile.TarError, EOFError, ValueError) as e:
        return [f"{name}: not a readable npm package (gzip'd tar): {e}"]
    problems = []
    if not isinstance(package, dict):
        return [f"{name}: package.json is not an object"]
    if package.get("name") != "afterlog-adapter":
        problems.append(f"{name}: package.json name is {package.get('name')!r}, not 'afterlog-adapter'")
    if package.get("version") != afterlog_version:
        problems.append(f"{name}: package.json version is {package.get('version')!r}, the release is {afterlog_version!r}")
    if package.get("type") != ADAPTER_TYPE[kind]:
        problems.append(f"{name}: package.json type is {package.get('type')!r}, {kind} is {ADAPTER_TYPE[kind]!r}")
    if wasm_head != WASM_MAGIC:
        problems.append(f"{name}: package/afterlog_adapter_bg.wasm is not a WebAssembly module")
    return problems


def write_sums(directory, files):
    """SHA256SUMS of `files` and the manifest, in `sha256sum` text format."""
    lines = [f"{sha256_file(os.path.join(directory, name))}  {name}\n" for name in [*files, MANIFEST]]
    with open(os.path.join(directory, SUMS), "w", encoding="utf-8") as f:
        f.writelines(lines)
