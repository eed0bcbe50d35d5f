"""The JSON files the service reads, checked against the serde structs that
read them."""

from __future__ import annotations

import json
import re

from .problems import Problems
from .rust import STRUCT_RE, fields_of

# JSON files the service reads, by flag: (Rust file, struct).
JSON_FLAGS = {
    "--compactor-config": ("compactor/src/config.rs", "Config"),
    "--members": ("service/src/auth.rs", "Members"),
    "--tokens": ("service/src/auth.rs", "Tokens"),
}


def serde_structs(rs: str) -> dict[str, list[dict]]:
    """struct -> fields [{name, type, flatten, optional}] (serde names = Rust names)."""
    out = {}
    for m in STRUCT_RE.finditer(rs):
        struct_default = re.search(r"#\[serde\([^\]]*\bdefault\b", m.group(1)) is not None
        fs = []
        for attrs, name, ty in fields_of(m.group(3)):
            serde = " ".join(re.findall(r"#\[serde\((.*?)\)\]", attrs, re.S))
            fs.append({
                "name": name,
                "type": ty,
                "flatten": "flatten" in serde,
                "optional": struct_default or "default" in serde or ty.startswith("Option<"),
            })
        out[m.group(2)] = fs
    return out


# Rust collections serde reads from JSON objects (string keys) or arrays.
COLLECTIONS = [
    (re.compile(r"^(?:BTreeMap|HashMap|FxHashMap)<String,(.*)>$"), dict, "an object"),
    (re.compile(r"^(?:Vec|BTreeSet|HashSet)<(.*)>$"), list, "an array"),
]


def elements(value: dict | list) -> list[tuple[str, object]]:
    """(suffix of the path, element) of each element of an object or array."""
    if isinstance(value, dict):
        return [(f".{k}", v) for k, v in value.items()]
    return [(f"[{i}]", v) for i, v in enumerate(value)]


def check_serde(value, ty: str, structs: dict, where: str, problems: Problems) -> None:
    ty = ty.replace(" ", "")
    if ty.startswith("Option<"):
        if value is not None:
            check_serde(value, ty[7:-1], structs, where, problems)
        return
    for pattern, json_type, what in COLLECTIONS:
        m = pattern.match(ty)
        if not m:
            continue
        if not isinstance(value, json_type):
            problems.add(where, f"expected {what} ({ty}), got {json.dumps(value)}")
            return
        for suffix, v in elements(value):
            check_serde(v, m.group(1), structs, where + suffix, problems)
        return
    if re.match(r"^[ui](8|16|32|64|size)$", ty):
        if not isinstance(value, int) or isinstance(value, bool) or (ty[0] == "u" and value < 0):
            problems.add(where, f"expected {ty}, got {json.dumps(value)}")
        return
    if ty in ("f32", "f64"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.add(where, f"expected {ty}, got {json.dumps(value)}")
        return
    if ty == "bool":
        if not isinstance(value, bool):
            problems.add(where, f"expected bool, got {json.dumps(value)}")
        return
    if ty in ("String", "PathBuf"):
        if not isinstance(value, str):
            problems.add(where, f"expected a string, got {json.dumps(value)}")
        return
    if ty in structs:
        if not isinstance(value, dict):
            problems.add(where, f"expected an object ({ty}), got {json.dumps(value)}")
            return
        known: dict[str, dict] = {}

        def collect(s: str) -> None:
            for f in structs[s]:
                if f["flatten"] and f["type"] in structs:
                    collect(f["type"])
                else:
                    known[f["name"]] = f

        collect(ty)
        for k, v in value.items():
            if k not in known:
                problems.add(where, f"unknown key {k!r} (struct {ty} has: {', '.join(sorted(known))})")
            else:
                check_serde(v, known[k]["type"], structs, f"{where}.{k}", problems)
        for k, f in known.items():
            if k not in value and not f["optional"]:
                problems.add(where, f"missing required key {k!r} (struct {ty})")
        return
    # A type this checker does not model: accepted as is.
