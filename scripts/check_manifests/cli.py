"""afterlog's command line as its clap derives declare it."""

from __future__ import annotations

import re
from pathlib import Path

from .repo import ARGS_DIR, MAIN_RS
from .rust import ANY_STRUCT_RE, ENUM_RE, fields_of, kebab, strip_doc

CLI_SOURCES = f"{MAIN_RS} and {ARGS_DIR}/"


def cli_source(root: Path) -> str:
    files = [root / MAIN_RS] + sorted((root / ARGS_DIR).rglob("*.rs"))
    return "\n".join(f.read_text() for f in files)


def cli_model(source: str) -> dict[str, dict[str, dict]]:
    """subcommand -> {--flag: {"bool": bool, "values": set|None}} from clap derives."""
    structs = {m.group(2): m.group(3) for m in ANY_STRUCT_RE.finditer(source)}
    enums = {m.group(2): (m.group(1), m.group(3)) for m in ENUM_RE.finditer(source)}
    value_enums = {
        name: {kebab(v) for v in re.findall(r"^\s*(\w+)\s*,?\s*$", strip_doc(body), re.M)}
        for name, (attrs, body) in enums.items()
        if "ValueEnum" in attrs
    }

    def flags(struct: str) -> dict[str, dict]:
        if struct not in structs:
            raise SystemExit(f"check-manifests: {CLI_SOURCES}: struct {struct} not found")
        out: dict[str, dict] = {}
        for attrs, name, ty in fields_of(structs[struct]):
            if "flatten" in attrs:
                out.update(flags(ty))
                continue
            arg = re.search(r"#\[arg\((.*?)\)\]", attrs, re.S)
            if not arg or not re.search(r"\blong\b", arg.group(1)):
                continue
            explicit = re.search(r'\blong\s*=\s*"([^"]+)"', arg.group(1))
            flag = "--" + (explicit.group(1) if explicit else name.replace("_", "-"))
            inner = re.sub(r"^(Option|Vec)<(.*)>$", r"\2", ty)
            out[flag] = {"bool": ty == "bool", "values": value_enums.get(inner)}
        return out

    cmd = enums.get("Command")
    if not cmd:
        raise SystemExit(f"check-manifests: {MAIN_RS}: enum Command not found")
    model = {}
    for variant, args in re.findall(r"^\s*(\w+)\s*(?:\((\w+)\))?\s*,", strip_doc(cmd[1]), re.M):
        model[kebab(variant)] = flags(args) if args else {}
    return model


def serve_default(flag_field: str, root: Path) -> int | None:
    """A `serve` flag's `default_value_t = N`."""
    m = re.search(rf"default_value_t\s*=\s*(\d+)\)\]\s*(?:pub\s+)?{flag_field}\s*:", cli_source(root))
    return int(m.group(1)) if m else None
