# syntax=docker/dockerfile:1
#
# certgate container image: a static-ish Rust binary on distroless (glibc + CA certificates,
# no shell, no package manager), running as uid/gid 65532.
#
#   docker build -t certgate:0.1.0 .
#   docker run --rm certgate:0.1.0            # prints --help
#   docker run --rm certgate:0.1.0 demo --self-test
#
# The pod spec passes `run --server-cert=... --trust=...` as container args (see
# deploy/base/deployment.yaml and docs/kubernetes.md). certgate writes nothing to disk, so the
# image runs with readOnlyRootFilesystem: true.
#
# The builder MUST stay on Debian 12 (bookworm): the binary links against the builder's glibc,
# and the runtime image is distroless/cc-debian12 (glibc 2.36). A newer builder (trixie) would
# produce a binary that needs a newer glibc than the runtime image has.

ARG RUST_VERSION=1.95

# ---------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src

# 1. Dependencies only, so that this layer is reused until Cargo.toml/Cargo.lock change.
#    A stub lib.rs/main.rs stands in for the real sources. aws-lc-sys (rustls' crypto) compiles
#    C code with the image's gcc; no cmake, clang or Go is needed for this target.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# 2. The real sources. COPY keeps the files' original mtimes, which can be older than the stub
#    build above; touch them so cargo rebuilds the certgate crate itself.
COPY src ./src
RUN touch src/lib.rs src/main.rs \
 && cargo build --release --locked \
 && ./target/release/certgate --version

# ---------------------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="certgate" \
      org.opencontainers.image.description="A mutual-TLS sidecar: verifies client certificates, authorises per route, injects verified identity headers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=builder /src/target/release/certgate /usr/local/bin/certgate

# nonroot:nonroot, written numerically so that the kubelet can enforce runAsNonRoot without
# looking the name up (the pod spec sets runAsUser: 65532 as well).
USER 65532:65532

# 8443: TLS listener (--listen). 9901: plain-HTTP admin server (--admin-listen):
# /healthz, /readyz, /metrics. Never expose 9901 through a Service.
EXPOSE 8443 9901

# No HEALTHCHECK: distroless has no shell or curl to run one. Kubernetes probes the admin
# server's /healthz and /readyz with httpGet instead.
ENTRYPOINT ["/usr/local/bin/certgate"]
CMD ["--help"]
