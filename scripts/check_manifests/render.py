"""Rendering the kustomizations with real kustomize."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from .repo import EXAMPLE_DS, PATCH


def renderer_name() -> str:
    forced = os.environ.get("AFTERLOG_KUSTOMIZE")
    if forced:
        return forced
    try:
        import pykustomize  # noqa: F401

        pykustomize.get_version()
        return "pykustomize"
    except Exception:  # the native library may not load on this platform
        if shutil.which("kubectl"):
            return "kubectl"
        raise SystemExit("check-manifests: no kustomize: pykustomize does not load and kubectl is missing")


def kustomize(directory: Path, renderer: str) -> list[dict]:
    if renderer == "pykustomize":
        import pykustomize

        text = asyncio.run(pykustomize.build(str(directory))).yaml
    elif renderer == "kubectl":
        r = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip())
        text = r.stdout
    else:
        raise SystemExit(f"check-manifests: unknown AFTERLOG_KUSTOMIZE={renderer} (pykustomize or kubectl)")
    return [d for d in yaml.safe_load_all(text) if d]


def render_patched_example(root: Path, renderer: str) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="afterlog-patch-") as tmp:
        t = Path(tmp)
        shutil.copy(root / EXAMPLE_DS, t / "example-daemonset.yaml")
        shutil.copy(root / PATCH, t / "daemonset-patch.yaml")
        (t / "kustomization.yaml").write_text(
            "resources: [example-daemonset.yaml]\npatches: [{path: daemonset-patch.yaml}]\n"
        )
        return kustomize(t, renderer)
