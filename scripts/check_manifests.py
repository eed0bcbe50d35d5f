#!/usr/bin/env python3
"""Offline checks of afterlog's Kubernetes manifests (run by scripts/check-manifests).

1. Renders, with real kustomize (pykustomize: kustomize's Go library, from PyPI;
   else `kubectl kustomize` if pykustomize cannot load):
   - fluent-bit/k8s/            the service side (namespace afterlog)
   - fluent-bit/                the Fluent Bit side (namespace logging)
   - k8s/fluent-bit/daemonset-patch.yaml applied as a strategic merge to
     k8s/fluent-bit/example-daemonset.yaml (a copy of both in a temp dir).
2. Validates every rendered object against the Kubernetes JSON schemas bundled
   by kubernetes-validate, strict (unknown fields are errors), for Kubernetes
   1.31 and the newest version the package bundles.
3. Consistency checks the schemas cannot make: references to ConfigMaps,
   Secrets (admin-created ones as documented in k8s/secret.example.yaml) and
   their keys; volume mounts; paths in args and env lying on a mount (and on
   the right ConfigMap key); probes, ports, selectors; `afterlog` flags against
   the clap attributes in service/src/main.rs; the JSON files handed to
   --compactor-config / --members against the Rust structs that read them;
   the patch's env against the `${NAME}`s of the drop-in files; the routing
   classes: every class the drop-in stores apart (an s3 output of its own,
   left out of the catch-all output's look-ahead) is read by `serve` and
   compacted by `compact` with `--class NAME=STORE` at the prefix its output
   writes, and no `--class` names a class the drop-in stores at the root.

--self-test breaks a copy of the files in many ways and asserts each is caught.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
import kubernetes_validate
from kubernetes_validate import utils as kv_utils

SERVICE_DIR = "fluent-bit/k8s"
FLUENT_BIT_DIR = "fluent-bit"
PATCH = "fluent-bit/k8s/fluent-bit/daemonset-patch.yaml"
EXAMPLE_DS = "fluent-bit/k8s/fluent-bit/example-daemonset.yaml"
SECRET_EXAMPLE = "fluent-bit/k8s/secret.example.yaml"
DROPIN_FILES = ["fluent-bit/afterlog.yaml", "fluent-bit/afterlog.conf"]
FILTER_JSON = "fluent-bit/afterlog-filter.json"
MAIN_RS = "service/src/main.rs"
# JSON files the service reads, by flag: (Rust file, struct).
JSON_FLAGS = {
    "--compactor-config": ("compactor/src/config.rs", "Config"),
    "--members": ("service/src/auth.rs", "Members"),
    "--tokens": ("service/src/auth.rs", "Tokens"),
}
# The s3 output reads these from the environment, not through `${...}`.
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
HEALTH_PATH = "/v1/healthz"
METRICS_PATH = "/v1/metrics"
FLUENT_BIT_CONTAINER = "fluent-bit"
K8S_VERSIONS = ["1.31", kv_utils.major_minor(kv_utils.latest_version())]

# kubernetes-validate re-reads its 1.3 MB definitions for every object.
kv_utils.schema_contents = functools.lru_cache(maxsize=None)(kv_utils.schema_contents)


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, msg: str) -> None:
        self.items.append(f"{where}: {msg}")


# ---------------------------------------------------------------- rendering

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


# ---------------------------------------------------------------- Rust sources

STRUCT_RE = re.compile(r"((?:#\[[^\]]*\]\s*)*)pub\s+struct\s+(\w+)\s*\{(.*?)\n\}", re.S)
ANY_STRUCT_RE = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub\s+)?struct\s+(\w+)\s*\{(.*?)\n\}", re.S)
FIELD_RE = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub\s+)?(\w+)\s*:\s*([^\n]+?),?\s*\n")
ENUM_RE = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub\s+)?enum\s+(\w+)\s*\{(.*?)\n\}", re.S)


def strip_doc(body: str) -> str:
    return "\n".join(l for l in body.splitlines() if not l.strip().startswith("//"))


def fields_of(body: str) -> list[tuple[str, str, str]]:
    """(attributes, name, type) of each field of a struct body."""
    out = []
    # Attributes (even multi-line ones) are taken with the field they precede.
    for m in FIELD_RE.finditer(strip_doc(body) + "\n"):
        out.append((m.group(1), m.group(2), m.group(3).strip().rstrip(",")))
    return out


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower().replace("_", "-")


def cli_model(main_rs: str) -> dict[str, dict[str, dict]]:
    """subcommand -> {--flag: {"bool": bool, "values": set|None}} from clap derives."""
    structs = {m.group(2): m.group(3) for m in ANY_STRUCT_RE.finditer(main_rs)}
    enums = {m.group(2): (m.group(1), m.group(3)) for m in ENUM_RE.finditer(main_rs)}
    value_enums = {
        name: {kebab(v) for v in re.findall(r"^\s*(\w+)\s*,?\s*$", strip_doc(body), re.M)}
        for name, (attrs, body) in enums.items()
        if "ValueEnum" in attrs
    }

    def flags(struct: str) -> dict[str, dict]:
        if struct not in structs:
            raise SystemExit(f"check-manifests: {MAIN_RS}: struct {struct} not found")
        out: dict[str, dict] = {}
        for attrs, name, ty in fields_of(structs[struct]):
            if "flatten" in attrs:
                out.update(flags(ty))
                continue
            arg = re.search(r"#\[arg\((.*?)\)\]", attrs, re.S)
            if not arg or not re.search(r"\blong\b", arg.group(1)):
                continue
            explicit = re.search(r'\blong\s*=\s*"([^"]+)"', arg.group(1))
            flag = "--" + (explicit.group(1) if explicit else name.replace("_", "-"))
            inner = re.sub(r"^(Option|Vec)<(.*)>$", r"\2", ty)
            out[flag] = {"bool": ty == "bool", "values": value_enums.get(inner)}
        return out

    cmd = enums.get("Command")
    if not cmd:
        raise SystemExit(f"check-manifests: {MAIN_RS}: enum Command not found")
    model = {}
    for variant, args in re.findall(r"^\s*(\w+)\s*(?:\((\w+)\))?\s*,", strip_doc(cmd[1]), re.M):
        model[kebab(variant)] = flags(args) if args else {}
    return model


def serde_structs(rs: str) -> dict[str, list[dict]]:
    """struct -> fields [{name, type, flatten, optional}] (serde names = Rust names)."""
    out = {}
    for m in STRUCT_RE.finditer(rs):
        struct_default = re.search(r"#\[serde\([^\]]*\bdefault\b", m.group(1)) is not None
        fs = []
        for attrs, name, ty in fields_of(m.group(3)):
            serde = " ".join(re.findall(r"#\[serde\((.*?)\)\]", attrs, re.S))
            fs.append({
                "name": name,
                "type": ty,
                "flatten": "flatten" in serde,
                "optional": struct_default or "default" in serde or ty.startswith("Option<"),
            })
        out[m.group(2)] = fs
    return out


def check_serde(value, ty: str, structs: dict, where: str, problems: Problems) -> None:
    ty = ty.replace(" ", "")
    if ty.startswith("Option<"):
        if value is not None:
            check_serde(value, ty[7:-1], structs, where, problems)
        return
    m = re.match(r"^(?:BTreeMap|HashMap|FxHashMap)<String,(.*)>$", ty)
    if m:
        if not isinstance(value, dict):
            problems.add(where, f"expected an object ({ty}), got {json.dumps(value)}")
            return
        for k, v in value.items():
            check_serde(v, m.group(1), structs, f"{where}.{k}", problems)
        return
    m = re.match(r"^(?:Vec|BTreeSet|HashSet)<(.*)>$", ty)
    if m:
        if not isinstance(value, list):
            problems.add(where, f"expected an array ({ty}), got {json.dumps(value)}")
            return
        for i, v in enumerate(value):
            check_serde(v, m.group(1), structs, f"{where}[{i}]", problems)
        return
    if re.match(r"^[ui](8|16|32|64|size)$", ty):
        if not isinstance(value, int) or isinstance(value, bool) or (ty[0] == "u" and value < 0):
            problems.add(where, f"expected {ty}, got {json.dumps(value)}")
        return
    if ty in ("f32", "f64"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.add(where, f"expected {ty}, got {json.dumps(value)}")
        return
    if ty == "bool":
        if not isinstance(value, bool):
            problems.add(where, f"expected bool, got {json.dumps(value)}")
        return
    if ty in ("String", "PathBuf"):
        if not isinstance(value, str):
            problems.add(where, f"expected a string, got {json.dumps(value)}")
        return
    if ty in structs:
        if not isinstance(value, dict):
            problems.add(where, f"expected an object ({ty}), got {json.dumps(value)}")
            return
        known: dict[str, dict] = {}

        def collect(s: str) -> None:
            for f in structs[s]:
                if f["flatten"] and f["type"] in structs:
                    collect(f["type"])
                else:
                    known[f["name"]] = f

        collect(ty)
        for k, v in value.items():
            if k not in known:
                problems.add(where, f"unknown key {k!r} (struct {ty} has: {', '.join(sorted(known))})")
            else:
                check_serde(v, known[k]["type"], structs, f"{where}.{k}", problems)
        for k, f in known.items():
            if k not in value and not f["optional"]:
                problems.add(where, f"missing required key {k!r} (struct {ty})")
        return
    # A type this checker does not model: accepted as is.


# ---------------------------------------------------------------- Kubernetes helpers

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


# ---------------------------------------------------------------- checks

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
                    if b and b[1] is not None and "hostPath" not in b[1]:
                        problems.add(cw, f"env {name} {value} must be on a hostPath volume (it must outlive the pod)")

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


def mib_of(quantity) -> float | None:
    """A Kubernetes memory quantity in MiB (512Mi, 1Gi, 536870912, 1G)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([EPTGMK]i?|[kmgtpe]?)", str(quantity).strip())
    if not m:
        return None
    n, unit = float(m.group(1)), m.group(2)
    power = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
             "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "": 1}
    return n * power.get(unit, 1) / 2**20 if unit in power else None


def serve_default(flag_field: str, root: Path) -> int | None:
    """A `serve` flag's `default_value_t = N` in main.rs."""
    m = re.search(rf"default_value_t\s*=\s*(\d+)\)\]\s*{flag_field}\s*:", (root / MAIN_RS).read_text())
    return int(m.group(1)) if m else None


def check_afterlog_args(c, cw, cli, check_path, backing, bundle, ns, root, all_ports, problems, pod_spec) -> None:
    args = [str(a) for a in c.get("args") or []]
    if not args or args[0] not in cli:
        problems.add(cw, f"args must start with an afterlog subcommand ({', '.join(sorted(cli))}), got {args[:1]}")
        return
    sub, flags = args[0], cli[args[0]]
    values: dict[str, str] = {}
    i = 1
    while i < len(args):
        tok = args[i]
        if not tok.startswith("--"):
            problems.add(cw, f"afterlog {sub}: unexpected argument {tok!r}")
            i += 1
            continue
        flag, eq, val = tok.partition("=")
        spec = flags.get(flag)
        if spec is None:
            problems.add(cw, f"afterlog {sub}: unknown flag {flag} (known: {' '.join(sorted(flags))})")
            i += 1
            continue
        if spec["bool"]:
            if eq:
                problems.add(cw, f"afterlog {sub}: {flag} takes no value")
            i += 1
            continue
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                problems.add(cw, f"afterlog {sub}: {flag} needs a value")
                i += 1
                continue
            val = args[i + 1]
            i += 2
        else:
            i += 1
        if spec["values"] is not None and val not in spec["values"]:
            problems.add(cw, f"afterlog {sub}: {flag} {val!r} is not one of {sorted(spec['values'])}")
        values[flag] = val

    if sub == "serve":
        listen = values.get("--listen", "127.0.0.1:8080")
        host, _, port = listen.rpartition(":")
        if host.strip("[]") in ("127.0.0.1", "localhost", "::1"):
            problems.add(cw, f"--listen {listen} is loopback: unreachable from the Service and probes")
        if not port.isdigit() or int(port) not in all_ports:
            problems.add(cw, f"--listen port {port} is no containerPort")
        for probe in ("readinessProbe", "livenessProbe"):
            hg = (c.get(probe) or {}).get("httpGet")
            if not hg:
                problems.add(cw, f"afterlog serve needs a {probe} (httpGet {HEALTH_PATH})")
            elif hg.get("path") != HEALTH_PATH:
                problems.add(cw, f"{probe} path must be {HEALTH_PATH}, is {hg.get('path')!r}")
            elif port.isdigit() and hg.get("port") not in (int(port), next((p.get("name") for p in c.get("ports") or [] if p.get("containerPort") == int(port)), None)):
                problems.add(cw, f"{probe} port {hg.get('port')!r} is not the --listen port {port}")
        # SIGTERM: follows end, reads get --shutdown-grace-seconds; the pod
        # must not be killed before.
        env = {e.get("name"): e.get("value") for e in c.get("env") or []}
        grace = (values.get("--shutdown-grace-seconds") or env.get("AFTERLOG_SHUTDOWN_GRACE_SECONDS")
                 or serve_default("shutdown_grace_seconds", root))
        pod_grace = pod_spec.get("terminationGracePeriodSeconds", 30)
        if grace is None:
            problems.add(cw, f"{MAIN_RS}: no default for --shutdown-grace-seconds found")
        elif not str(grace).isdigit():
            problems.add(cw, f"--shutdown-grace-seconds {grace!r} is not a number of seconds")
        elif not int(pod_grace) > int(grace):
            problems.add(cw, f"terminationGracePeriodSeconds {pod_grace} must exceed --shutdown-grace-seconds {grace}")
        # The memory budget defaults to 3/4 of the container's limit.
        limit = mib_of(((c.get("resources") or {}).get("limits") or {}).get("memory", ""))
        budget = values.get("--memory-budget-mib")
        if limit is None:
            problems.add(cw, "afterlog serve needs a memory limit: its memory budget for reads follows it")
        elif budget is not None and not (budget.isdigit() and int(budget) < limit):
            problems.add(cw, f"--memory-budget-mib {budget} must be below the memory limit ({limit:.0f} MiB)")
    if values.get("--store", "").startswith("s3://"):
        env = {e.get("name") for e in c.get("env") or []}
        for need in sorted(S3_CREDENTIALS - env):
            problems.add(cw, f"--store s3:// needs env {need}")

    for flag, (rs_file, struct) in JSON_FLAGS.items():
        path = values.get(flag)
        if path is None or flag not in flags:
            continue
        check_path(path, flag, must_be_file=True)
        b = backing(path)
        if not b or b[1] is None or "configMap" not in b[1]:
            continue
        cm = bundle.find("ConfigMap", b[1]["configMap"].get("name"), ns)
        key = path[len(b[0]["mountPath"].rstrip("/")):].strip("/")
        text = ((cm or {}).get("data") or {}).get(key)
        if text is None:
            continue
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            problems.add(cw, f"{flag} {path}: not JSON: {e}")
            continue
        structs = serde_structs((root / rs_file).read_text())
        if struct not in structs:
            raise SystemExit(f"check-manifests: {rs_file}: struct {struct} not found")
        check_serde(doc, struct, structs, f"{cw} {flag} {path}", problems)


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


def dropin_classes(root: Path, problems: Problems) -> tuple[dict[str, str], set[str]] | None:
    """The drop-in's s3 outputs: {class: key prefix} of the classes with an
    output of their own, and the classes the catch-all output's look-ahead
    leaves out (it stores every other class at the bucket's root)."""
    f = "fluent-bit/afterlog.yaml"
    doc = yaml.safe_load((root / f).read_text())
    own: dict[str, str] = {}
    excluded: set[str] | None = None
    for o in (doc.get("pipeline") or {}).get("outputs") or []:
        if o.get("name") != "s3":
            continue
        key = str(o.get("s3_key_format", ""))
        m = re.fullmatch(r"/((?:[^/]+/)*)raw/\$TAG\[2\]/\$TAG\[3\]/\$TAG\[4\]/\$TAG\[5\]/.*", key)
        if not m:
            problems.add(f, f"output {o.get('alias')}: s3_key_format {key!r} is not [/prefix]/raw/$TAG[2]/…/$TAG[5]/…")
            continue
        prefix = m.group(1).rstrip("/")
        if "match_regex" in o:
            look = re.fullmatch(r"\^afterlog\\\.\(\?!((?:[a-z0-9-]+\\\.\|?)+)\)", str(o["match_regex"]))
            if not look or prefix:
                problems.add(f, f"output {o.get('alias')}: the catch-all output must be match_regex '^afterlog\\.(?!a\\.|b\\.)' writing at the bucket's root")
                continue
            excluded = {c[:-2] for c in look.group(1).split("|") if c}
        else:
            mc = re.fullmatch(r"afterlog\.([a-z0-9-]+)\.\*", str(o.get("match", "")))
            if not mc:
                problems.add(f, f"output {o.get('alias')}: match {o.get('match')!r} is not afterlog.<class>.*")
                continue
            own[mc.group(1)] = prefix
    if excluded is None:
        problems.add(f, "no catch-all s3 output (match_regex '^afterlog\\.(?!…)'): a class without an output would be lost")
        return None
    if excluded != set(own):
        problems.add(f, f"the catch-all output leaves out {sorted(excluded)} but the classes with an output of their own are {sorted(own)}")
    return own, excluded


def check_classes(root: Path, objs: list[dict], problems: Problems) -> None:
    """Every afterlog workload reads (serve) or compacts (compact) exactly the
    classes the drop-in stores apart, each at the prefix its output writes."""
    got = dropin_classes(root, problems)
    if got is None:
        return
    own, _ = got
    for o in objs:
        spec = pod_of(o)
        if not spec:
            continue
        for c in containers_of(spec.get("spec") or {}):
            if not is_afterlog(c):
                continue
            args = [str(a) for a in c.get("args") or []]
            if not args or args[0] not in ("serve", "compact"):
                continue
            cw = f"{ident(o)} container {c.get('name')}"
            store, classes = None, {}
            for i, a in enumerate(args[:-1]):
                if a == "--store":
                    store = args[i + 1]
                elif a == "--class":
                    name, _, url = args[i + 1].partition("=")
                    classes[name] = url
            for e in c.get("env") or []:
                if e.get("name") == "AFTERLOG_CLASSES" and e.get("value"):
                    for pair in filter(None, (x.strip() for x in e["value"].split(","))):
                        name, _, url = pair.partition("=")
                        classes[name] = url
            if not store:
                continue
            for name in sorted(set(own) - set(classes)):
                problems.add(cw, f"afterlog {args[0]} has no --class {name}=…: the drop-in stores class {name} apart, so it would never be {'served' if args[0] == 'serve' else 'compacted or expired'}")
            for name, url in sorted(classes.items()):
                if name not in own:
                    problems.add(cw, f"--class {name}: the drop-in has no output for class {name} (it is stored with the default class)")
                    continue
                want = f"{store.rstrip('/')}/{own[name]}"
                if url.rstrip("/") != want:
                    problems.add(cw, f"--class {name}={url}: the drop-in's output writes it at {want}")



def documented_secrets(root: Path) -> dict[str, set[str]]:
    out = {}
    for d in yaml.safe_load_all((root / SECRET_EXAMPLE).read_text()):
        if d and d.get("kind") == "Secret":
            out[d["metadata"]["name"]] = set(d.get("stringData") or {}) | set(d.get("data") or {})
    return out


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

    # Schemas.
    for label, objs in rendered + [("patched", patched)]:
        for o in objs:
            errs = []
            for v in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(o, v, strict=True)
                except kubernetes_validate.ValidationError as e:
                    path = "/".join(str(p) for p in e.path) or "(top)"
                    errs.append(f"Kubernetes {v} schema (strict), at {path}: {e.message}")
                except Exception as e:
                    errs.append(f"Kubernetes {v} schema: {e}")
            for e in errs:
                problems.add(ident(o), e)
            say(f"{'ok  ' if not errs else 'FAIL'} {label:<10} {ident(o)}")

    # References and consistency.
    cli = cli_model((root / MAIN_RS).read_text())
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


# ---------------------------------------------------------------- self-test

# (what it breaks, file, old text, new text, a word the failure must contain)
MUTATIONS = [
    ("probe path", "fluent-bit/k8s/service.yaml", "path: /v1/healthz", "path: /healthz", HEALTH_PATH),
    ("unknown field", "fluent-bit/k8s/service.yaml", "      automountServiceAccountToken: false\n",
     "      automountServiceAccountToken: false\n      hostNetworkk: true\n", "schema"),
    ("wrong field type", "fluent-bit/k8s/compactor.yaml", "backoffLimit: 1", "backoffLimit: one", "schema"),
    ("missing volume", "fluent-bit/k8s/service.yaml", "        - name: tmp\n          emptyDir:",
     "        - name: scratch\n          emptyDir:", "has no volume"),
    ("unknown afterlog flag", "fluent-bit/k8s/service.yaml", "- --compact-every-minutes", "- --compact-every-minute", "unknown flag"),
    ("bad --auth value", "fluent-bit/k8s/service.yaml", "- gateway", "- gateways", "is not one of"),
    ("undefined $(VAR)", "fluent-bit/k8s/compactor.yaml", "s3://$(AFTERLOG_BUCKET)", "s3://$(AFTERLOG_BUCKETS)", "$(AFTERLOG_BUCKETS)"),
    ("compactor.json unknown key", "fluent-bit/k8s/compactor.yaml", '"settle_minutes": 15', '"settle_minute": 15', "settle_minute"),
    ("compactor.json retention key", "fluent-bit/k8s/compactor.yaml", '"max_age_days": 90', '"max_age": 90', "max_age"),
    ("compactor.json type", "fluent-bit/k8s/compactor.yaml", '"gzip_level": 2', '"gzip_level": "2"', "expected u32"),
    ("members.json key", "fluent-bit/k8s/service.yaml", '{"admins":', '{"admin":', "unknown key 'admin'"),
    ("config path off its ConfigMap", "fluent-bit/k8s/service.yaml", "- /etc/afterlog/members/members.json",
     "- /etc/afterlog/members/member.json", "has no key 'member.json'"),
    ("config path on no mount", "fluent-bit/k8s/compactor.yaml", "- /etc/afterlog/compactor/compactor.json",
     "- /etc/afterlog/compactr/compactor.json", "on no volumeMount"),
    ("missing ConfigMap key", "fluent-bit/k8s/settings.yaml", "AFTERLOG_S3_REGION: us-east-1", "AFTERLOG_REGION: us-east-1", "has no key"),
    ("unknown Secret", "fluent-bit/k8s/compactor.yaml", "name: afterlog-s3", "name: afterlog-s4", "afterlog-s4"),
    ("unknown ConfigMap", "fluent-bit/k8s/service.yaml", "name: afterlog-members", "name: afterlog-member", "afterlog-member"),
    ("Service targetPort", "fluent-bit/k8s/service.yaml", "targetPort: http", "targetPort: web", "targetPort"),
    ("loopback listen", "fluent-bit/k8s/service.yaml", "- 0.0.0.0:8080", "- 127.0.0.1:8080", "loopback"),
    ("shutdown grace over the pod's", "fluent-bit/k8s/service.yaml", "terminationGracePeriodSeconds: 30",
     "terminationGracePeriodSeconds: 20", "terminationGracePeriodSeconds"),
    ("no memory limit for the budget", "fluent-bit/k8s/service.yaml", "            limits:\n              memory: 512Mi",
     "            limits:\n              cpu: \"2\"", "memory limit"),
    ("budget over the memory limit", "fluent-bit/k8s/service.yaml", "            - --compact-every-minutes\n",
     "            - --memory-budget-mib\n            - \"600\"\n            - --compact-every-minutes\n", "below the memory limit"),
    ("prometheus path", "fluent-bit/k8s/service.yaml", "prometheus.io/path: /v1/metrics", "prometheus.io/path: /metrics", METRICS_PATH),
    ("unknown kustomization key", "fluent-bit/k8s/kustomization.yaml", "images:", "imagez:", "kustomize build"),
    ("patch env not in drop-in", PATCH, "- name: AFTERLOG_STATE_DIR", "- name: AFTERLOG_STATE_DIRS", "AFTERLOG_STATE_DIR"),
    ("patch misses a credential", PATCH, "- name: AWS_SECRET_ACCESS_KEY", "- name: AWS_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
    ("state dir not hostPath", PATCH, "hostPath:\n            path: /var/lib/afterlog\n            type: DirectoryOrCreate",
     "emptyDir: {}", "hostPath"),
    ("filter file not copied", PATCH, "value: /afterlog-filter/afterlog_filter.wasm",
     "value: /afterlog-filter/afterlog-filter.wasm", "no init container writes"),
    ("patch volume missing", PATCH, "        - name: afterlog-filter\n          emptyDir:",
     "        - name: afterlog-filters\n          emptyDir:", "has no volume"),
    ("container name mismatch", EXAMPLE_DS, "        - name: fluent-bit\n          image:",
     "        - name: fluentbit\n          image:", "has no image"),
    ("DaemonSet name mismatch", PATCH, "  name: fluent-bit\n  namespace: logging", "  name: fluentbit\n  namespace: logging",
     "kustomize"),
    ("no /var/log", EXAMPLE_DS, "mountPath: /var/log\n", "mountPath: /var/logs\n", "/var/log"),
    ("class prefix off the drop-in's", "fluent-bit/k8s/service.yaml", "- long-retention=s3://$(AFTERLOG_BUCKET)/long-retention",
     "- long-retention=s3://$(AFTERLOG_BUCKET)/long", "the drop-in's output writes it"),
    ("class not compacted", "fluent-bit/k8s/compactor.yaml", "                - --class\n                - long-retention=s3://$(AFTERLOG_BUCKET)/long-retention\n",
     "", "has no --class long-retention"),
    ("look-ahead misses a class", "fluent-bit/afterlog.yaml", "(?!long-retention\\.)'", "(?!long\\.)'", "leaves out"),
]

COPY_FOR_SELF_TEST = ["fluent-bit", "service/src", "compactor/src"]


def self_test(root: Path, renderer: str) -> int:
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
        for i, (what, file, old, new, expect) in enumerate(MUTATIONS):
            work = Path(tmp) / f"m{i}"
            shutil.copytree(base, work)
            text = (work / file).read_text()
            if old not in text:
                failures.append(f"{what}: {file} no longer contains {old!r}: update MUTATIONS")
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
        print(f"self-test: {len(failures)} of {len(MUTATIONS)} mutations not caught:")
        for f in failures:
            print(f"  {f}")
        return 1
    print(f"self-test: all {len(MUTATIONS)} mutations caught")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--self-test", action="store_true", help="check that each check fails on a broken copy")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
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
