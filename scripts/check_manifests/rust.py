"""Reading Rust declarations (structs, their fields and attributes) with
regular expressions: enough for the derives the checks rely on, no more."""

from __future__ import annotations

import re

STRUCT_RE = re.compile(r"((?:#\[[^\]]*\]\s*)*)pub\s+struct\s+(\w+)\s*\{(.*?)\n\}", re.S)
ANY_STRUCT_RE = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub\s+)?struct\s+(\w+)\s*\{(.*?)\n\}", re.S)
FIELD_RE = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub\s+)?(\w+)\s*:\s*([^\n]+?),?\s*\n")
ENUM_RE = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub\s+)?enum\s+(\w+)\s*\{(.*?)\n\}", re.S)


def strip_doc(body: str) -> str:
    return "\n".join(l for l in body.splitlines() if not l.strip().startswith("//"))


def fields_of(body: str) -> list[tuple[str, str, str]]:
    """(attributes, name, type) of each field of a struct body."""
    out = []
    # Attributes (even multi-line ones) are taken with the field they precede.
    for m in FIELD_RE.finditer(strip_doc(body) + "\n"):
        out.append((m.group(1), m.group(2), m.group(3).strip().rstrip(",")))
    return out


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower().replace("_", "-")
