"""All checks of one tree: render, validate, then check the objects against
each other and against the code."""

from __future__ import annotations

from pathlib import Path

import yaml

from .bundle import Bundle, documented_secrets
from .classes import check_classes
from .cli import cli_model, cli_source
from .fluent_bit import check_fluent_bit
from .k8s import config_refs, ident, pod_of
from .problems import Problems
from .render import kustomize, render_patched_example
from .repo import EXAMPLE_DS, FLUENT_BIT_DIR, PATCH, SERVICE_DIR
from .schemas import schema_errors
from .services import check_services
from .workloads import check_workload


def run_checks(root: Path, renderer: str, verbose: bool = True) -> list[str]:
    problems = Problems()
    say = print if verbose else (lambda *a, **k: None)
    rendered: list[tuple[str, list[dict]]] = []
    for label, d in (("service", SERVICE_DIR), ("fluent-bit", FLUENT_BIT_DIR)):
        try:
            rendered.append((label, kustomize(root / d, renderer)))
        except Exception as e:
            problems.add(f"kustomize build {d}", str(e).strip() or repr(e))
    try:
        patched = render_patched_example(root, renderer)
    except Exception as e:
        problems.add(f"kustomize: {PATCH} onto {EXAMPLE_DS}", str(e).strip() or repr(e))
        patched = []
    if problems.items:
        return problems.items

    for label, objs in rendered + [("patched", patched)]:
        for o in objs:
            errs = schema_errors(o)
            for e in errs:
                problems.add(ident(o), e)
            say(f"{'ok  ' if not errs else 'FAIL'} {label:<10} {ident(o)}")

    cli = cli_model(cli_source(root))
    secrets = documented_secrets(root)
    example = yaml.safe_load((root / EXAMPLE_DS).read_text())
    service_objs = rendered[0][1]
    fb_objs = rendered[1][1] + patched
    for name, objs, admin in (("service", service_objs, set()), ("fluent-bit", fb_objs, config_refs(example))):
        bundle = Bundle(name, objs, secrets, admin)
        for o in objs:
            if pod_of(o):
                check_workload(o, bundle, cli, root, problems)
        check_services(bundle, problems)
    check_classes(root, service_objs, problems)
    ds = [o for o in patched if o.get("kind") == "DaemonSet"]
    if len(ds) != 1:
        problems.add(EXAMPLE_DS, f"expected one DaemonSet after patching, got {len(ds)}")
    else:
        check_fluent_bit(root, ds[0], problems)
    return problems.items
