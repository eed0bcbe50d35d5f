"""A workload's pod template: selector, volumes and mounts, references to
ConfigMaps and Secrets and their keys, paths in env on the right mount,
probes and ports, the Prometheus annotations."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .afterlog_args import check_afterlog_args
from .bundle import Bundle
from .k8s import containers_of, ident, is_afterlog, pod_of, selector_matches
from .problems import Problems
from .repo import METRICS_PATH


def check_workload(o: dict, bundle: Bundle, cli: dict, root: Path, problems: Problems) -> None:
    where = ident(o)
    ns = o.get("metadata", {}).get("namespace")
    pod = pod_of(o)
    spec = pod.get("spec", {})
    labels = (pod.get("metadata") or {}).get("labels") or {}
    sel = o.get("spec", {}).get("selector")
    if sel is not None and not selector_matches(sel, labels):
        problems.add(where, f"selector {sel} does not match the pod template's labels {labels}")

    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    for v in volumes.values():
        if "configMap" in v:
            keys = bundle.keys_of("ConfigMap", v["configMap"].get("name"), ns, where, problems)
            for it in v["configMap"].get("items") or []:
                if keys is not None and it.get("key") not in keys:
                    problems.add(where, f"volume {v['name']}: ConfigMap {v['configMap']['name']} has no key {it.get('key')!r}")
        if "secret" in v:
            bundle.keys_of("Secret", v["secret"].get("secretName"), ns, where, problems)

    all_ports = {}
    for c in containers_of(spec):
        for p in c.get("ports") or []:
            all_ports[p.get("containerPort")] = c.get("name")
            if p.get("name"):
                all_ports[p.get("name")] = c.get("name")

    for c in containers_of(spec):
        cw = f"{where} container {c.get('name')}"
        if not c.get("image"):
            problems.add(cw, "has no image (does a patch name a container the DaemonSet does not have?)")
        mounts = c.get("volumeMounts") or []
        for m in mounts:
            if m.get("name") not in volumes:
                problems.add(cw, f"volumeMount {m.get('name')!r} has no volume")

        env_names: list[str] = []
        for e in c.get("env") or []:
            env_names.append(e.get("name"))
            vf = e.get("valueFrom") or {}
            for kind, ref in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if ref in vf:
                    r = vf[ref]
                    keys = bundle.keys_of(kind, r.get("name"), ns, cw, problems)
                    if keys is not None and r.get("key") not in keys and not r.get("optional"):
                        problems.add(cw, f"env {e.get('name')}: {kind} {r.get('name')} has no key {r.get('key')!r}")
        for ef in c.get("envFrom") or []:
            for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if ref in ef:
                    keys = bundle.keys_of(kind, ef[ref].get("name"), ns, cw, problems)
                    env_names.extend(sorted(keys or []))
        env_values = {e.get("name"): e.get("value") for e in c.get("env") or [] if "value" in e}

        argv = list(c.get("command") or []) + list(c.get("args") or [])
        for tok in argv:
            for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(tok)):
                if var not in env_names:
                    problems.add(cw, f"$({var}) in command/args is not an env var of the container")

        def backing(path: str):
            """The (mount, volume) a path lies on, deepest mount first."""
            best = None
            for m in mounts:
                mp = m.get("mountPath", "").rstrip("/") or "/"
                if path == mp or path.startswith(mp + "/"):
                    if best is None or len(mp) > len(best[0].get("mountPath", "").rstrip("/")):
                        best = (m, volumes.get(m.get("name")))
            return best

        def check_path(path: str, what: str, must_be_file: bool) -> None:
            b = backing(path)
            if b is None:
                problems.add(cw, f"{what} {path} is on no volumeMount of the container")
                return
            m, vol = b
            if vol is None:
                return  # reported above
            rest = path[len(m.get("mountPath", "").rstrip("/")):].strip("/")
            if "configMap" in vol and must_be_file:
                keys = bundle.keys_of("ConfigMap", vol["configMap"].get("name"), ns, cw, problems)
                if keys is not None and rest not in keys:
                    problems.add(cw, f"{what} {path}: ConfigMap {vol['configMap']['name']} (at {m['mountPath']}) has no key {rest!r}")
            if "emptyDir" in vol and must_be_file:
                # A file on an emptyDir must be put there by an init container.
                writers = [ic for ic in spec.get("initContainers") or []
                           if any(im.get("name") == m.get("name") for im in ic.get("volumeMounts") or [])]
                if not any(os.path.basename(path) in " ".join(map(str, (ic.get("command") or []) + (ic.get("args") or [])))
                           for ic in writers):
                    problems.add(cw, f"{what} {path}: no init container writes {os.path.basename(path)} into emptyDir {m['name']}")

        for name, value in env_values.items():
            if isinstance(value, str) and value.startswith("/"):
                check_path(value, f"env {name}", must_be_file=bool(os.path.splitext(value)[1]))
                if name.endswith("_STATE_DIR"):
                    b = backing(value)
                    if b and b[1] is not None and "hostPath" not in b[1] and "persistentVolumeClaim" not in b[1]:
                        problems.add(cw, f"env {name} {value} must be on a hostPath or persistentVolumeClaim volume (it must outlive the pod)")

        # Probes and ports.
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            hg = (c.get(probe) or {}).get("httpGet")
            if hg and hg.get("port") not in all_ports:
                problems.add(cw, f"{probe} port {hg.get('port')!r} is no containerPort")

        if is_afterlog(c) and not c.get("command"):
            check_afterlog_args(c, cw, cli, check_path, backing, bundle, ns, root, all_ports, problems, spec)

    ann = (pod.get("metadata") or {}).get("annotations") or {}
    if ann.get("prometheus.io/scrape") == "true":
        port = ann.get("prometheus.io/port", "")
        if not port.isdigit() or int(port) not in all_ports:
            problems.add(where, f"prometheus.io/port {port!r} is no containerPort")
        if any(is_afterlog(c) for c in containers_of(spec)) and ann.get("prometheus.io/path") != METRICS_PATH:
            problems.add(where, f"prometheus.io/path must be {METRICS_PATH}, is {ann.get('prometheus.io/path')!r}")
