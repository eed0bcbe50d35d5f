"""manifest.json: what a release is built from and holds. `build` makes it
from the versions scripts/release gathered; `schema_problems` says what is
missing or malformed in one that was read back."""

import re

FORMAT = 1

VERSION = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TRIPLE = re.compile(r"^[a-z0-9_]+(-[a-z0-9_.]+){1,3}$")
FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


def build(v, artifacts):
    """The manifest for versions `v` (a dict of what scripts/release read)
    and the described artifacts."""
    return {
        "format": FORMAT,
        "afterlog_version": v["afterlog_version"],
        "git": {"commit": v["git_commit"], "dirty": v["git_dirty"]},
        "build_time": v["build_time"],
        "rustc": v["rustc"],
        "service": {
            "target": v["target"],
            "profile": v["profile"],
            # Dynamically linked: it runs on this glibc or a newer one.
            "glibc_min": v["glibc_min"],
            # The image's build: without the default feature `demo`, so the
            # binary does not carry the demo data set or the filter.
            "features": [],
        },
        "filter": {
            "wasm_target": "wasm32-wasip1",
            "aot": {
                # The .aot loads only in a Fluent Bit whose WAMR has this AOT
                # format; the release is built with that release's flb-wamrc.
                "fluent_bit": v["fluent_bit"],
                "wamr": v["wamr"],
                "format_version": v["aot_format_version"],
                "arch": "x86_64",
                "cpu": "generic",
            },
        },
        "adapter": {
            "wasm_target": "wasm32-unknown-unknown",
            "wasm_bindgen": v["wasm_bindgen"],
            "node": v["node"],
            "npm": v["npm"],
        },
        "artifacts": artifacts,
    }


def _string(pattern):
    def check(value):
        return isinstance(value, str) and (pattern is None or pattern.match(value) is not None)
    return check


def _boolean(value):
    return isinstance(value, bool)


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _empty_list(value):
    return value == []


def _format(value):
    return value == FORMAT


NONEMPTY = re.compile(r"\S")

# path -> check; every path is required.
FIELDS = {
    ("format",): _format,
    ("afterlog_version",): _string(VERSION),
    ("git", "commit"): _string(COMMIT),
    ("git", "dirty"): _boolean,
    ("build_time",): _string(TIME),
    ("rustc",): _string(re.compile(r"^rustc \d+\.\d+\.\d+")),
    ("service", "target"): _string(TRIPLE),
    ("service", "profile"): _string(NONEMPTY),
    ("service", "glibc_min"): _string(re.compile(r"^(\d+\.\d+(\.\d+)?|none)$")),
    ("service", "features"): _empty_list,
    ("filter", "wasm_target"): _string(re.compile(r"^wasm32-wasip1$")),
    ("filter", "aot", "fluent_bit"): _string(VERSION),
    ("filter", "aot", "wamr"): _string(VERSION),
    ("filter", "aot", "format_version"): _count,
    ("filter", "aot", "arch"): _string(NONEMPTY),
    ("filter", "aot", "cpu"): _string(NONEMPTY),
    ("adapter", "wasm_target"): _string(re.compile(r"^wasm32-unknown-unknown$")),
    ("adapter", "wasm_bindgen"): _string(VERSION),
    ("adapter", "node"): _string(re.compile(r"^v\d+\.\d+\.\d+")),
    ("adapter", "npm"): _string(VERSION),
}

ARTIFACT_FIELDS = {
    "file": _string(FILE),
    "kind": _string(NONEMPTY),
    "size": _count,
    "sha256": _string(SHA256),
}


def schema_problems(manifest):
    """What is missing or malformed in a manifest read back (empty: none)."""
    if not isinstance(manifest, dict):
        return ["manifest.json: not a JSON object"]
    problems = []
    for path, check in FIELDS.items():
        value = manifest
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None or not check(value):
            problems.append(f"manifest.json: {'.'.join(path)} is missing or malformed: {value!r}")
    artifacts = manifest.get("artifacts")
    if not isinstance(artifacts, list) or not artifacts:
        return problems + ["manifest.json: artifacts is missing or empty"]
    for i, artifact in enumerate(artifacts):
        if not isinstance(artifact, dict):
            problems.append(f"manifest.json: artifacts[{i}] is not an object")
            continue
        for key, check in ARTIFACT_FIELDS.items():
            if not check(artifact.get(key)):
                problems.append(f"manifest.json: artifacts[{i}].{key} is missing or malformed: {artifact.get(key)!r}")
    return problems
