"""Reading rendered Kubernetes objects: names, pod templates, containers,
selectors, references and quantities."""

from __future__ import annotations

import re


def ident(o: dict) -> str:
    md = o.get("metadata", {})
    ns = md.get("namespace")
    return f"{ns + '/' if ns else ''}{o.get('kind')}/{md.get('name')}"


def pod_of(o: dict) -> dict | None:
    """The pod template of a workload, else None."""
    kind = o.get("kind")
    spec = o.get("spec", {})
    if kind in ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"):
        return spec.get("template")
    if kind == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template")
    return None


def containers_of(pod_spec: dict) -> list[dict]:
    return list(pod_spec.get("initContainers") or []) + list(pod_spec.get("containers") or [])


def is_afterlog(c: dict) -> bool:
    image = c.get("image", "")
    return image.rsplit("/", 1)[-1].split("@")[0].split(":")[0] == "afterlog"


def selector_matches(selector: dict, labels: dict) -> bool:
    ml = selector.get("matchLabels") or {}
    return bool(ml) and all(labels.get(k) == v for k, v in ml.items())


def config_refs(o: dict) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap/Secret a workload refers to."""
    refs = set()
    pod = pod_of(o)
    if not pod:
        return refs
    spec = pod.get("spec", {})
    for v in spec.get("volumes") or []:
        if "configMap" in v:
            refs.add(("ConfigMap", v["configMap"].get("name")))
        if "secret" in v:
            refs.add(("Secret", v["secret"].get("secretName")))
    for c in containers_of(spec):
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            if "configMapKeyRef" in vf:
                refs.add(("ConfigMap", vf["configMapKeyRef"].get("name")))
            if "secretKeyRef" in vf:
                refs.add(("Secret", vf["secretKeyRef"].get("name")))
        for ef in c.get("envFrom") or []:
            if "configMapRef" in ef:
                refs.add(("ConfigMap", ef["configMapRef"].get("name")))
            if "secretRef" in ef:
                refs.add(("Secret", ef["secretRef"].get("name")))
    return refs


def mib_of(quantity) -> float | None:
    """A Kubernetes memory quantity in MiB (512Mi, 1Gi, 536870912, 1G)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([EPTGMK]i?|[kmgtpe]?)", str(quantity).strip())
    if not m:
        return None
    n, unit = float(m.group(1)), m.group(2)
    power = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
             "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "": 1}
    return n * power.get(unit, 1) / 2**20 if unit in power else None
