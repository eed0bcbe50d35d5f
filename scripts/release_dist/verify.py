"""Checks a release directory against itself: manifest.json well formed,
one artifact of every kind, each file's size and sha256 as listed, each
file's content of its kind, SHA256SUMS covering exactly the directory and
accepted by `sha256sum -c`, and the afterlog binary reporting the release's
version when it runs on this machine."""

import json
import os
import platform
import re
import shutil
import subprocess
import sys

from . import artifacts as kinds
from .manifest import schema_problems

SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def problems(directory):
    """Everything wrong with the release in `directory` (empty: none)."""
    if not os.path.isdir(directory):
        return [f"{directory}: not a directory"]
    manifest_path = os.path.join(directory, kinds.MANIFEST)
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        return [f"{kinds.MANIFEST}: cannot read: {e}"]
    found = schema_problems(manifest)
    if found:
        return found
    found += _artifact_problems(directory, manifest)
    found += _sums_problems(directory, manifest)
    if not found:
        found += _service_version_problems(directory, manifest)
    return found


def _artifact_problems(directory, manifest):
    found = []
    listed = manifest["artifacts"]
    by_kind = {}
    for a in listed:
        by_kind.setdefault(a["kind"], []).append(a["file"])
    for kind, what in kinds.KINDS.items():
        if len(by_kind.get(kind, [])) != 1:
            found.append(f"{kinds.MANIFEST}: needs exactly one {kind} artifact ({what}), has {by_kind.get(kind, [])}")
    for kind in by_kind.keys() - kinds.KINDS.keys():
        found.append(f"{kinds.MANIFEST}: unknown artifact kind {kind!r}")
    files = [a["file"] for a in listed]
    if len(set(files)) != len(files) or {kinds.MANIFEST, kinds.SUMS} & set(files):
        found.append(f"{kinds.MANIFEST}: artifact file names repeat or name the manifest or sums: {files}")
    present = set(os.listdir(directory))
    for stray in sorted(present - set(files) - {kinds.MANIFEST, kinds.SUMS}):
        found.append(f"{stray}: in the release directory but not listed in {kinds.MANIFEST}")
    for a in listed:
        path = os.path.join(directory, a["file"])
        if not os.path.isfile(path) or os.path.islink(path):
            found.append(f"{a['file']}: listed in {kinds.MANIFEST} but missing (or not a regular file)")
            continue
        actual = kinds.describe(path, a["kind"])
        if actual["size"] != a["size"]:
            found.append(f"{a['file']}: size {actual['size']}, {kinds.MANIFEST} says {a['size']}")
        if actual["sha256"] != a["sha256"]:
            found.append(f"{a['file']}: sha256 {actual['sha256']}, {kinds.MANIFEST} says {a['sha256']}")
        if a["kind"] in kinds.KINDS:
            found += kinds.content_problems(path, a["kind"], manifest["afterlog_version"])
        if a["kind"] == "service" and kinds.glibc_min(path) != manifest["service"]["glibc_min"]:
            found.append(f"{a['file']}: needs glibc {kinds.glibc_min(path)}, {kinds.MANIFEST} says "
                         f"{manifest['service']['glibc_min']}")
        if a["kind"] == "filter-aot":
            version = kinds.aot_format_version(path)
            wanted = manifest["filter"]["aot"]["format_version"]
            if version is not None and version != wanted:
                found.append(f"{a['file']}: AOT format version {version}, {kinds.MANIFEST} says {wanted}")
    return found


def _sums_problems(directory, manifest):
    path = os.path.join(directory, kinds.SUMS)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, ValueError) as e:
        return [f"{kinds.SUMS}: cannot read: {e}"]
    found = []
    sums = {}
    for n, line in enumerate(lines, 1):
        m = SUMS_LINE.match(line)
        if not m:
            found.append(f"{kinds.SUMS}:{n}: not a sha256sum line: {line!r}")
        elif m.group(2) in sums:
            found.append(f"{kinds.SUMS}:{n}: {m.group(2)} listed twice")
        else:
            sums[m.group(2)] = m.group(1)
    wanted = {a["file"] for a in manifest["artifacts"]} | {kinds.MANIFEST}
    for name in sorted(wanted - sums.keys()):
        found.append(f"{kinds.SUMS}: does not list {name}")
    for name in sorted(sums.keys() - wanted):
        found.append(f"{kinds.SUMS}: lists {name}, which is not part of the release")
    for name in sorted(sums.keys() & wanted):
        file = os.path.join(directory, name)
        if os.path.isfile(file) and kinds.sha256_file(file) != sums[name]:
            found.append(f"{kinds.SUMS}: {name} does not match its checksum")
    if found:
        return found
    # The format admins verify with: the real tool must accept it.
    tool = shutil.which("sha256sum")
    if tool is None:
        return ["sha256sum: not found (coreutils), cannot check SHA256SUMS with it"]
    run = subprocess.run([tool, "--check", "--strict", "--quiet", kinds.SUMS], cwd=directory,
                         capture_output=True, text=True)
    if run.returncode != 0:
        return [f"sha256sum --check {kinds.SUMS} failed: {(run.stdout + run.stderr).strip()}"]
    return []


def _runs_here(target):
    arch = platform.machine()
    return sys.platform.startswith("linux") and target.startswith(f"{arch}-") and "-linux-" in target


def _service_version_problems(directory, manifest):
    """`afterlog --version` names the manifest's version: the binary is the
    release's, not another build's with matching checksums."""
    service = next(a for a in manifest["artifacts"] if a["kind"] == "service")
    if not _runs_here(manifest["service"]["target"]):
        print(f"release check: {service['file']} is for {manifest['service']['target']}: not run here",
              file=sys.stderr)
        return []
    binary = os.path.abspath(os.path.join(directory, service["file"]))
    if not os.access(binary, os.X_OK):
        return [f"{service['file']}: not executable"]
    try:
        run = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [f"{service['file']} --version: {e}"]
    want = f"afterlog {manifest['afterlog_version']}"
    if run.returncode != 0 or run.stdout.strip() != want:
        return [f"{service['file']} --version printed {run.stdout.strip()!r} (exit {run.returncode}), "
                f"the release is {want!r}"]
    return []
