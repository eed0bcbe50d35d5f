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
   the clap attributes in service/src/main.rs and service/src/args/; the JSON
   files handed to --compactor-config / --members against the Rust structs
   that read them; the patch's env against the `${NAME}`s of the drop-in
   files; the routing classes: every class the drop-in stores apart (an s3
   output of its own, left out of the catch-all output's look-ahead) is read
   by `serve` and compacted by `compact` with `--class NAME=STORE` at the
   prefix its output writes, and no `--class` names a class the drop-in
   stores at the root.

--self-test breaks a copy of the files in many ways (mutations.json) and
asserts each is caught.
"""
