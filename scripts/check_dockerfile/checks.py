"""What the build context lacks: pure functions over the Dockerfile's text,
the .dockerignore's text and the repository's tracked files."""

import posixpath
import re
import shlex

from . import dockerfile
from .patterns import DockerIgnore, clean, has_magic, to_regex

# A URL or git source of ADD is fetched at build time, not from the context.
REMOTE = re.compile(r"^(https?://|git@|git://)")


def problems(dockerfile_text, dockerignore_text, tracked, cargo_files):
    """Problems, each naming the missing or excluded path.
    tracked: the repository's tracked files (paths relative to its root);
    cargo_files: what a cargo build of the workspace reads first (Cargo.toml,
    Cargo.lock, every member's Cargo.toml), checked when the whole context
    is copied."""
    tracked = set(tracked)
    dirs = {posixpath.dirname(f) for f in tracked}
    dirs |= {d for f in dirs for d in _parents(f)}
    ignore = DockerIgnore(dockerignore_text)
    instructions = dockerfile.parse(dockerfile_text)
    found = []
    args = {}
    whole_context = False
    for ins in instructions:
        if ins.keyword == "ARG":
            name, sep, default = ins.args.partition("=")
            if sep:
                args[name.strip()] = default.strip().strip('"')
        elif ins.keyword in ("COPY", "ADD"):
            flags, sources, _ = dockerfile.copy_operands(ins)
            if "from" in flags:
                continue
            for source in sources:
                if ins.keyword == "ADD" and REMOTE.match(source):
                    continue
                expanded = dockerfile.expand(source, args)
                if expanded is None:
                    found.append(f"Dockerfile:{ins.line}: {ins.keyword} {source}: names a build arg without default; cannot check")
                    continue
                path = clean(expanded)
                if path == ".":
                    whole_context = True
                    continue
                found += _source_problems(ins, path, tracked, dirs, ignore)
        elif ins.keyword == "RUN":
            found += _run_problems(ins, tracked, dirs, ignore)
    if whole_context:
        for path in cargo_files:
            pattern = ignore.excluded_by(path)
            if path not in tracked:
                found.append(f"{path}: the cargo build reads it, but it is not in the repository")
            elif pattern:
                found.append(f"{path}: the cargo build reads it, but .dockerignore excludes it ({pattern!r})")
    return found


def _parents(path):
    while path:
        path = posixpath.dirname(path)
        if path:
            yield path


def _source_problems(ins, path, tracked, dirs, ignore):
    where = f"Dockerfile:{ins.line}: {ins.keyword} {path}"
    if has_magic(path):
        regex = to_regex(path)
        matches = sorted(p for p in tracked | dirs if regex.match(p))
        if not matches:
            return [f"{where}: matches no file in the repository"]
        if all(ignore.excluded_by(p) for p in matches):
            return [f"{where}: every match is excluded by .dockerignore"]
        return []
    if path not in tracked and path not in dirs:
        return [f"{where}: no such file or directory in the repository"]
    pattern = ignore.excluded_by(path)
    if pattern:
        return [f"{where}: excluded from the build context by .dockerignore ({pattern!r})"]
    return []


def _run_problems(ins, tracked, dirs, ignore):
    """Repository paths a RUN names (words with a `/` whose first component
    is a top-level entry of the repository, e.g. scripts/build-filter)."""
    top = {p.split("/")[0] for p in tracked}
    try:
        words = shlex.split(ins.args)
    except ValueError:
        words = ins.args.split()
    found = []
    for word in words:
        word = word.rstrip(";")
        if "/" not in word or word.startswith(("-", "/", "$")) or "=" in word:
            continue
        path = clean(word)
        if path.split("/")[0] not in top:
            continue
        if path not in tracked and path not in dirs:
            found.append(f"Dockerfile:{ins.line}: RUN names {path}: no such file or directory in the repository")
        elif ignore.excluded_by(path):
            found.append(f"Dockerfile:{ins.line}: RUN names {path}, which .dockerignore excludes ({ignore.excluded_by(path)!r})")
    return found
