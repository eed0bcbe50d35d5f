"""Proof that the release check catches what it is for: each mutation of a
copy of a good release must make it fail, with the expected message; the
unmodified copy must pass. Mutations marked `rehash` also recompute every
size and checksum, so only the content checks can catch them."""

import gzip
import io
import json
import os
import shutil
import tarfile
import tempfile

from . import artifacts as kinds
from . import verify


def _artifact(d, kind):
    m = _manifest(d)
    return os.path.join(d, next(a["file"] for a in m["artifacts"] if a["kind"] == kind))


def _manifest(d):
    with open(os.path.join(d, kinds.MANIFEST), encoding="utf-8") as f:
        return json.load(f)


def _save_manifest(d, m):
    with open(os.path.join(d, kinds.MANIFEST), "w", encoding="utf-8") as f:
        json.dump(m, f, indent=2)


def rehash(d):
    """Sizes, checksums and SHA256SUMS as the files now are."""
    m = _manifest(d)
    m["artifacts"] = [kinds.describe(os.path.join(d, a["file"]), a["kind"]) for a in m["artifacts"]]
    _save_manifest(d, m)
    kinds.write_sums(d, [a["file"] for a in m["artifacts"]])


def _flip_last_byte(path):
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        b = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([b[0] ^ 0xFF]))


def _truncate(path):
    os.truncate(path, os.path.getsize(path) - 1)


def _overwrite_head(path, data):
    with open(path, "r+b") as f:
        f.write(data)


def _repack_adapter(path, edit):
    """The npm package at `path` with its package.json passed through `edit`."""
    out = io.BytesIO()
    with tarfile.open(path, "r:gz") as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "package/package.json":
                data = json.dumps(edit(json.loads(data))).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    with open(path, "wb") as f:
        f.write(gzip.compress(out.getvalue()))


def _set(path, value):
    def edit(d):
        m = _manifest(d)
        node = m
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        _save_manifest(d, m)
        # SHA256SUMS agrees with the edited manifest: the manifest's own
        # checks must catch the edit.
        kinds.write_sums(d, [a["file"] for a in m["artifacts"]])
    return edit


_DELETE = object()


def _drop_sums_line(d):
    path = os.path.join(d, kinds.SUMS)
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines[1:])


def _stray(d):
    with open(os.path.join(d, "notes.txt"), "w", encoding="utf-8") as f:
        f.write("not part of the release\n")


def _aot_from_wasm(d):
    shutil.copyfile(_artifact(d, "filter-wasm"), _artifact(d, "filter-aot"))
    rehash(d)


def _binary_swapped(d):
    # Another ELF file with consistent checksums: only running it tells.
    shutil.copyfile(shutil.which("true") or "/bin/true", _artifact(d, "service"))
    os.chmod(_artifact(d, "service"), 0o755)
    rehash(d)


MUTATIONS = [
    ("a flipped byte in the .aot", lambda d: _flip_last_byte(_artifact(d, "filter-aot")), "sha256"),
    ("a truncated .wasm", lambda d: _truncate(_artifact(d, "filter-wasm")), "size"),
    ("a missing adapter package", lambda d: os.remove(_artifact(d, "adapter-web")), "missing"),
    ("a stray file", _stray, "not listed"),
    ("manifest.json not JSON", lambda d: _overwrite_head(os.path.join(d, kinds.MANIFEST), b"{{"), "cannot read"),
    ("no WAMR version", _set(("filter", "aot", "wamr"), _DELETE), "filter.aot.wamr"),
    ("the dirty flag a string", _set(("git", "dirty"), "no"), "git.dirty"),
    ("a bad checksum in the manifest", _set(("artifacts", 0, "sha256"), "0" * 64), "sha256"),
    ("a SHA256SUMS line missing", _drop_sums_line, "does not list"),
    ("the .aot replaced by the .wasm (rehashed)", _aot_from_wasm, "not a WAMR AOT module"),
    ("the glibc the binary needs misstated", _set(("service", "glibc_min"), "2.99"), "needs glibc"),
    ("the AOT format version wrong", _set(("filter", "aot", "format_version"), 999), "AOT format version"),
    ("an adapter package of another version (rehashed)",
     lambda d: (_repack_adapter(_artifact(d, "adapter-node"), lambda p: {**p, "version": "9.9.9"}), rehash(d)),
     "version"),
    ("the service binary swapped (rehashed)", _binary_swapped, "--version"),
]


def run(directory):
    """0 when the release passes and every mutation is caught; else 1."""
    failures = []
    with tempfile.TemporaryDirectory(prefix="release-self-test-") as tmp:
        base = os.path.join(tmp, "base")
        shutil.copytree(directory, base)
        found = verify.problems(base)
        if found:
            print("release self-test: the release itself fails its check:")
            for p in found:
                print(f"  {p}")
            return 1
        for i, (name, mutate, expected) in enumerate(MUTATIONS):
            copy = os.path.join(tmp, f"m{i}")
            shutil.copytree(base, copy)
            mutate(copy)
            found = verify.problems(copy)
            if not any(expected in p for p in found):
                failures.append(f"{name}: expected a problem with {expected!r}, got {found}")
            shutil.rmtree(copy)
    for f in failures:
        print(f"release self-test: NOT CAUGHT: {f}")
    caught = len(MUTATIONS) - len(failures)
    print(f"release self-test: {caught} passed, {len(failures)} failed")
    return 1 if failures else 0
