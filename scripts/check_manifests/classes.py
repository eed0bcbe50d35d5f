"""The routing classes: the drop-in's s3 outputs against the `--class`
stores of `serve` and `compact`."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .k8s import containers_of, ident, is_afterlog, pod_of
from .problems import Problems
from .repo import DROPIN_YAML


def dropin_classes(root: Path, problems: Problems) -> tuple[dict[str, str], set[str]] | None:
    """The drop-in's s3 outputs: {class: key prefix} of the classes with an
    output of their own, and the classes the catch-all output's look-ahead
    leaves out (it stores every other class at the bucket's root)."""
    f = DROPIN_YAML
    doc = yaml.safe_load((root / f).read_text())
    own: dict[str, str] = {}
    excluded: set[str] | None = None
    for o in (doc.get("pipeline") or {}).get("outputs") or []:
        if o.get("name") != "s3":
            continue
        key = str(o.get("s3_key_format", ""))
        m = re.fullmatch(r"/((?:[^/]+/)*)raw/\$TAG\[2\]/\$TAG\[3\]/\$TAG\[4\]/\$TAG\[5\]/.*", key)
        if not m:
            problems.add(f, f"output {o.get('alias')}: s3_key_format {key!r} is not [/prefix]/raw/$TAG[2]/…/$TAG[5]/…")
            continue
        prefix = m.group(1).rstrip("/")
        if "match_regex" in o:
            look = re.fullmatch(r"\^afterlog\\\.\(\?!((?:[a-z0-9-]+\\\.\|?)+)\)", str(o["match_regex"]))
            if not look or prefix:
                problems.add(f, f"output {o.get('alias')}: the catch-all output must be match_regex '^afterlog\\.(?!a\\.|b\\.)' writing at the bucket's root")
                continue
            excluded = {c[:-2] for c in look.group(1).split("|") if c}
        else:
            mc = re.fullmatch(r"afterlog\.([a-z0-9-]+)\.\*", str(o.get("match", "")))
            if not mc:
                problems.add(f, f"output {o.get('alias')}: match {o.get('match')!r} is not afterlog.<class>.*")
                continue
            own[mc.group(1)] = prefix
    if excluded is None:
        problems.add(f, "no catch-all s3 output (match_regex '^afterlog\\.(?!…)'): a class without an output would be lost")
        return None
    if excluded != set(own):
        problems.add(f, f"the catch-all output leaves out {sorted(excluded)} but the classes with an output of their own are {sorted(own)}")
    return own, excluded


def check_classes(root: Path, objs: list[dict], problems: Problems) -> None:
    """Every afterlog workload reads (serve) or compacts (compact) exactly the
    classes the drop-in stores apart, each at the prefix its output writes."""
    got = dropin_classes(root, problems)
    if got is None:
        return
    own, _ = got
    for o in objs:
        spec = pod_of(o)
        if not spec:
            continue
        for c in containers_of(spec.get("spec") or {}):
            if not is_afterlog(c):
                continue
            args = [str(a) for a in c.get("args") or []]
            if not args or args[0] not in ("serve", "compact"):
                continue
            cw = f"{ident(o)} container {c.get('name')}"
            store, classes = None, {}
            for i, a in enumerate(args[:-1]):
                if a == "--store":
                    store = args[i + 1]
                elif a == "--class":
                    name, _, url = args[i + 1].partition("=")
                    classes[name] = url
            for e in c.get("env") or []:
                if e.get("name") == "AFTERLOG_CLASSES" and e.get("value"):
                    for pair in filter(None, (x.strip() for x in e["value"].split(","))):
                        name, _, url = pair.partition("=")
                        classes[name] = url
            if not store:
                continue
            for name in sorted(set(own) - set(classes)):
                problems.add(cw, f"afterlog {args[0]} has no --class {name}=…: the drop-in stores class {name} apart, so it would never be {'served' if args[0] == 'serve' else 'compacted or expired'}")
            for name, url in sorted(classes.items()):
                if name not in own:
                    problems.add(cw, f"--class {name}: the drop-in has no output for class {name} (it is stored with the default class)")
                    continue
                want = f"{store.rstrip('/')}/{own[name]}"
                if url.rstrip("/") != want:
                    problems.add(cw, f"--class {name}={url}: the drop-in's output writes it at {want}")
