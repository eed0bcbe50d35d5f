"""python3 -m check_dockerfile [--self-test], from the repository's root."""

import subprocess
import sys
import tomllib

from . import self_test
from .checks import problems


def cargo_files():
    with open("Cargo.toml", "rb") as f:
        members = tomllib.load(f).get("workspace", {}).get("members", [])
    return ["Cargo.toml", "Cargo.lock", *(f"{m}/Cargo.toml" for m in members)]


def main(argv):
    if argv == ["--self-test"]:
        return self_test.run()
    if argv:
        print("usage: check-dockerfile [--self-test]", file=sys.stderr)
        return 2
    tracked = subprocess.run(["git", "ls-files", "-z"], check=True, capture_output=True).stdout
    tracked = [p for p in tracked.decode().split("\0") if p]
    with open("Dockerfile", encoding="utf-8") as f:
        text = f.read()
    try:
        with open(".dockerignore", encoding="utf-8") as f:
            ignore = f.read()
    except FileNotFoundError:
        ignore = ""
    found = problems(text, ignore, tracked, cargo_files())
    for p in found:
        print(f"check-dockerfile: {p}", file=sys.stderr)
    if found:
        return 1
    print("check-dockerfile: every COPY source, RUN script and workspace manifest is in the build context")
    return 0


sys.exit(main(sys.argv[1:]))
