"""Every rendered object against the Kubernetes JSON schemas, strict."""

from __future__ import annotations

import functools

import kubernetes_validate
from kubernetes_validate import utils as kv_utils

K8S_VERSIONS = ["1.31", kv_utils.major_minor(kv_utils.latest_version())]

# kubernetes-validate re-reads its 1.3 MB definitions for every object.
kv_utils.schema_contents = functools.lru_cache(maxsize=None)(kv_utils.schema_contents)


def schema_errors(o: dict) -> list[str]:
    errs = []
    for v in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(o, v, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.path) or "(top)"
            errs.append(f"Kubernetes {v} schema (strict), at {path}: {e.message}")
        except Exception as e:
            errs.append(f"Kubernetes {v} schema: {e}")
    return errs
