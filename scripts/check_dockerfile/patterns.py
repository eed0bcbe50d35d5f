"""Path patterns as Docker reads them: Go's filepath.Match syntax (`*`, `?`,
`[...]`, `\\` escapes, never across `/`) plus `**` for any number of
directories, anchored at the context's root."""

import posixpath
import re


def clean(path):
    """A context path as Docker cleans it: no leading `/` or `./`, no `..`
    climbing out, `.` for the root."""
    path = posixpath.normpath("/" + path.strip()).lstrip("/")
    return path or "."


def to_regex(pattern):
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                if body.startswith("^"):
                    body = "!" + body[1:]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def has_magic(path):
    return any(c in path for c in "*?[")


class DockerIgnore:
    """A .dockerignore: the last pattern that matches a path, or one of its
    parent directories, decides; `!` patterns re-include."""

    def __init__(self, text):
        self.rules = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            if keep:
                line = line[1:].strip()
            self.rules.append((keep, to_regex(clean(line)), line))

    def excluded_by(self, path):
        """The pattern that excludes `path` from the context, or None."""
        path = clean(path)
        if path == ".":
            return None
        parts = path.split("/")
        candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        decision = None
        for keep, regex, text in self.rules:
            if any(regex.match(c) for c in candidates):
                decision = None if keep else text
        return decision
