# syntax=docker/dockerfile:1
# The afterlog image: the service/CLI (`afterlog serve`, `afterlog compact`)
# and the Fluent Bit filter, which the DaemonSet's init container copies out
# (fluent-bit/k8s/fluent-bit/daemonset-patch.yaml).
#
#   docker build -t registry.example.org/afterlog:0.1.0 .
#
# The filter is always shipped as the portable afterlog_filter.wasm. To ship
# the native afterlog_filter.aot as well, put the flb-wamrc of the Fluent Bit
# release your nodes run into the build context and name it:
#   docker build --build-arg FLB_WAMRC=/src/flb-wamrc …
FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-wasip1
WORKDIR /src
COPY . .
ARG FLB_WAMRC=/nonexistent/flb-wamrc
# scripts/build-filter writes target/wasm32-wasip1/release/afterlog_filter.wasm
# (and .aot beside it when FLB_WAMRC exists). The caches keep crates and
# target/ between builds, so the artifacts are copied out in the same step.
# The server is built without the demo (default feature `demo`); of the
# filter it links only the config parser `afterlog doctor` uses.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    FLB_WAMRC="$FLB_WAMRC" scripts/build-filter \
    && cargo build --release --locked -p afterlog --no-default-features \
    && mkdir -p /out/filter \
    && cp target/release/afterlog /out/ \
    && cp target/wasm32-wasip1/release/afterlog_filter.wasm /out/filter/ \
    && if [ -e target/wasm32-wasip1/release/afterlog_filter.aot ]; then \
         cp target/wasm32-wasip1/release/afterlog_filter.aot /out/filter/; fi

FROM debian:bookworm-slim
# Not pinned: the CA roots must be the current ones of bookworm's security
# updates, and a pinned version disappears from the mirror once superseded,
# which would break every later build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/afterlog /usr/local/bin/afterlog
COPY --from=build /out/filter/ /usr/share/afterlog/
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["afterlog"]
CMD ["--help"]
