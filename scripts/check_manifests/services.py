"""Services and PodDisruptionBudgets: each selects a pod template, and a
Service's ports are the pods' ports."""

from __future__ import annotations

from .bundle import Bundle
from .k8s import containers_of, ident, pod_of, selector_matches
from .problems import Problems


def check_services(bundle: Bundle, problems: Problems) -> None:
    workloads = [o for o in bundle.objects if pod_of(o)]
    for o in bundle.objects:
        where = ident(o)
        ns = o.get("metadata", {}).get("namespace")
        if o.get("kind") == "Service":
            sel = o.get("spec", {}).get("selector") or {}
            pods = [w for w in workloads if w["metadata"].get("namespace") == ns
                    and sel and all(((pod_of(w).get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in sel.items())]
            if not pods:
                problems.add(where, f"selector {sel} matches no pod template")
            for p in o.get("spec", {}).get("ports") or []:
                tp = p.get("targetPort", p.get("port"))
                for w in pods:
                    ports = set()
                    for c in containers_of(pod_of(w).get("spec", {})):
                        for cp in c.get("ports") or []:
                            ports.update({cp.get("containerPort"), cp.get("name")})
                    if tp not in ports:
                        problems.add(where, f"targetPort {tp!r} is no containerPort of {ident(w)}")
        if o.get("kind") == "PodDisruptionBudget":
            sel = o.get("spec", {}).get("selector") or {}
            if not any(selector_matches(sel, (pod_of(w).get("metadata") or {}).get("labels") or {})
                       for w in workloads if w["metadata"].get("namespace") == ns):
                problems.add(where, f"selector {sel} matches no pod template")
