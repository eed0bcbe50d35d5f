"""The objects of one namespace, and the ConfigMaps and Secrets an admin
creates there by hand."""

from __future__ import annotations

from pathlib import Path

import yaml

from .problems import Problems
from .repo import SECRET_EXAMPLE


def documented_secrets(root: Path) -> dict[str, set[str]]:
    out = {}
    for d in yaml.safe_load_all((root / SECRET_EXAMPLE).read_text()):
        if d and d.get("kind") == "Secret":
            out[d["metadata"]["name"]] = set(d.get("stringData") or {}) | set(d.get("data") or {})
    return out


class Bundle:
    """Objects that live in one namespace, plus what the admin provides there."""

    def __init__(self, name: str, objects: list[dict], documented_secrets: dict[str, set[str]],
                 admin_refs: set[tuple[str, str]]):
        self.name = name
        self.objects = objects
        self.documented_secrets = documented_secrets
        self.admin_refs = admin_refs

    def find(self, kind: str, name: str, namespace: str | None) -> dict | None:
        for o in self.objects:
            md = o.get("metadata", {})
            if o.get("kind") == kind and md.get("name") == name and md.get("namespace") == namespace:
                return o
        return None

    def keys_of(self, kind: str, name: str, namespace: str | None, where: str, problems: Problems):
        """The keys of a ConfigMap/Secret, or None when it is the admin's (keys unknown)."""
        o = self.find(kind, name, namespace)
        if o is not None:
            return set((o.get("data") or {})) | set((o.get("stringData") or {})) | set((o.get("binaryData") or {}))
        if kind == "Secret" and name in self.documented_secrets:
            return self.documented_secrets[name]
        if (kind, name) in self.admin_refs:
            return None
        problems.add(where, f"{kind} {name!r} is neither rendered in namespace {namespace} nor documented as admin-created")
        return None
