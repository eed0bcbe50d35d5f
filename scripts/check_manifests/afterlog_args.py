"""The command line of an `afterlog` container, against clap's flags and
what each subcommand needs of its pod."""

from __future__ import annotations

import json

from .cli import CLI_SOURCES, serve_default
from .json_configs import JSON_FLAGS, check_serde, serde_structs
from .k8s import mib_of
from .repo import HEALTH_PATH, S3_CREDENTIALS


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
            problems.add(cw, f"{CLI_SOURCES}: no default for --shutdown-grace-seconds found")
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
