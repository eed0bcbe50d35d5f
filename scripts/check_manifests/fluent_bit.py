"""Fluent Bit's side: the DaemonSet patch sets exactly the environment the
drop-in files use, the container reads /var/log, and the filter's state
file lies in the directory the filter may write."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from .k8s import ident, pod_of
from .problems import Problems
from .repo import DROPIN_FILES, FILTER_JSON, FLUENT_BIT_CONTAINER, PATCH, S3_CREDENTIALS


def dropin_vars(root: Path) -> dict[str, set[str]]:
    out = {}
    for f in DROPIN_FILES:
        text = (root / f).read_text()
        lines = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
        out[f] = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", "\n".join(lines)))
    return out


def check_fluent_bit(root: Path, patched: dict, problems: Problems) -> None:
    patch = yaml.safe_load((root / PATCH).read_text())
    pspec = patch["spec"]["template"]["spec"]
    pcont = [c for c in pspec.get("containers") or [] if c.get("name") == FLUENT_BIT_CONTAINER]
    if not pcont:
        problems.add(PATCH, f"patches no container named {FLUENT_BIT_CONTAINER!r}")
        return
    set_by_patch = {e["name"] for e in pcont[0].get("env") or []}
    for f, used in dropin_vars(root).items():
        wanted = used | S3_CREDENTIALS
        for v in sorted(wanted - set_by_patch):
            why = "the s3 output reads it from the environment" if v in S3_CREDENTIALS else f"{f} uses ${{{v}}}"
            problems.add(PATCH, f"env {v} is not set by the patch ({why})")
        for v in sorted(set_by_patch - wanted):
            problems.add(PATCH, f"env {v} is set by the patch but not used by {f}")

    spec = pod_of(patched)["spec"]
    fb = [c for c in spec.get("containers") or [] if c.get("name") == FLUENT_BIT_CONTAINER]
    if fb:
        paths = [m.get("mountPath", "").rstrip("/") for m in fb[0].get("volumeMounts") or []]
        if not any(p in ("/var/log", "/var", "") for p in paths):
            problems.add(ident(patched), "the fluent-bit container does not mount /var/log (tail reads /var/log/containers)")
        env = {e.get("name"): e.get("value") for e in fb[0].get("env") or []}
        state_dir = env.get("AFTERLOG_STATE_DIR")
        try:
            filt = json.loads((root / FILTER_JSON).read_text())
        except json.JSONDecodeError as e:
            problems.add(FILTER_JSON, f"not JSON: {e}")
            return
        sf = filt.get("state_file")
        if sf and state_dir and not sf.startswith(state_dir.rstrip("/") + "/"):
            problems.add(FILTER_JSON, f"state_file {sf} is outside AFTERLOG_STATE_DIR {state_dir} (the filter's accessible paths)")
