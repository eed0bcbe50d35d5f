"""Where the checked files lie in the repository, and what the service and
the drop-in expect of the manifests."""

SERVICE_DIR = "fluent-bit/k8s"
FLUENT_BIT_DIR = "fluent-bit"
PATCH = "fluent-bit/k8s/fluent-bit/daemonset-patch.yaml"
EXAMPLE_DS = "fluent-bit/k8s/fluent-bit/example-daemonset.yaml"
SECRET_EXAMPLE = "fluent-bit/k8s/secret.example.yaml"
DROPIN_YAML = "fluent-bit/afterlog.yaml"
DROPIN_FILES = [DROPIN_YAML, "fluent-bit/afterlog.conf"]
FILTER_JSON = "fluent-bit/afterlog-filter.json"
MAIN_RS = "service/src/main.rs"
# clap's derives of the subcommands' arguments live here, beside main.rs.
ARGS_DIR = "service/src/args"
# The s3 output reads these from the environment, not through `${...}`.
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
HEALTH_PATH = "/v1/healthz"
METRICS_PATH = "/v1/metrics"
FLUENT_BIT_CONTAINER = "fluent-bit"
