"""scripts/release's manifest and checks.
  python3 -m release_dist write DIR KEY=VALUE... --artifact KIND=FILE...
      write DIR/manifest.json and DIR/SHA256SUMS for the artifacts in DIR
  python3 -m release_dist check DIR       verify a release directory
  python3 -m release_dist self-test DIR   prove the check catches breakage
"""

import argparse
import json
import os
import sys

from . import artifacts as kinds
from . import manifest, self_test, verify

# What scripts/release passes to `write`, all as strings.
KEYS = ("afterlog_version", "git_commit", "git_dirty", "build_time", "rustc", "target",
        "profile", "fluent_bit", "wamr", "wasm_bindgen", "node", "npm")


def write(directory, settings, artifacts):
    values = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or key not in KEYS:
            raise SystemExit(f"release: unknown setting {setting!r} (known: {', '.join(KEYS)})")
        values[key] = value
    missing = [k for k in KEYS if k not in values]
    if missing:
        raise SystemExit(f"release: settings missing: {', '.join(missing)}")
    if values["git_dirty"] not in ("true", "false"):
        raise SystemExit(f"release: git_dirty is {values['git_dirty']!r}, not true or false")
    values["git_dirty"] = values["git_dirty"] == "true"
    described = []
    for artifact in artifacts:
        kind, sep, name = artifact.partition("=")
        if not sep or kind not in kinds.KINDS:
            raise SystemExit(f"release: bad --artifact {artifact!r} (KIND=FILE, KIND one of {', '.join(kinds.KINDS)})")
        described.append(kinds.describe(os.path.join(directory, name), kind))
    service = next((a for a in described if a["kind"] == "service"), None)
    if service is None:
        raise SystemExit("release: no service artifact")
    values["glibc_min"] = kinds.glibc_min(os.path.join(directory, service["file"]))
    aot = next((a for a in described if a["kind"] == "filter-aot"), None)
    if aot is None:
        raise SystemExit("release: no filter-aot artifact")
    values["aot_format_version"] = kinds.aot_format_version(os.path.join(directory, aot["file"]))
    if values["aot_format_version"] is None:
        raise SystemExit(f"release: {aot['file']} is not a WAMR AOT module")
    m = manifest.build(values, described)
    with open(os.path.join(directory, kinds.MANIFEST), "w", encoding="utf-8") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    kinds.write_sums(directory, [a["file"] for a in described])


def main(argv):
    parser = argparse.ArgumentParser(prog="release_dist")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("directory")
    w.add_argument("settings", nargs="*")
    w.add_argument("--artifact", action="append", default=[])
    for name in ("check", "self-test"):
        sub.add_parser(name).add_argument("directory")
    args = parser.parse_args(argv)
    if args.command == "write":
        write(args.directory, args.settings, args.artifact)
        return 0
    if args.command == "self-test":
        return self_test.run(args.directory)
    found = verify.problems(args.directory)
    for p in found:
        print(f"release check: {args.directory}: {p}", file=sys.stderr)
    if found:
        print(f"release check: {args.directory}: {len(found)} problem(s)", file=sys.stderr)
        return 1
    print(f"release check: {args.directory}: OK")
    return 0


sys.exit(main(sys.argv[1:]))
