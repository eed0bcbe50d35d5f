from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __doc__ as package_doc
from .checks import run_checks
from .render import renderer_name
from .repo import DROPIN_FILES, FILTER_JSON, MAIN_RS
from .schemas import K8S_VERSIONS
from .self_test import self_test


def main() -> int:
    ap = argparse.ArgumentParser(prog="check-manifests", description=package_doc.split("\n\n")[0])
    ap.add_argument("--self-test", action="store_true", help="check that each check fails on a broken copy")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    a = ap.parse_args()
    start = time.monotonic()
    renderer = renderer_name()
    missing = [f for f in DROPIN_FILES + [FILTER_JSON, MAIN_RS] if not (a.root / f).exists()]
    if missing:
        print(f"check-manifests: missing {', '.join(missing)}")
        return 1
    if a.self_test:
        rc = self_test(a.root, renderer)
    else:
        print(f"check-manifests: kustomize via {renderer}; schemas: Kubernetes {', '.join(K8S_VERSIONS)} (strict)")
        problems = run_checks(a.root, renderer)
        for p in problems:
            print(f"FAIL {p}")
        print(f"check-manifests: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        rc = 1 if problems else 0
    print(f"check-manifests: {time.monotonic() - start:.1f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
