# syntax=docker/dockerfile:1
# lad: `lad` (file mode, service mode) and `lad-aggregator` in one small runtime image.
#
#   docker build -t lad:local .
#   docker run --rm -v "$PWD/samples:/data:ro" lad:local detect /data/BGL_2k.log --format bgl --output -
#   docker compose up -d          # MongoDB + lad run + lad-aggregator, see docker-compose.yml
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

# --- build ----------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Registry and target directory are cache mounts: a rebuild after a source change only
# recompiles lad. Debug info is off here (the release profile keeps it for profiling).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_DEBUG=0 \
    cargo build --release --locked --workspace --bin lad --bin lad-aggregator \
 && install -D -m 0755 -t /out target/release/lad target/release/lad-aggregator

# --- runtime --------------------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: TLS to MongoDB (MG_TLS / MG_CA_CERT); curl: the compose health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 lad \
 && useradd --system --uid 10001 --gid lad --home-dir /var/lib/lad --shell /usr/sbin/nologin lad \
 && install -d -o lad -g lad -m 0750 /var/lib/lad /var/lib/lad/models \
 && install -d -m 0755 /etc/lad
COPY --from=builder /out/lad /out/lad-aggregator /usr/local/bin/
# MODEL_BASE_DIR "models/" (the example config) resolves to /var/lib/lad/models.
WORKDIR /var/lib/lad
USER lad
VOLUME ["/var/lib/lad/models"]
# Metrics and /healthz of `lad run` (LAD_LISTEN / METRICS_LISTEN).
EXPOSE 9184
STOPSIGNAL SIGTERM
ENTRYPOINT ["lad"]
CMD ["--help"]
