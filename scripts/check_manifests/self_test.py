"""Breaks copies of the files, one mutation each (mutations.json), and
asserts the checks catch every one."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from .checks import run_checks

MUTATIONS_FILE = Path(__file__).resolve().parent / "mutations.json"
MUTATIONS_SHOWN = "scripts/check_manifests/mutations.json"
COPY_FOR_SELF_TEST = ["fluent-bit", "service/src", "compactor/src"]


def load_mutations() -> list[dict]:
    """Each: what it breaks, the file, its old and new text, and a word the
    failure must contain."""
    return json.loads(MUTATIONS_FILE.read_text())


def self_test(root: Path, renderer: str) -> int:
    mutations = load_mutations()
    failures = []
    with tempfile.TemporaryDirectory(prefix="afterlog-manifests-") as tmp:
        base = Path(tmp) / "base"
        for d in COPY_FOR_SELF_TEST:
            shutil.copytree(root / d, base / d)
        clean = run_checks(base, renderer, verbose=False)
        if clean:
            print("self-test: the unmodified files do not pass; fix them first:")
            for p in clean:
                print(f"  {p}")
            return 1
        for i, m in enumerate(mutations):
            what, file, old, new, expect = m["what"], m["file"], m["old"], m["new"], m["expect"]
            work = Path(tmp) / f"m{i}"
            shutil.copytree(base, work)
            text = (work / file).read_text()
            if old not in text:
                failures.append(f"{what}: {file} no longer contains {old!r}: update {MUTATIONS_SHOWN}")
                continue
            (work / file).write_text(text.replace(old, new, 1))
            found = run_checks(work, renderer, verbose=False)
            hit = [p for p in found if expect in p]
            if hit:
                print(f"caught  {what:<32} {hit[0][:150]}")
            else:
                failures.append(f"{what}: not caught (expected a problem mentioning {expect!r}; got {found or 'none'})")
                print(f"MISSED  {what}")
            shutil.rmtree(work)
    if failures:
        print(f"self-test: {len(failures)} of {len(mutations)} mutations not caught:")
        for f in failures:
            print(f"  {f}")
        return 1
    print(f"self-test: all {len(mutations)} mutations caught")
    return 0
