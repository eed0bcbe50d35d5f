"""The instructions of a Dockerfile: continuation lines joined, comments
dropped, with the sources of each COPY/ADD from the build context."""

import json
import re

INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)\s*(.*)$", re.S)


class Instruction:
    def __init__(self, line, keyword, args):
        self.line = line
        self.keyword = keyword.upper()
        self.args = args

    def __repr__(self):
        return f"{self.keyword} {self.args} (line {self.line})"


def parse(text):
    """Instructions in order. A line ending in `\\` continues on the next;
    comment lines inside a continuation are dropped, as Docker does."""
    instructions = []
    pending = None
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (pending is None and not stripped):
            continue
        if pending is None:
            pending, start = "", n
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        pending += raw
        m = INSTRUCTION.match(pending)
        if m:
            instructions.append(Instruction(start, m.group(1), m.group(2).strip()))
        pending = None
    if pending:
        m = INSTRUCTION.match(pending)
        if m:
            instructions.append(Instruction(start, m.group(1), m.group(2).strip()))
    return instructions


def copy_operands(instruction):
    """(flags, sources, destination) of a COPY or ADD, in either form
    (`COPY a b` or `COPY ["a", "b"]`)."""
    m = re.match(r"((?:--\S+\s+)*)(.*)$", instruction.args, re.S)
    flags = {}
    for flag in m.group(1).split():
        key, _, value = flag[2:].partition("=")
        flags[key] = value
    rest = m.group(2).strip()
    words = None
    if rest.startswith("["):
        try:
            words = json.loads(rest)
        except ValueError:
            words = None
    if not isinstance(words, list):
        words = rest.split()
    if len(words) < 2:
        return flags, [], None
    return flags, words[:-1], words[-1]


def expand(word, args):
    """`word` with $NAME / ${NAME} of the ARG defaults in `args`, or None
    when it names one without a default."""
    missing = []

    def sub(m):
        name = m.group(1) or m.group(2)
        if name not in args:
            missing.append(name)
            return ""
        return args[name]

    expanded = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, word)
    return None if missing else expanded
